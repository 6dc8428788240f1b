//! Helpers shared by the integration tests: reading samples out of an exposition body, and a
//! minimal HTTP client (the tests talk to real sockets, not to mocks).
#![allow(dead_code)]

pub mod backends;
pub mod demo;
pub mod grpc;
pub mod live_bytes;
pub mod otlp;
pub mod proxy;
pub mod receiver;
pub mod smtp;
#[cfg(feature = "trace")]
pub mod spans;
pub mod tls;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The text exposition of everything registered in this test process.
#[cfg(feature = "metrics")]
pub fn scrape() -> String {
    obs_runtime::metrics::encode(obs_runtime::metrics::Format::Text)
}

/// The value of the sample `name{labels}` (labels in exposition order), if present.
pub fn sample(body: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let rendered: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
    let prefix = if labels.is_empty() { format!("{name} ") } else { format!("{name}{{{}}} ", rendered.join(",")) };
    body.lines().find_map(|line| line.strip_prefix(&prefix)).map(|value| value.parse().expect("a number"))
}

/// `http_requests_total` of one (method, endpoint, status), 0 when absent.
#[cfg(feature = "metrics")]
pub fn requests(method: &str, endpoint: &str, status: &str) -> f64 {
    sample(&scrape(), "http_requests_total", &[("method", method), ("endpoint", endpoint), ("status", status)])
        .unwrap_or(0.0)
}

/// `http_request_duration_seconds_count` of one (method, endpoint), 0 when absent.
#[cfg(feature = "metrics")]
pub fn duration_count(method: &str, endpoint: &str) -> f64 {
    sample(&scrape(), "http_request_duration_seconds_count", &[("method", method), ("endpoint", endpoint)])
        .unwrap_or(0.0)
}

/// `assert_eq!` of a recorded count, with metrics compiled in; with them off there is nothing
/// recorded to read, and the instrumented code's own results (asserted beside) are what is tested.
#[cfg(feature = "metrics")]
#[allow(unused_macros)]
macro_rules! assert_recorded {
    ($($arguments:tt)*) => { assert_eq!($($arguments)*) };
}
#[cfg(not(feature = "metrics"))]
#[allow(unused_macros)]
macro_rules! assert_recorded {
    ($($arguments:tt)*) => {};
}
#[allow(unused_imports)]
pub(crate) use assert_recorded;

/// Runs `promtool check metrics` (Prometheus's own linter) on `body`: whether it passed, and
/// what it said.
pub fn promtool_check_metrics(body: &str) -> (bool, String) {
    let mut promtool = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|error| panic!("cannot run promtool ({error}): run scripts/install-backends.sh"));
    let mut stdin = promtool.stdin.take().expect("stdin is piped");
    stdin.write_all(body.as_bytes()).expect("write the body to promtool");
    drop(stdin);
    let output = promtool.wait_with_output().expect("promtool runs");
    let said = format!(
        "exit status {}\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), said)
}

/// A response as the tests need it.
#[derive(Debug)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: String,
    pub body: String,
}

impl HttpResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.lines().find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.eq_ignore_ascii_case(name).then(|| value.trim())
        })
    }
}

/// Sends `request` (a whole HTTP/1.1 request) and reads the response until the server closes.
pub fn raw_request(addr: SocketAddr, request: &str) -> std::io::Result<HttpResponse> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    stream.write_all(request.as_bytes())?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let raw = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let (status_line, headers) = head.split_once("\r\n").unwrap_or((head, ""));
    let status = status_line.split_whitespace().nth(1).and_then(|code| code.parse().ok()).unwrap_or(0);
    let body = if headers.to_ascii_lowercase().contains("transfer-encoding: chunked") {
        dechunk(body)
    } else {
        body.to_owned()
    };
    Ok(HttpResponse { status, headers: headers.to_owned(), body })
}

