//! TLS for `https://` channels (feature `alerts-tls`): rustls with the Mozilla roots
//! (webpki-roots), plus CA certificates a channel is told to trust.

use std::sync::Arc;

use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use super::SendError;

/// A client configuration and the extra roots it was made with.
#[derive(Clone)]
pub(crate) struct Tls {
    config: Arc<rustls::ClientConfig>,
    extra: Vec<CertificateDer<'static>>,
}

impl Tls {
    pub(crate) fn new(extra: &[CertificateDer<'static>]) -> Result<Tls, String> {
        let mut roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
        for certificate in extra {
            roots.add(certificate.clone()).map_err(|error| format!("the root certificate cannot be used: {error}"))?;
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|error| format!("TLS: {error}"))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Tls { config: Arc::new(config), extra: extra.to_vec() })
    }

    /// Trusts the certificates in `pem` too.
    pub(crate) fn add_roots(&mut self, pem: &[u8]) -> Result<(), String> {
        let mut extra = self.extra.clone();
        for certificate in CertificateDer::pem_slice_iter(pem) {
            extra.push(certificate.map_err(|error| format!("not a PEM certificate: {error}"))?);
        }
        if extra.len() == self.extra.len() {
            return Err("the PEM holds no certificate".into());
        }
        *self = Tls::new(&extra)?;
        Ok(())
    }

    /// The TLS handshake with `host` over `stream`.
    pub(crate) async fn connect(&self, host: &str, stream: TcpStream) -> Result<TlsStream<TcpStream>, SendError> {
        let name = ServerName::try_from(host.to_owned())
            .map_err(|_| SendError::permanent(format!("{host:?} is not a TLS server name")))?;
        TlsConnector::from(self.config.clone()).connect(name, stream).await.map_err(|error| {
            // A certificate the roots do not vouch for will not be vouched for on the next try.
            let certificate = error.get_ref().is_some_and(|inner| inner.to_string().contains("certificate"));
            let message = format!("TLS handshake with {host}: {error}");
            if certificate { SendError::permanent(message) } else { SendError::retryable(message) }
        })
    }
}
