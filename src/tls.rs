//! Server certificates for TLS listeners (RTMPS ingest, the HTTPS origin), replaceable while
//! the server runs.
//!
//! A [`ServerTls`] holds the certificate chain and key that every listener built from it
//! presents. [`ServerTls::reload`] reads the files again and swaps them in for the handshakes
//! that follow (connections already open keep theirs); a file that cannot be read or does not
//! match its key leaves the previous certificate in place. Trigger it on SIGHUP, or let
//! [`ServerTls::reload_on_change`] poll the files, as a certificate renewal (ACME) rewrites
//! them.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use std::time::Duration;
//! use onair::tls::ServerTls;
//!
//! let tls = ServerTls::from_files("cert.pem", "key.pem")?;
//! tokio::spawn(tls.clone().reload_on_change(Duration::from_secs(10)));
//! // the same `tls` for RtmpServer::with_rtmps and HttpOrigin::with_server_tls
//! # Ok(()) }
//! ```

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::server::{ClientHello, ResolvesServerCert};
use tokio_rustls::rustls::sign::CertifiedKey;
use tokio_rustls::TlsAcceptor;
use tracing::{info, warn};

/// A certificate or key that could not be used for TLS.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// The PEM text holds no certificate.
    #[error("no certificate in the PEM data")]
    NoCertificate,
    /// The PEM text holds no private key.
    #[error("no private key in the PEM data")]
    NoKey,
    /// PEM could not be read.
    #[error("bad PEM data: {0}")]
    Pem(String),
    /// A certificate or key file could not be read.
    #[error("reading {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
    /// rustls refused the certificate or key (also: the key does not match the certificate).
    #[error("TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
}

/// The certificate that TLS listeners present, shared by all of them and replaceable at run
/// time (see the [module documentation](self)). Cheap to clone.
#[derive(Clone)]
pub struct ServerTls {
    inner: Arc<Inner>,
}

struct Inner {
    /// Where [`ServerTls::reload`] reads from (`None`: made from PEM in memory).
    files: Option<(PathBuf, PathBuf)>,
    current: RwLock<Arc<CertifiedKey>>,
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl std::fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerTls")
            .field("files", &self.inner.files)
            .finish_non_exhaustive()
    }
}

/// Hands every handshake the certificate current at that moment.
#[derive(Debug)]
struct Resolver(Arc<Inner>);

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inner")
            .field("files", &self.files)
            .finish_non_exhaustive()
    }
}

impl ResolvesServerCert for Resolver {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.current())
    }
}

impl Inner {
    fn current(&self) -> Arc<CertifiedKey> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

fn certified_key(
    provider: &rustls::crypto::CryptoProvider,
    cert_chain_pem: &[u8],
    key_pem: &[u8],
) -> Result<CertifiedKey, TlsError> {
    let certs = CertificateDer::pem_slice_iter(cert_chain_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Pem(e.to_string()))?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate);
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| match e {
        rustls::pki_types::pem::Error::NoItemsFound => TlsError::NoKey,
        e => TlsError::Pem(e.to_string()),
    })?;
    Ok(CertifiedKey::from_der(certs, key, provider)?)
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Io {
        path: path.to_owned(),
        source,
    })
}

/// When both files were last modified, to notice a renewal.
fn modified(files: &(PathBuf, PathBuf)) -> Option<(SystemTime, SystemTime)> {
    let m = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    Some((m(&files.0)?, m(&files.1)?))
}

impl ServerTls {
    /// A certificate chain and private key in PEM (`-----BEGIN CERTIFICATE-----` blocks, then
    /// a PKCS#8, PKCS#1 or SEC1 key). It cannot be reloaded: nothing to read again.
    pub fn from_pem(cert_chain_pem: &[u8], key_pem: &[u8]) -> Result<Self, TlsError> {
        Self::make(None, cert_chain_pem, key_pem)
    }

    /// The certificate chain and key in these PEM files, read now and again on
    /// [`reload`](Self::reload).
    pub fn from_files(cert: impl Into<PathBuf>, key: impl Into<PathBuf>) -> Result<Self, TlsError> {
        let files = (cert.into(), key.into());
        let (cert_pem, key_pem) = (read(&files.0)?, read(&files.1)?);
        Self::make(Some(files), &cert_pem, &key_pem)
    }