/// `method path` with optional extra header lines, `Connection: close`.
pub fn request(addr: SocketAddr, method: &str, path: &str, extra_headers: &str) -> std::io::Result<HttpResponse> {
    raw_request(addr, &format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{extra_headers}Connection: close\r\n\r\n"))
}

pub fn get(addr: SocketAddr, path: &str) -> std::io::Result<HttpResponse> {
    request(addr, "GET", path, "")
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let Ok(size) = usize::from_str_radix(size.trim(), 16) else { break };
        if size == 0 || rest.len() < size {
            break;
        }
        out.push_str(&rest[..size]);
        body = rest[size..].trim_start_matches("\r\n");
    }
    out
}

/// A log output the test can read back.
#[derive(Clone, Default)]
pub struct Captured(pub Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    /// What was written, line by line.
    pub fn lines(&self) -> Vec<String> {
        let bytes = self.0.lock().unwrap_or_else(PoisonError::into_inner).clone();
        String::from_utf8(bytes).expect("UTF-8").lines().map(str::to_owned).collect()
    }
}

/// A directory of its own under the system temp dir, removed when dropped.
#[derive(Debug)]
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(what: &str) -> TempDir {
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|since| since.as_nanos()).unwrap_or_default();
        let path = std::env::temp_dir().join(format!("obs-test-{what}-{}-{nanos}", std::process::id()));
        std::fs::create_dir(&path).unwrap_or_else(|error| panic!("create {}: {error}", path.display()));
        TempDir(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The whole lines of a file another process is still appending to: a last line without its
/// newline may be half-written, and is left for the next read.
pub fn whole_lines(text: &str) -> impl Iterator<Item = &str> {
    text[..text.rfind('\n').map_or(0, |end| end + 1)].lines()
}

/// The Python venv `scripts/install-backends.sh` makes (rotel, the OTLP decoder, aiosmtpd).
pub fn venv() -> PathBuf {
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/otel-venv");
    assert!(venv.join("bin/python").exists(), "no {}: run `bash scripts/install-backends.sh`", venv.display());
    venv
}

#[cfg(feature = "logging")]
/// obs's log layer for a subscriber of the test's own, and the guard that owns its writer: an obs
/// of service `service` with nothing else running and no environment read.
pub fn log_layer(
    service: &str,
    config: obs_runtime::logging::LoggingConfig,
) -> Result<(obs_runtime::logging::JsonLayer, Logs), obs_runtime::ConfigError> {
    let mut obs = obs_runtime::Obs::builder()
        .service(service)
        .environment(obs_runtime::Environment::empty())
        .without_http_server()
        .init()?;
    let layer = obs.logging_layer(config)?;
    Ok((layer, Logs(obs)))
}

/// The guard of [`log_layer`]'s writer.
#[cfg(feature = "logging")]
#[derive(Debug)]
pub struct Logs(pub obs_runtime::ObsGuard);

#[cfg(feature = "logging")]
impl Logs {
    fn writer(&self) -> &obs_runtime::logging::LogGuard {
        self.0.logs().expect("the layer's writer")
    }

    /// Waits until every line logged so far is written; `false` if that took too long.
    pub fn flush(&self) -> bool {
        self.writer().flush()
    }

    /// Lines written so far.
    pub fn written(&self) -> u64 {
        self.writer().written()
    }

    /// Lines dropped so far.
    pub fn dropped(&self) -> u64 {
        self.writer().dropped()
    }
}

/// Runs `promtool ARGS FILE` in the file's directory.
pub fn promtool(args: &[&str], file: &std::path::Path) -> std::process::Output {
    std::process::Command::new("promtool")
        .args(args)
        .arg(file.file_name().expect("a file name"))
        .current_dir(file.parent().expect("a directory"))
        .output()
        .unwrap_or_else(|error| panic!("cannot run promtool ({error}): run scripts/install-backends.sh"))
}

/// What a finished command printed, with its exit status.
pub fn said(output: &std::process::Output) -> String {
    format!(
        "exit status {}\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}
