//! A small tokio driver for the sans-IO `ClientSession`: connect, publish or play. Besides
//! its async methods, a player is a `futures::Stream` of the server's events and a publisher a
//! `futures::Sink` of media messages.

use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes, BytesMut};
use futures::{Sink, Stream};
use onair_amf::amf0::Amf0Value;
use onair_rtmp_proto::{ClientEvent, ClientSession, ClientSessionConfig, OnStatusCode};
use rand::RngCore;
use tokio::io::AsyncWrite;
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

/// What a publishing [`RtmpClient`] sends through its [`Sink`] implementation.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum MediaMessage {
    /// `@setDataFrame onMetaData` with these properties.
    Metadata(Vec<(String, Amf0Value)>),
    /// One FLV video tag body.
    Video {
        /// Media time in ms; it wraps to the 32-bit RTMP timestamp.
        timestamp_ms: u64,
        /// The tag body.
        data: Bytes,
    },
    /// One FLV audio tag body.
    Audio {
        /// Media time in ms; it wraps to the 32-bit RTMP timestamp.
        timestamp_ms: u64,
        /// The tag body.
        data: Bytes,
    },
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
///
/// A publisher is also a [`Sink`] of [`MediaMessage`]s (closing it ends the publication and
/// the connection), and a player a [`Stream`] of the server's events, which ends when the
/// server closes the connection:
///
/// ```no_run
/// # async fn demo() -> Result<(), onair::rtmp::ClientError> {
/// use futures::{SinkExt, StreamExt};
/// use onair::rtmp::{MediaMessage, RtmpClient};
/// use onair::rtmp_proto::ClientEvent;
///
/// let url = "rtmp://127.0.0.1:1935/live";
/// let mut publisher = RtmpClient::connect("127.0.0.1:1935", "live", url).await?;
/// publisher.publish("KEY").await?;
/// let mut player = RtmpClient::connect("127.0.0.1:1935", "live", url).await?;
/// player.play("KEY").await?;
///
/// let data = bytes::Bytes::from_static(&[0x17, 0x01, 0, 0, 0]);
/// publisher.send(MediaMessage::Video { timestamp_ms: 0, data }).await?;
/// publisher.close().await?; // the Sink's close: FCUnpublish, deleteStream, shutdown
///
/// let mut video = 0;
/// while let Some(event) = player.next().await {
///     match event? {
///         ClientEvent::Video { .. } => video += 1,
///         ClientEvent::StreamEnded => break,
///         _ => {}
///     }
/// }
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct RtmpClient {
    socket: TcpStream,
    session: ClientSession,
    /// Bytes the session produced, not yet written to the socket.
    out: BytesMut,
    events: VecDeque<ClientEvent>,
    timeout: Duration,
    /// The event stream ended (the server closed the connection, or an error).
    ended: bool,
    /// `close_stream` was sent by the Sink's close.
    stream_closed: bool,
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
            ended: false,
            stream_closed: false,
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
        std::future::poll_fn(|cx| self.poll_flush_all(cx)).await
    }

    /// The next event from the server (media and status while playing).
    pub async fn next_event(&mut self) -> Result<ClientEvent, ClientError> {
        std::future::poll_fn(|cx| self.poll_next_event(cx)).await
    }

    /// Ends publishing (FCUnpublish + deleteStream) or playing (deleteStream), flushes and
    /// closes the socket: the [`Sink`]'s close.
    pub async fn close(mut self) -> Result<(), ClientError> {
        futures::SinkExt::close(&mut self).await
    }

    async fn flush_if_full(&mut self) -> Result<(), ClientError> {
        self.session.poll_transmit(&mut self.out);
        if self.out.len() >= FLUSH_AT {
            self.flush().await?;
        }
        Ok(())
    }

    /// Writes what the session queued; ready once all of it is in the socket.
    fn poll_write_out(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), ClientError>> {
        self.session.poll_transmit(&mut self.out);
        while !self.out.is_empty() {
            let n = ready!(Pin::new(&mut self.socket).poll_write(cx, &self.out))?;
            if n == 0 {
                return Poll::Ready(Err(io::Error::from(io::ErrorKind::WriteZero).into()));
            }
            self.out.advance(n);
        }
        Poll::Ready(Ok(()))
    }

    /// Writes everything queued; what arrived meanwhile may call for an answer (handshake,
    /// acks, pings), which is written too.
    fn poll_flush_all(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), ClientError>> {
        loop {
            ready!(self.poll_write_out(cx))?;
            if !self.read_available()? {
                return Poll::Ready(Ok(()));
            }
        }
    }

    /// The next event, reading from the socket as needed.
    fn poll_next_event(&mut self, cx: &mut Context<'_>) -> Poll<Result<ClientEvent, ClientError>> {
        loop {
            if let Some(e) = self.events.pop_front() {
                return Poll::Ready(Ok(e));
            }
            ready!(self.poll_flush_all(cx))?;
            if self.events.is_empty() {
                ready!(self.poll_read(cx))?;
            }
        }
    }

    /// Reads once from the socket, straight into the session's input buffer.
    fn poll_read(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), ClientError>> {
        loop {
            ready!(self.socket.poll_read_ready(cx))?;
            let input = self.session.input_buffer();
            input.reserve(READ_CHUNK);
            match self.socket.try_read_buf(input) {
                Ok(0) => return Poll::Ready(Err(ClientError::Closed)),
                Ok(_) => return Poll::Ready(self.handle_input()),
                // Readiness was stale; polling again registers for the next.
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Poll::Ready(Err(e.into())),
            }
        }
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
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(got),
                Err(e) => return Err(e.into()),
            }
        }
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
            let left = deadline.saturating_duration_since(Instant::now());
            let event = match tokio::time::timeout(left, self.next_event()).await {
                Ok(event) => event?,
                Err(_) => return Err(ClientError::Timeout),
            };
            if done(&event) {
                return Ok(());
            }
            if let ClientEvent::Rejected { code, description } = event {
                return Err(ClientError::Rejected { code, description });
            }
        }
    }
}