    fn make(
        files: Option<(PathBuf, PathBuf)>,
        cert_chain_pem: &[u8],
        key_pem: &[u8],
    ) -> Result<Self, TlsError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let key = certified_key(&provider, cert_chain_pem, key_pem)?;
        Ok(Self {
            inner: Arc::new(Inner {
                files,
                current: RwLock::new(Arc::new(key)),
                provider,
            }),
        })
    }

    /// Reads the certificate and key files again; handshakes from now on present the new
    /// certificate. On error the previous one stays. Does nothing for a [`from_pem`]
    /// certificate.
    ///
    /// [`from_pem`]: Self::from_pem
    pub fn reload(&self) -> Result<(), TlsError> {
        let Some(files) = &self.inner.files else {
            return Ok(());
        };
        let (cert_pem, key_pem) = (read(&files.0)?, read(&files.1)?);
        let key = certified_key(&self.inner.provider, &cert_pem, &key_pem)?;
        *self
            .inner
            .current
            .write()
            .unwrap_or_else(|e| e.into_inner()) = Arc::new(key);
        info!(cert = %files.0.display(), "TLS certificate reloaded");
        Ok(())
    }

    /// Checks the files' modification times every `interval` and [`reload`](Self::reload)s
    /// when they changed (a failed reload is logged and tried again at the next change).
    /// Runs until dropped: spawn it.
    pub async fn reload_on_change(self, interval: Duration) {
        let Some(files) = self.inner.files.clone() else {
            return;
        };
        let mut seen = modified(&files);
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            let now = modified(&files);
            if now.is_none() || now == seen {
                continue;
            }
            seen = now;
            if let Err(e) = self.reload() {
                warn!(error = %e, "TLS certificate changed but cannot be used, keeping the previous one");
            }
        }
    }

    /// An acceptor presenting this certificate and offering `alpn` (e.g. `h2`, `http/1.1`;
    /// empty: no ALPN).
    pub(crate) fn acceptor(&self, alpn: &[&[u8]]) -> Result<TlsAcceptor, TlsError> {
        let mut config = rustls::ServerConfig::builder_with_provider(self.inner.provider.clone())
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_cert_resolver(Arc::new(Resolver(self.inner.clone())));
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Ok(TlsAcceptor::from(Arc::new(config)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};

    fn self_signed() -> (rcgen::CertifiedKey<rcgen::KeyPair>, String, String) {
        let c =
            rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("certificate");
        let (cert, key) = (c.cert.pem(), c.signing_key.serialize_pem());
        (c, cert, key)
    }

    /// Connects with a client that trusts only `trusted`; Ok when the handshake succeeds and a
    /// byte comes back.
    async fn handshake(addr: std::net::SocketAddr, trusted: &rcgen::Certificate) -> bool {
        let mut roots = rustls::RootCertStore::empty();
        let Ok(()) = roots.add(trusted.der().clone()) else {
            return false;
        };
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let Ok(builder) = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
        else {
            return false;
        };
        let config = builder.with_root_certificates(roots).with_no_client_auth();
        let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
        let Ok(tcp) = TcpStream::connect(addr).await else {
            return false;
        };
        let Ok(name) = rustls::pki_types::ServerName::try_from("localhost") else {
            return false;
        };
        let Ok(mut tls) = connector.connect(name, tcp).await else {
            return false;
        };
        let mut byte = [0u8; 1];
        tls.write_all(b"x").await.is_ok() && tls.read_exact(&mut byte).await.is_ok()
    }

    #[tokio::test]
    async fn a_reload_swaps_the_certificate_for_new_handshakes_and_keeps_it_on_bad_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (cert_path, key_path) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
        let (first, cert, key) = self_signed();
        std::fs::write(&cert_path, cert).expect("write");
        std::fs::write(&key_path, key).expect("write");
        let tls = ServerTls::from_files(&cert_path, &key_path).expect("loads");
        let acceptor = tls.acceptor(&[]).expect("acceptor");
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let server = tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    if let Ok(mut s) = acceptor.accept(socket).await {
                        let mut b = [0u8; 1];
                        if s.read_exact(&mut b).await.is_ok() {
                            let _ = s.write_all(&b).await;
                            let _ = s.flush().await;
                        }
                    }
                });
            }
        });

        let (second, cert, key) = self_signed();
        assert!(handshake(addr, &first.cert).await, "the first certificate");
        assert!(!handshake(addr, &second.cert).await, "not yet the second");

        std::fs::write(&cert_path, cert).expect("write");
        std::fs::write(&key_path, &key).expect("write");
        tls.reload().expect("reloads");
        assert!(
            handshake(addr, &second.cert).await,
            "the second after reload"
        );
        assert!(!handshake(addr, &first.cert).await, "no longer the first");

        // A certificate whose key is another one's is refused; the second stays.
        let (_third, cert, _) = self_signed();
        std::fs::write(&cert_path, cert).expect("write");
        assert!(matches!(tls.reload(), Err(TlsError::Rustls(_))));
        std::fs::write(&key_path, "").expect("write");
        assert!(matches!(tls.reload(), Err(TlsError::NoKey)));
        assert!(
            handshake(addr, &second.cert).await,
            "kept after failed reloads"
        );
        server.abort();
    }

    #[test]
    fn pem_without_certificate_or_key_is_a_typed_error() {
        let (_, cert, key) = self_signed();
        assert!(matches!(
            ServerTls::from_pem(b"", key.as_bytes()),
            Err(TlsError::NoCertificate)
        ));
        assert!(matches!(
            ServerTls::from_pem(cert.as_bytes(), b"nothing"),
            Err(TlsError::NoKey)
        ));
        assert!(matches!(
            ServerTls::from_files("/nonexistent/cert.pem", "/nonexistent/key.pem"),
            Err(TlsError::Io { .. })
        ));
    }
}
