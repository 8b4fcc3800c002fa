//! A small tokio driver for the sans-IO `ClientSession`: connect, publish or play.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use onair_amf::amf0::Amf0Value;
use onair_rtmp_proto::{ClientEvent, ClientSession, ClientSessionConfig, OnStatusCode};
use rand::RngCore;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, ToSocketAddrs};

/// Writes are batched up to this many bytes before going to the socket.
const FLUSH_AT: usize = 64 * 1024;
/// Room reserved in the session's input buffer before each read (the most one read takes in).
const READ_CHUNK: usize = 16 * 1024;

/// Why a client operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// Socket error.
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    /// The session failed (malformed input, wrong state...).
    #[error("rtmp session error: {0}")]
    Session(#[from] onair_rtmp_proto::Error),
    /// The server refused the request.
    #[error("rejected by the server: {code}: {description}")]
    Rejected {
        /// The onStatus / _error code, e.g. `NetStream.Publish.BadName`.
        code: OnStatusCode,
        /// The server's description.
        description: String,
    },
    /// The server closed the connection.
    #[error("connection closed by the server")]
    Closed,
    /// No answer in time.
    #[error("timed out waiting for the server")]
    Timeout,
}

/// An RTMP client connection (publisher or player).
///
/// ```no_run
/// # async fn demo() -> Result<(), onair::rtmp::ClientError> {
/// use onair::rtmp::RtmpClient;
/// let mut client =
///     RtmpClient::connect("127.0.0.1:1935", "live", "rtmp://127.0.0.1:1935/live").await?;
/// client.publish("KEY").await?;
/// client.send_video(0, &[0x17, 0x00, 0, 0, 0]).await?;
/// client.close().await?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct RtmpClient {
    socket: TcpStream,
    session: ClientSession,
    out: BytesMut,
    events: VecDeque<ClientEvent>,
    timeout: Duration,
}

impl RtmpClient {
    /// Connects, handshakes and sends `connect(app)`; returns once the server accepted it.
    pub async fn connect(
        addr: impl ToSocketAddrs,
        app: &str,
        tc_url: &str,
    ) -> Result<Self, ClientError> {
        let socket = TcpStream::connect(addr).await?;
        Self::connect_over(socket, app, tc_url).await
    }

    /// Like [`RtmpClient::connect`] over a socket the caller connected (and tuned).
    pub async fn connect_over(
        socket: TcpStream,
        app: &str,
        tc_url: &str,
    ) -> Result<Self, ClientError> {
        let _ = socket.set_nodelay(true);
        let mut random = [0u8; 1528];
        rand::thread_rng().fill_bytes(&mut random);
        let epoch = 0;
        let mut session = ClientSession::new(ClientSessionConfig::default(), epoch, &random);
        session.connect(app, tc_url)?;
        let mut client = Self {
            socket,
            session,
            out: BytesMut::with_capacity(FLUSH_AT * 2),
            events: VecDeque::new(),
            timeout: Duration::from_secs(10),
        };
        client
            .wait_for(|e| matches!(e, ClientEvent::Connected))
            .await?;
        Ok(client)
    }

    /// Publishes under `key` (may carry `?query`); returns once the server started it.
    pub async fn publish(&mut self, key: &str) -> Result<(), ClientError> {
        self.session.publish(key)?;
        self.wait_for(|e| matches!(e, ClientEvent::PublishStarted { .. }))
            .await
    }

    /// Plays `name`; returns once the server started it. Media then comes from
    /// [`RtmpClient::next_event`].
    pub async fn play(&mut self, name: &str) -> Result<(), ClientError> {
        self.session.play(name)?;
        self.wait_for(|e| matches!(e, ClientEvent::PlayStarted { .. }))
            .await
    }

    /// Sends `@setDataFrame onMetaData`.
    pub async fn send_metadata(
        &mut self,
        props: &[(String, Amf0Value)],
    ) -> Result<(), ClientError> {
        self.session.send_metadata(props)?;
        self.flush_if_full().await
    }

    /// Sends one FLV video tag body.
    pub async fn send_video(
        &mut self,
        timestamp_ms: u64,
        tag_body: &[u8],
    ) -> Result<(), ClientError> {
        self.session.send_video(timestamp_ms, tag_body)?;
        self.flush_if_full().await
    }

    /// Sends one FLV audio tag body.
    pub async fn send_audio(
        &mut self,
        timestamp_ms: u64,
        tag_body: &[u8],
    ) -> Result<(), ClientError> {
        self.session.send_audio(timestamp_ms, tag_body)?;
        self.flush_if_full().await
    }

    /// Writes everything queued to the socket.
    pub async fn flush(&mut self) -> Result<(), ClientError> {
        loop {
            self.session.poll_transmit(&mut self.out);
            if !self.out.is_empty() {
                self.socket.write_all(&self.out).await?;
                self.out.clear();
            }
            // What arrived meanwhile may call for an answer (handshake, acks, pings).
            if !self.read_available()? {
                return Ok(());
            }
        }
    }

    /// The next event from the server (media and status while playing).
    pub async fn next_event(&mut self) -> Result<ClientEvent, ClientError> {
        loop {
            if let Some(e) = self.events.pop_front() {
                return Ok(e);
            }
            self.flush().await?;
            if self.events.is_empty() {
                self.read_once().await?;
            }
        }
    }

    /// Ends publishing (FCUnpublish + deleteStream), flushes and closes the socket.
    pub async fn close(mut self) -> Result<(), ClientError> {
        self.session.close_stream()?;
        self.flush().await?;
        self.socket.shutdown().await?;
        Ok(())
    }

    async fn flush_if_full(&mut self) -> Result<(), ClientError> {
        self.session.poll_transmit(&mut self.out);
        if self.out.len() >= FLUSH_AT {
            self.flush().await?;
        }
        Ok(())
    }

    /// Reads what has already arrived without waiting, so acknowledgements and pings are
    /// answered while publishing.
    /// Returns whether anything was read.
    fn read_available(&mut self) -> Result<bool, ClientError> {
        let mut got = false;
        loop {
            let input = self.session.input_buffer();
            input.reserve(READ_CHUNK);
            match self.socket.try_read_buf(input) {
                Ok(0) => return Err(ClientError::Closed),
                Ok(_) => {
                    got = true;
                    self.handle_input()?;
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Ok(got),
                Err(e) => return Err(e.into()),
            }
        }
    }

    async fn read_once(&mut self) -> Result<(), ClientError> {
        let input = self.session.input_buffer();
        input.reserve(READ_CHUNK);
        let n = self.socket.read_buf(input).await?;
        if n == 0 {
            return Err(ClientError::Closed);
        }
        self.handle_input()
    }

    /// Processes what was read into the session's input buffer and queues its events.
    fn handle_input(&mut self) -> Result<(), ClientError> {
        let result = self.session.process_input();
        while let Some(e) = self.session.poll_event() {
            self.events.push_back(e);
        }
        result.map_err(ClientError::from)
    }

    async fn wait_for(&mut self, done: impl Fn(&ClientEvent) -> bool) -> Result<(), ClientError> {
        let deadline = Instant::now() + self.timeout;
        loop {
            while let Some(e) = self.events.pop_front() {
                if done(&e) {
                    return Ok(());
                }
                if let ClientEvent::Rejected { code, description } = e {
                    return Err(ClientError::Rejected { code, description });
                }
            }
            self.flush().await?;
            if !self.events.is_empty() {
                continue;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, self.read_once()).await {
                Ok(r) => r?,
                Err(_) => return Err(ClientError::Timeout),
            }
        }
    }
}
