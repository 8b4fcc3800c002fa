//! HTTP hooks: a JSON POST to the operator's service per publish, publish end or play, with
//! a deadline; what the service answers decides.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http_body_util::{BodyExt, Full};
use hyper::header::{HeaderValue, CONNECTION, CONTENT_TYPE, HOST, USER_AGENT};
use hyper::{Method, Request, Uri};
use hyper_util::rt::TokioIo;
use onair_rtmp_proto::NameError;
use serde::{Deserialize, Serialize};
use tokio::net::TcpStream;

/// The most of an answer read; a larger one fails the call.
const MAX_ANSWER: usize = 64 * 1024;

/// The default deadline of a hook call.
pub const DEFAULT_HOOK_TIMEOUT: Duration = Duration::from_secs(3);

/// An HTTP endpoint called with a JSON POST, within a deadline (connecting, sending and
/// reading the answer together). `http://` only: run the service beside the server, or
/// behind a local proxy for TLS.
#[derive(Clone)]
pub struct HttpHook {
    host: String,
    port: u16,
    /// The `Host` header.
    authority: HeaderValue,
    /// Path and query, the request target.
    target: Uri,
    timeout: Duration,
}

impl std::fmt::Debug for HttpHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpHook")
            .field("url", &self.to_string())
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// The URL without its query string (which may carry the service's own secret).
impl std::fmt::Display for HttpHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let authority = self.authority.to_str().unwrap_or("?");
        write!(f, "http://{authority}{}", self.target.path())
    }
}

/// Why a hook URL cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HookUrlError {
    /// Not a URL.
    #[error("invalid hook URL: {0}")]
    Invalid(#[from] hyper::http::uri::InvalidUri),
    /// Not `http://`.
    #[error("hook URLs must start with http://")]
    Scheme,
    /// No host in it.
    #[error("the hook URL has no host")]
    NoHost,
}

/// Why a hook call failed; a publish or play hook that fails refuses (fails closed).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HookError {
    /// No complete answer within the deadline.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// The service could not be reached.
    #[error("cannot connect: {0}")]
    Connect(std::io::Error),
    /// The HTTP exchange failed.
    #[error("HTTP: {0}")]
    Http(#[from] hyper::Error),
    /// The service answered with a status other than 2xx.
    #[error("answered {0}")]
    Status(u16),
    /// The answer's body is larger than 64 KiB.
    #[error("answer larger than {max} bytes")]
    AnswerTooLarge {
        /// The limit.
        max: usize,
    },
    /// The answer's body is neither empty nor a JSON object of the expected fields.
    #[error("answer is not a JSON object of the expected fields: {0}")]
    Answer(String),
    /// The answer names the stream with a name that breaks the name rules.
    #[error("answer has an invalid name: {0}")]
    Name(NameError),
    /// The answer's ladder cannot be read.
    #[cfg(feature = "transcode")]
    #[error("answer has an invalid ladder: {0}")]
    Ladder(onair_transcode::LadderError),
    /// The answer sets a ladder other than `off`, in a build without transcoding.
    #[error("answer sets a ladder, which needs the `transcode` feature")]
    NoTranscoding,
}

impl HttpHook {
    /// A hook POSTing to `url` (`http://host[:port]/path[?query]`) with the default deadline
    /// of 3 s.
    pub fn new(url: &str) -> Result<Self, HookUrlError> {
        let uri: Uri = url.parse()?;
        if uri.scheme_str() != Some("http") {
            return Err(HookUrlError::Scheme);
        }
        let authority = uri.authority().ok_or(HookUrlError::NoHost)?;
        let host = authority.host();
        if host.is_empty() {
            return Err(HookUrlError::NoHost);
        }
        // `[::1]` is how a URL writes an IPv6 address; resolving wants it bare
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let port = authority.port_u16().unwrap_or(80);
        let authority =
            HeaderValue::from_str(authority.as_str()).map_err(|_| HookUrlError::NoHost)?;
        let target: Uri = uri.path_and_query().map_or("/", |p| p.as_str()).parse()?;
        Ok(Self {
            host,
            port,
            authority,
            target,
            timeout: DEFAULT_HOOK_TIMEOUT,
        })
    }

    /// With this deadline.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The deadline of a call.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// POSTs `body` as JSON; the answer's body if the status is 2xx.
    pub(crate) async fn post(&self, body: &impl Serialize) -> Result<Bytes, HookError> {
        let body = serde_json::to_vec(body).map_err(|e| HookError::Answer(e.to_string()))?;
        tokio::time::timeout(self.timeout, self.exchange(body))
            .await
            .map_err(|_| HookError::Timeout(self.timeout))?
    }