/// The server's events while playing (media, metadata, status). A connection the server
/// closes ends the stream; another error is the stream's last item.
impl Stream for RtmpClient {
    type Item = Result<ClientEvent, ClientError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.ended {
            return Poll::Ready(None);
        }
        match ready!(this.poll_next_event(cx)) {
            Ok(event) => Poll::Ready(Some(Ok(event))),
            Err(ClientError::Closed) => {
                this.ended = true;
                Poll::Ready(None)
            }
            Err(e) => {
                this.ended = true;
                Poll::Ready(Some(Err(e)))
            }
        }
    }
}

/// Media for a publisher, batched like the `send_*` methods: `poll_ready` writes once
/// 64 KiB are waiting, `poll_flush` writes everything, `poll_close` ends the publication
/// (FCUnpublish, deleteStream) and shuts the connection down.
impl Sink<MediaMessage> for RtmpClient {
    type Error = ClientError;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), ClientError>> {
        let this = self.get_mut();
        this.session.poll_transmit(&mut this.out);
        if this.out.len() >= FLUSH_AT {
            ready!(this.poll_flush_all(cx))?;
        }
        Poll::Ready(Ok(()))
    }

    fn start_send(self: Pin<&mut Self>, message: MediaMessage) -> Result<(), ClientError> {
        let session = &mut self.get_mut().session;
        match message {
            MediaMessage::Metadata(props) => session.send_metadata(&props)?,
            MediaMessage::Video { timestamp_ms, data } => {
                session.send_video(timestamp_ms, &data)?
            }
            MediaMessage::Audio { timestamp_ms, data } => {
                session.send_audio(timestamp_ms, &data)?
            }
        }
        Ok(())
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), ClientError>> {
        self.get_mut().poll_flush_all(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), ClientError>> {
        let this = self.get_mut();
        if !this.stream_closed {
            this.stream_closed = true;
            this.session.close_stream()?;
        }
        ready!(this.poll_flush_all(cx))?;
        Poll::Ready(ready!(Pin::new(&mut this.socket).poll_shutdown(cx)).map_err(Into::into))
    }
}

#[cfg(test)]
mod tests {
    use futures::{SinkExt, StreamExt};

    use super::*;
    use crate::rtmp::{AcceptAll, RtmpServer, RtmpServerConfig};

    fn media(n: u64) -> MediaMessage {
        let data = Bytes::from(vec![0x27, 0x01, 0, 0, 0, n as u8]);
        if n % 2 == 0 {
            MediaMessage::Video {
                timestamp_ms: n * 20,
                data,
            }
        } else {
            MediaMessage::Audio {
                timestamp_ms: n * 20,
                data: Bytes::from(vec![0xaf, 0x01, n as u8]),
            }
        }
    }

    /// A publisher fed as a `Sink` reaches a player read as a `Stream`, in order; the
    /// player's stream ends when the server goes away.
    #[tokio::test]
    async fn sink_publisher_reaches_stream_player() {
        let server = RtmpServer::bind("127.0.0.1:0", RtmpServerConfig::default(), AcceptAll)
            .await
            .expect("bind");
        let addr = server.local_addr().expect("addr");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(server.run_until(async move {
            let _ = stopped.await;
        }));
        let url = format!("rtmp://{addr}/live");

        let mut player = RtmpClient::connect(addr, "live", &url)
            .await
            .expect("player");
        player.play("sink").await.expect("play");
        let mut publisher = RtmpClient::connect(addr, "live", &url)
            .await
            .expect("publisher");
        publisher.publish("sink").await.expect("publish");
        let metadata = MediaMessage::Metadata(vec![("width".to_owned(), 320.0.into())]);
        let messages = std::iter::once(metadata).chain((0..50).map(media));
        publisher
            .send_all(&mut futures::stream::iter(messages.map(Ok)))
            .await
            .expect("send_all");
        SinkExt::close(&mut publisher).await.expect("close");

        let mut got = Vec::new();
        while let Some(event) = player.next().await {
            match event.expect("event") {
                ClientEvent::StreamEnded => break,
                ClientEvent::Metadata { metadata } => assert_eq!(metadata.width, Some(320.0)),
                ClientEvent::Video { timestamp_ms, data } => {
                    got.push(MediaMessage::Video { timestamp_ms, data })
                }
                ClientEvent::Audio { timestamp_ms, data } => {
                    got.push(MediaMessage::Audio { timestamp_ms, data })
                }
                _ => {}
            }
        }
        assert_eq!(got, (0..50).map(media).collect::<Vec<_>>());

        stop.send(()).expect("stop");
        task.await.expect("join").expect("server");
        let rest: Vec<_> = player.collect().await;
        assert!(
            rest.iter().all(|e| e.is_ok()),
            "a closed connection ends the stream without an error: {rest:?}"
        );
    }
}
