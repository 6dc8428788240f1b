//! TLS for obs's outbound connections (feature `tls`): the OTLP exporter, the alert channels and
//! the HTTP health check. rustls with the `ring` provider; the Mozilla roots (webpki-roots), the
//! system's store, or only the CA certificates you give; a client certificate for mutual TLS.
//!
//! ```no_run
//! use obs_runtime::tls::Tls;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // A private CA, and only it, is trusted; this service presents its own certificate.
//! let tls = Tls::trusting_only(&std::fs::read("/etc/obs/ca.pem")?)?
//!     .with_client_certificate_pem(&std::fs::read("/etc/obs/client.pem")?, &std::fs::read("/etc/obs/client.key")?)?;
//! # Ok(()) }
//! ```

use std::sync::Arc;

use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// Which servers to trust, and the client's own certificate if it has one. `Tls::default()` is
/// [`Tls::new`].
#[derive(Clone)]
pub struct Tls {
    mozilla: bool,
    roots: Vec<CertificateDer<'static>>,
    identity: Option<Arc<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>>,
}

impl Default for Tls {
    fn default() -> Tls {
        Tls::new()
    }
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key.
        f.debug_struct("Tls")
            .field("mozilla_roots", &self.mozilla)
            .field("other_roots", &self.roots.len())
            .field("client_certificate", &self.identity.is_some())
            .finish()
    }
}

/// A certificate, key or root store that cannot be used. Its message names what is wrong, never a
/// key's bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsError(String);

impl std::fmt::Display for TlsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TlsError {}

/// Where Linux distributions (and Alpine, and the BSDs) keep the system's CA bundle.
const SYSTEM_BUNDLES: [&str; 5] = [
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
    "/etc/ssl/cert.pem",
];

impl Tls {
    /// Trusts the Mozilla roots (compiled in: no file is read).
    pub fn new() -> Tls {
        Tls { mozilla: true, roots: Vec::new(), identity: None }
    }

    /// Trusts the system's store instead: the PEM bundle named by `SSL_CERT_FILE`, else the first
    /// of the usual places (`/etc/ssl/certs/ca-certificates.crt`, `/etc/pki/tls/certs/ca-bundle.crt`,
    /// ...). `Err` when there is none, or it holds no certificate.
    pub fn system() -> Result<Tls, TlsError> {
        let named = std::env::var_os("SSL_CERT_FILE").map(std::path::PathBuf::from);
        let path = named
            .or_else(|| SYSTEM_BUNDLES.iter().map(std::path::PathBuf::from).find(|path| path.is_file()))
            .ok_or_else(|| TlsError("no system CA bundle found (set SSL_CERT_FILE)".to_owned()))?;
        let pem = std::fs::read(&path)
            .map_err(|error| TlsError(format!("cannot read the system CA bundle {}: {error}", path.display())))?;
        // A bundle may hold a certificate rustls does not take (an old one, an odd encoding): the
        // others are still trusted, as the system's own tools do.
        let roots: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&pem)
            .filter_map(Result::ok)
            .filter(|root| rustls::RootCertStore::empty().add(root.clone()).is_ok())
            .collect();
        if roots.is_empty() {
            return Err(TlsError(format!("the system CA bundle {} holds no usable certificate", path.display())));
        }
        Ok(Tls { mozilla: false, roots, identity: None })
    }

    /// Trusts only the CA certificates in `pem` (a private CA): what `OTEL_EXPORTER_OTLP_CERTIFICATE`
    /// names.
    pub fn trusting_only(pem: &[u8]) -> Result<Tls, TlsError> {
        Tls { mozilla: false, roots: Vec::new(), identity: None }.with_root_certificate_pem(pem)
    }

    /// Trusts the CA certificates in `pem` too.
    pub fn with_root_certificate_pem(mut self, pem: &[u8]) -> Result<Tls, TlsError> {
        let before = self.roots.len();
        for certificate in CertificateDer::pem_slice_iter(pem) {
            let certificate = certificate.map_err(|error| TlsError(format!("not a PEM certificate: {error}")))?;
            let mut store = rustls::RootCertStore::empty();
            store
                .add(certificate.clone())
                .map_err(|error| TlsError(format!("the root certificate cannot be used: {error}")))?;
            self.roots.push(certificate);
        }
        if self.roots.len() == before {
            return Err(TlsError("the PEM holds no certificate".to_owned()));
        }
        Ok(self)
    }

    /// Presents this certificate chain (PEM, the leaf first) and its private key (PEM: PKCS#8,
    /// PKCS#1 or SEC1) to servers that ask for one: mutual TLS.
    pub fn with_client_certificate_pem(mut self, chain_pem: &[u8], key_pem: &[u8]) -> Result<Tls, TlsError> {
        let chain = CertificateDer::pem_slice_iter(chain_pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|error| TlsError(format!("the client certificate is not PEM: {error}")))?;
        if chain.is_empty() {
            return Err(TlsError("the client certificate PEM holds no certificate".to_owned()));
        }
        // The parser's error never quotes the key.
        let key = PrivateKeyDer::from_pem_slice(key_pem)
            .map_err(|_| TlsError("the client key is not a PEM private key (PKCS#8, PKCS#1 or SEC1)".to_owned()))?;
        // Checked now (the key matches the certificate), not at the first connection.
        let identity = (chain, key);
        let provider = rustls::crypto::ring::default_provider();
        let signing = provider
            .key_provider
            .load_private_key(identity.1.clone_key())
            .map_err(|error| TlsError(format!("the client key cannot be used: {error}")))?;
        rustls::sign::CertifiedKey::new(identity.0.clone(), signing)
            .keys_match()
            .map_err(|error| TlsError(format!("the client key does not match its certificate: {error}")))?;
        self.identity = Some(Arc::new(identity));
        Ok(self)
    }

    /// The rustls configuration, offering `alpn` (`h2`, `http/1.1`).
    pub(crate) fn client_config(&self, alpn: &[u8]) -> Result<Arc<rustls::ClientConfig>, TlsError> {
        let mut store = rustls::RootCertStore::empty();
        if self.mozilla {
            store.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        }
        for root in &self.roots {
            // Checked when added.
            let _ = store.add(root.clone());
        }
        let builder = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|error| TlsError(format!("TLS: {error}")))?
            .with_root_certificates(store);
        let mut config = match &self.identity {
            None => builder.with_no_client_auth(),
            Some(identity) => builder
                .with_client_auth_cert(identity.0.clone(), identity.1.clone_key())
                .map_err(|error| TlsError(format!("the client certificate cannot be used: {error}")))?,
        };
        config.alpn_protocols = vec![alpn.to_vec()];
        Ok(Arc::new(config))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_pem_is_an_err_that_never_quotes_the_key() {
        assert_eq!(Tls::trusting_only(b"").map(|_| ()), Err(TlsError("the PEM holds no certificate".into())));
        let key = b"-----BEGIN PRIVATE KEY-----\nS3CRETS3CRET\n-----END PRIVATE KEY-----\n";
        let error = Tls::new().with_client_certificate_pem(key, key).expect_err("not a certificate").to_string();
        assert!(error.contains("holds no certificate") && !error.contains("S3CRET"), "{error}");
        assert!(!format!("{:?}", Tls::new()).contains("key:"));
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn the_system_store_of_this_machine_loads() {
        // Debian's ca-certificates bundle (scripts/install-backends.sh installs the package) holds
        // well over 100 roots.
        let tls = Tls::system().expect("the system store");
        assert!(tls.roots.len() > 100 && !tls.mozilla, "{tls:?}");
    }
}