    async fn exchange(&self, body: Vec<u8>) -> Result<Bytes, HookError> {
        let stream = self.connect().await?;
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        let driver = AbortOnDrop(tokio::spawn(async move {
            let _ = connection.await;
        }));
        let mut request = Request::new(Full::new(Bytes::from(body)));
        *request.method_mut() = Method::POST;
        *request.uri_mut() = self.target.clone();
        let headers = request.headers_mut();
        headers.insert(HOST, self.authority.clone());
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.insert(USER_AGENT, HeaderValue::from_static("onair"));
        headers.insert(CONNECTION, HeaderValue::from_static("close"));
        let response = sender.send_request(request).await?;
        if !response.status().is_success() {
            return Err(HookError::Status(response.status().as_u16()));
        }
        let mut body = response.into_body();
        let mut answer = BytesMut::new();
        while let Some(frame) = body.frame().await {
            if let Ok(data) = frame?.into_data() {
                if answer.len() + data.len() > MAX_ANSWER {
                    return Err(HookError::AnswerTooLarge { max: MAX_ANSWER });
                }
                answer.extend_from_slice(&data);
            }
        }
        drop(driver);
        Ok(answer.freeze())
    }

    async fn connect(&self) -> Result<TcpStream, HookError> {
        let addrs: Vec<SocketAddr> = tokio::net::lookup_host((self.host.as_str(), self.port))
            .await
            .map_err(HookError::Connect)?
            .collect();
        let mut last = std::io::Error::new(std::io::ErrorKind::NotFound, "no address");
        for addr in addrs {
            match TcpStream::connect(addr).await {
                Ok(stream) => {
                    let _ = stream.set_nodelay(true);
                    return Ok(stream);
                }
                Err(e) => last = e,
            }
        }
        Err(HookError::Connect(last))
    }
}

/// Stops the connection's task when the call ends (done, failed or timed out).
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// What the publish hook is sent.
#[derive(Debug, Serialize)]
pub(crate) struct PublishCall<'a> {
    pub(crate) action: &'static str,
    pub(crate) app: &'a str,
    pub(crate) key: &'a str,
    pub(crate) query: Option<&'a str>,
    pub(crate) peer: String,
    pub(crate) publish_type: &'a str,
}

/// What the publish-done hook is sent.
#[derive(Debug, Serialize)]
pub(crate) struct PublishDoneCall<'a> {
    pub(crate) action: &'static str,
    pub(crate) app: &'a str,
    pub(crate) key: &'a str,
    pub(crate) query: Option<&'a str>,
    pub(crate) name: &'a str,
    pub(crate) peer: String,
    pub(crate) duration_ms: u64,
}

/// What the play hook is sent.
#[derive(Debug, Serialize)]
pub(crate) struct PlayCall<'a> {
    pub(crate) action: &'static str,
    pub(crate) app: &'a str,
    pub(crate) name: &'a str,
    pub(crate) query: Option<&'a str>,
    pub(crate) peer: String,
    pub(crate) published: bool,
}

/// What a publish hook may answer (with a 2xx status): both fields optional, others
/// ignored; an empty body is an answer without either.
#[derive(Debug, Default, PartialEq, Deserialize)]
pub(crate) struct PublishAnswer {
    #[serde(default)]
    pub(crate) name: Option<String>,
    #[serde(default)]
    pub(crate) ladder: Option<String>,
}

impl PublishAnswer {
    pub(crate) fn parse(body: &[u8]) -> Result<Self, HookError> {
        let text = std::str::from_utf8(body).map_err(|e| HookError::Answer(e.to_string()))?;
        let text = text.trim();
        if text.is_empty() {
            return Ok(Self::default());
        }
        // serde would read a JSON array into the struct's fields by position
        if !text.starts_with('{') {
            return Err(HookError::Answer("not an object".into()));
        }
        serde_json::from_str(text).map_err(|e| HookError::Answer(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let hook = HttpHook::new("http://127.0.0.1:9000/on_publish?secret=x").unwrap();
        assert_eq!((hook.host.as_str(), hook.port), ("127.0.0.1", 9000));
        assert_eq!(hook.target, "/on_publish?secret=x");
        assert_eq!(hook.to_string(), "http://127.0.0.1:9000/on_publish");
        assert!(!format!("{hook:?}").contains("secret"));
        let hook = HttpHook::new("http://[::1]/").unwrap();
        assert_eq!((hook.host.as_str(), hook.port), ("::1", 80));
        assert!(matches!(
            HttpHook::new("https://example.com/"),
            Err(HookUrlError::Scheme)
        ));
        assert!(matches!(
            HttpHook::new("/on_publish"),
            Err(HookUrlError::Scheme)
        ));
        assert!(HttpHook::new("http://exa mple/").is_err());
    }

    #[test]
    fn publish_answers() {
        assert_eq!(PublishAnswer::parse(b"").unwrap(), PublishAnswer::default());
        assert_eq!(
            PublishAnswer::parse(b" \n").unwrap(),
            PublishAnswer::default()
        );
        assert_eq!(
            PublishAnswer::parse(br#"{"name":"studio","ladder":"off","extra":1}"#).unwrap(),
            PublishAnswer {
                name: Some("studio".into()),
                ladder: Some("off".into()),
            }
        );
        for bad in [&b"OK"[..], b"[\"a\",\"b\"]", b"{\"name\":3}", b"{", b"\xff"] {
            assert!(
                matches!(PublishAnswer::parse(bad), Err(HookError::Answer(_))),
                "{bad:?}"
            );
        }
    }
}
