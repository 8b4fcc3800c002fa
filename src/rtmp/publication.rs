//! What an accepted publisher is published as: its public name and per-stream options, as the
//! application's [`RtmpHandler`](super::RtmpHandler) decided, and as the taps see them.

use onair_rtmp_proto::StreamName;

use super::handler::Rejection;

/// How a handler accepts a publisher: the public name its stream is played under (players,
/// HLS URLs, recordings, metrics and logs only ever see this name, never the key), and the
/// stream's options.
///
/// ```
/// use onair::rtmp::Publication;
/// let publication = Publication::named("studio")?;
/// assert_eq!(publication.name.as_str(), "studio");
/// # Ok::<(), onair::rtmp::Rejection>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Publication {
    /// The public name.
    pub name: StreamName,
    /// Per-stream options (the transcoding ladder, ...).
    pub options: StreamOptions,
}

impl Publication {
    /// Published as `name`, with the defaults of every option.
    pub fn new(name: StreamName) -> Self {
        Self {
            name,
            options: StreamOptions::default(),
        }
    }

    /// Published as `name`, once it passes the name rules of
    /// [`validate_name`](onair_rtmp_proto::validate_name) (else a rejection saying so).
    pub fn named(name: &str) -> Result<Self, Rejection> {
        StreamName::new(name, usize::MAX)
            .map(Self::new)
            .map_err(|_| Rejection::new("invalid stream name"))
    }

    /// Sets the stream's transcoding ladder.
    ///
    /// ```
    /// use onair::rtmp::{Publication, PublishRequest, Rejection, RtmpHandler, StreamLadder};
    ///
    /// struct Studio;
    ///
    /// impl RtmpHandler for Studio {
    ///     async fn on_publish(&self, request: PublishRequest) -> Result<Publication, Rejection> {
    ///         match request.key.as_str() {
    ///             "4f9c2e1b7d0a" => {
    ///                 let ladder: StreamLadder =
    ///                     "source,360p".parse().map_err(|_| Rejection::new("bad ladder"))?;
    ///                 Ok(Publication::named("studio")?.with_ladder(ladder))
    ///             }
    ///             _ => Err(Rejection::new("unknown stream key")),
    ///         }
    ///     }
    /// }
    /// ```
    #[cfg(feature = "transcode")]
    pub fn with_ladder(mut self, ladder: StreamLadder) -> Self {
        self.options.ladder = Some(ladder);
        self
    }

    /// Sets every option at once.
    pub fn with_options(mut self, options: StreamOptions) -> Self {
        self.options = options;
        self
    }
}

/// Options of one published stream, decided when its publisher is accepted. Every field's
/// absence means "as the server is configured".
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct StreamOptions {
    /// The stream's transcoding ladder on the HLS origin; `None`: the origin's own
    /// ([`HlsConfig::ladder`](crate::hls::HlsConfig::ladder)).
    #[cfg(feature = "transcode")]
    pub ladder: Option<StreamLadder>,
}

/// A stream's own transcoding ladder, in place of the origin's.
///
/// Read from text as a keys file and an admission hook write it: `off`, or a ladder
/// (`source,720p,360p`, see [`Ladder`](onair_transcode::Ladder)).
///
/// ```
/// use onair::rtmp::StreamLadder;
/// assert_eq!("off".parse::<StreamLadder>()?, StreamLadder::Off);
/// let ladder: StreamLadder = "source,360p".parse()?;
/// assert_eq!(ladder.to_string(), "source,360p");
/// # Ok::<(), onair::transcode::LadderError>(())
/// ```
#[cfg(feature = "transcode")]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamLadder {
    /// Not transcoded: packaged as published.
    Off,
    /// Transcoded into these renditions (with the origin's encoder settings, or the
    /// defaults of [`LadderConfig`](crate::hls::LadderConfig) when it has no ladder).
    Ladder(onair_transcode::Ladder),
}

#[cfg(feature = "transcode")]
impl std::str::FromStr for StreamLadder {
    type Err = onair_transcode::LadderError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.trim().eq_ignore_ascii_case("off") {
            Ok(Self::Off)
        } else {
            s.parse().map(Self::Ladder)
        }
    }
}

#[cfg(feature = "transcode")]
impl std::fmt::Display for StreamLadder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Off => f.write_str("off"),
            Self::Ladder(ladder) => ladder.fmt(f),
        }
    }
}

/// A stream that started publishing, as a [`StreamTap`](super::StreamTap) is told of it.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct PublishedStream {
    /// The application (`live`).
    pub app: String,
    /// The public name.
    pub name: StreamName,
    /// What the handler decided for this stream.
    pub options: StreamOptions,
}

impl PublishedStream {
    /// `app/name` with the default options.
    pub fn new(app: impl Into<String>, name: StreamName) -> Self {
        Self {
            app: app.into(),
            name,
            options: StreamOptions::default(),
        }
    }

    /// With these options.
    pub fn with_options(mut self, options: StreamOptions) -> Self {
        self.options = options;
        self
    }
}
