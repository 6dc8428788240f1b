//! Certificates for the TLS tests, made with the `openssl` command: a CA of the test's own, a
//! server certificate it signed for 127.0.0.1, `localhost` and `collector.test`, a client
//! certificate it signed, and a client certificate of another, unrelated CA. Keys are PKCS#8 PEM.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::TempDir;

/// `ca.pem`, `server.pem`/`server.key`, `client.pem`/`client.key`, `other-ca.pem` and
/// `other-client.pem`/`other-client.key` in a directory removed when dropped.
#[derive(Debug)]
pub struct Certificates {
    dir: TempDir,
}

impl Certificates {
    pub fn new() -> Certificates {
        let dir = TempDir::new("certificates");
        make_certificates(dir.path());
        Certificates { dir }
    }

    /// The CA certificate, PEM.
    pub fn ca_pem(&self) -> Vec<u8> {
        std::fs::read(self.ca_path()).expect("read the CA")
    }

    /// The CA certificate's file.
    pub fn ca_path(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// The server's certificate (for 127.0.0.1, localhost and collector.test) and key.
    pub fn server(&self) -> (PathBuf, PathBuf) {
        (self.dir.path().join("server.pem"), self.dir.path().join("server.key"))
    }

    /// A client certificate (clientAuth, CN=obs test client) the CA signed, and its key.
    pub fn client(&self) -> (PathBuf, PathBuf) {
        (self.dir.path().join("client.pem"), self.dir.path().join("client.key"))
    }

    /// A client certificate signed by another CA, which nothing trusts, and its key.
    pub fn other_client(&self) -> (PathBuf, PathBuf) {
        (self.dir.path().join("other-client.pem"), self.dir.path().join("other-client.key"))
    }
}

/// Runs `openssl` with `args` in `dir`; panics with its output when it fails.
fn openssl(dir: &Path, args: &[&str]) {
    let output =
        Command::new("openssl").args(args).current_dir(dir).stdin(Stdio::null()).output().expect("run openssl");
    assert!(
        output.status.success(),
        "openssl {args:?} failed ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
}

const EC: [&str; 5] = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];

/// A self-signed CA: `{name}.pem`, `{name}.key`.
fn make_ca(dir: &Path, name: &str, subject: &str) {
    let (key, pem) = (format!("{name}.key"), format!("{name}.pem"));
    let ca = ["-keyout", &key, "-out", &pem, "-days", "2", "-subj", subject];
    openssl(dir, &[&["req", "-x509"], &EC[..], &ca[..]].concat());
}

/// `{name}.pem` and `{name}.key`, signed by the CA `{ca}.pem`/`{ca}.key`, with `extensions`.
fn make_signed(dir: &Path, name: &str, subject: &str, ca: &str, extensions: &str) {
    let (key, csr, ext, pem) =
        (format!("{name}.key"), format!("{name}.csr"), format!("{name}.ext"), format!("{name}.pem"));
    openssl(dir, &[&["req"], &EC[..], &["-keyout", &key, "-out", &csr, "-subj", subject]].concat());
    std::fs::write(dir.join(&ext), extensions).expect("write the extensions");
    let (ca_pem, ca_key) = (format!("{ca}.pem"), format!("{ca}.key"));
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            &ca_pem,
            "-CAkey",
            &ca_key,
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            &ext,
            "-out",
            &pem,
        ],
    );
}

/// The CA and the certificates it signed, and the other CA with its client certificate.
fn make_certificates(dir: &Path) {
    const LEAF: &str = "basicConstraints = critical, CA:FALSE\nkeyUsage = critical, digitalSignature\n";
    make_ca(dir, "ca", "/CN=obs test CA");
    make_signed(
        dir,
        "server",
        "/CN=127.0.0.1",
        "ca",
        &format!(
            "{LEAF}extendedKeyUsage = serverAuth\n\
             subjectAltName = IP:127.0.0.1, DNS:localhost, DNS:collector.test\n"
        ),
    );
    let client = format!("{LEAF}extendedKeyUsage = clientAuth\n");
    make_signed(dir, "client", "/CN=obs test client", "ca", &client);
    make_ca(dir, "other-ca", "/CN=obs test other CA");
    make_signed(dir, "other-client", "/CN=obs test other client", "other-ca", &client);
}
