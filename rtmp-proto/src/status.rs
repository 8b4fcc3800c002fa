//! Status objects: the `{level, code, description}` information an `onStatus`, `_result` or
//! `_error` carries (RTMP 1.0 §7.2.1.1, §7.2.2). The codes are Flash Media Server's, as
//! nginx-rtmp, SRS, ffmpeg and librtmp use them.

use std::fmt;

use onair_amf::amf0::Amf0Value;

/// The `level` of a status object.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StatusLevel {
    /// `status`: something happened as asked.
    Status,
    /// `warning`: something to know, the stream goes on.
    Warning,
    /// `error`: the request failed.
    Error,
    /// A level this crate has no name for, kept as received.
    Other(String),
}

impl StatusLevel {
    /// The level as sent on the wire.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Status => "status",
            Self::Warning => "warning",
            Self::Error => "error",
            Self::Other(level) => level,
        }
    }
}

impl From<&str> for StatusLevel {
    fn from(level: &str) -> Self {
        match level {
            "status" => Self::Status,
            "warning" => Self::Warning,
            "error" => Self::Error,
            other => Self::Other(other.to_owned()),
        }
    }
}

impl fmt::Display for StatusLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Defines [`OnStatusCode`] from one table: variant, code on the wire, level it is sent with.
macro_rules! status_codes {
    ($($(#[$doc:meta])* $variant:ident = $code:literal, $level:ident;)*) => {
        /// The `code` of a status object. Codes this crate has no name for are kept as
        /// [`OnStatusCode::Other`]: peers send codes of their own.
        ///
        /// ```
        /// use onair_rtmp_proto::{OnStatusCode, StatusLevel};
        /// let code = OnStatusCode::from("NetStream.Publish.BadName");
        /// assert_eq!(code, OnStatusCode::NetStreamPublishBadName);
        /// assert_eq!(code.level(), Some(StatusLevel::Error));
        /// assert_eq!(OnStatusCode::from("Vendor.Thing").as_str(), "Vendor.Thing");
        /// ```
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum OnStatusCode {
            $($(#[$doc])* $variant,)*
            /// A code this crate has no name for, kept as received.
            Other(String),
        }

        impl OnStatusCode {
            /// The code as sent on the wire.
            pub fn as_str(&self) -> &str {
                match self {
                    $(Self::$variant => $code,)*
                    Self::Other(code) => code,
                }
            }

            /// The level this code is sent with; `None` for [`OnStatusCode::Other`].
            pub fn level(&self) -> Option<StatusLevel> {
                match self {
                    $(Self::$variant => Some(StatusLevel::$level),)*
                    Self::Other(_) => None,
                }
            }

            fn known(code: &str) -> Option<Self> {
                match code {
                    $($code => Some(Self::$variant),)*
                    _ => None,
                }
            }
        }
    };
}

status_codes! {
    /// `NetConnection.Call.Failed`: a command could not be run.
    NetConnectionCallFailed = "NetConnection.Call.Failed", Error;
    /// `NetConnection.Connect.Success`: `connect` was accepted.
    NetConnectionConnectSuccess = "NetConnection.Connect.Success", Status;
    /// `NetConnection.Connect.Rejected`: `connect` was refused.
    NetConnectionConnectRejected = "NetConnection.Connect.Rejected", Error;
    /// `NetConnection.Connect.Closed`: the connection was closed.
    NetConnectionConnectClosed = "NetConnection.Connect.Closed", Status;
    /// `NetConnection.Connect.Failed`: the connection attempt failed.
    NetConnectionConnectFailed = "NetConnection.Connect.Failed", Error;
    /// `NetConnection.Connect.InvalidApp`: the application name is unknown.
    NetConnectionConnectInvalidApp = "NetConnection.Connect.InvalidApp", Error;
    /// `NetStream.Publish.Start`: publishing started.
    NetStreamPublishStart = "NetStream.Publish.Start", Status;
    /// `NetStream.Publish.BadName`: the name is invalid, refused or already published.
    NetStreamPublishBadName = "NetStream.Publish.BadName", Error;
    /// `NetStream.Publish.BadConnection`: the stream can't publish now.
    NetStreamPublishBadConnection = "NetStream.Publish.BadConnection", Error;
    /// `NetStream.Publish.Idle`: the publisher has been idle too long.
    NetStreamPublishIdle = "NetStream.Publish.Idle", Status;
    /// `NetStream.Unpublish.Success`: publishing stopped.
    NetStreamUnpublishSuccess = "NetStream.Unpublish.Success", Status;
    /// `NetStream.Play.Start`: playing started.
    NetStreamPlayStart = "NetStream.Play.Start", Status;
    /// `NetStream.Play.Reset`: the playlist was reset.
    NetStreamPlayReset = "NetStream.Play.Reset", Status;
    /// `NetStream.Play.Stop`: playing stopped.
    NetStreamPlayStop = "NetStream.Play.Stop", Status;
    /// `NetStream.Play.Failed`: playing failed for another reason than the name.
    NetStreamPlayFailed = "NetStream.Play.Failed", Error;
    /// `NetStream.Play.StreamNotFound`: nothing to play under that name.
    NetStreamPlayStreamNotFound = "NetStream.Play.StreamNotFound", Error;
    /// `NetStream.Play.PublishNotify`: the played stream is published (again).
    NetStreamPlayPublishNotify = "NetStream.Play.PublishNotify", Status;
    /// `NetStream.Play.UnpublishNotify`: the played stream's publisher left.
    NetStreamPlayUnpublishNotify = "NetStream.Play.UnpublishNotify", Status;
    /// `NetStream.Play.Complete`: a recorded stream played to its end.
    NetStreamPlayComplete = "NetStream.Play.Complete", Status;
    /// `NetStream.Play.InsufficientBW`: the client can't receive fast enough.
    NetStreamPlayInsufficientBw = "NetStream.Play.InsufficientBW", Warning;
    /// `NetStream.Data.Start`: data messages follow.
    NetStreamDataStart = "NetStream.Data.Start", Status;
    /// `NetStream.Record.Start`: the server records the stream.
    NetStreamRecordStart = "NetStream.Record.Start", Status;
    /// `NetStream.Record.Stop`: the server stopped recording.
    NetStreamRecordStop = "NetStream.Record.Stop", Status;
    /// `NetStream.Pause.Notify`: the stream is paused.
    NetStreamPauseNotify = "NetStream.Pause.Notify", Status;
    /// `NetStream.Unpause.Notify`: the stream resumed.
    NetStreamUnpauseNotify = "NetStream.Unpause.Notify", Status;
    /// `NetStream.Seek.Notify`: a seek succeeded.
    NetStreamSeekNotify = "NetStream.Seek.Notify", Status;
}

impl From<&str> for OnStatusCode {
    fn from(code: &str) -> Self {
        Self::known(code).unwrap_or_else(|| Self::Other(code.to_owned()))
    }
}

impl fmt::Display for OnStatusCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A status object: what an `onStatus` reports, or the information of a `_result`/`_error`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Status {
    /// How it went.
    pub level: StatusLevel,
    /// What happened.
    pub code: OnStatusCode,
    /// Free text for people.
    pub description: String,
}

impl Status {
    /// A status with the level its code is sent with ([`StatusLevel::Status`] for codes this
    /// crate has no name for).
    pub fn new(code: OnStatusCode, description: impl Into<String>) -> Self {
        Self {
            level: code.level().unwrap_or(StatusLevel::Status),
            code,
            description: description.into(),
        }
    }

    /// `level`, `code`, `description` as object properties, in that order.
    pub fn properties(&self) -> Vec<(String, Amf0Value)> {
        vec![
            ("level".to_owned(), self.level.as_str().into()),
            ("code".to_owned(), self.code.as_str().into()),
            ("description".to_owned(), self.description.as_str().into()),
        ]
    }

    /// The status as an AMF0 object.
    pub fn to_amf0(&self) -> Amf0Value {
        Amf0Value::Object(self.properties())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_unknown_codes_are_kept() {
        for text in [
            "NetConnection.Connect.Success",
            "NetStream.Play.UnpublishNotify",
            "NetStream.Play.InsufficientBW",
            "Vendor.Custom.Code",
            "",
        ] {
            assert_eq!(OnStatusCode::from(text).as_str(), text);
        }
        assert_eq!(
            OnStatusCode::from("NetStream.Play.Start"),
            OnStatusCode::NetStreamPlayStart
        );
        assert_eq!(
            OnStatusCode::from("netstream.play.start"),
            OnStatusCode::Other("netstream.play.start".to_owned()),
            "codes are case-sensitive"
        );
        assert_eq!(OnStatusCode::from("Vendor.X").level(), None);
        assert_eq!(StatusLevel::from("fatal").as_str(), "fatal");
    }

    #[test]
    fn levels_are_the_ones_servers_send() {
        let level = |code: OnStatusCode| code.level();
        assert_eq!(
            level(OnStatusCode::NetStreamPlayStreamNotFound),
            Some(StatusLevel::Error)
        );
        assert_eq!(
            level(OnStatusCode::NetStreamPlayInsufficientBw),
            Some(StatusLevel::Warning)
        );
        assert_eq!(
            level(OnStatusCode::NetStreamUnpublishSuccess),
            Some(StatusLevel::Status)
        );
        let status = Status::new(OnStatusCode::Other("X.Y".to_owned()), "d");
        assert_eq!(status.level, StatusLevel::Status);
    }

    #[test]
    fn status_object_has_level_code_description_in_order() {
        let status = Status::new(OnStatusCode::NetStreamPublishBadName, "taken");
        assert_eq!(
            status.to_amf0(),
            Amf0Value::Object(vec![
                ("level".to_owned(), Amf0Value::String("error".to_owned())),
                (
                    "code".to_owned(),
                    Amf0Value::String("NetStream.Publish.BadName".to_owned())
                ),
                (
                    "description".to_owned(),
                    Amf0Value::String("taken".to_owned())
                ),
            ])
        );
    }
}
