//! Real OTLP receivers started on 127.0.0.1 for the tests: a loopback sink that decodes with the
//! official `opentelemetry-proto` types (scripts/otlp_sink.py; failures, Retry-After, partial
//! success, TLS and client certificates on demand), and the `rotel` collector; both come from the
//! venv scripts/install-backends.sh makes.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::backends::free_ports;
use super::demo::KillOnDrop;
use super::tls::Certificates;

/// The sink: every span it receives, one JSON object a line in a file, every metric data point
/// and every log record likewise in two others; what happened to each request (and each failed
/// TLS handshake) in a fourth.
#[derive(Debug)]
pub struct Sink {
    pub http_port: u16,
    pub grpc_port: u16,
    out: PathBuf,
    metrics_path: PathBuf,
    logs_path: PathBuf,
    events: PathBuf,
    _process: KillOnDrop,
}

/// How the sink answers, and whether it serves TLS.
#[derive(Debug, Default)]
pub struct SinkBuilder {
    fail_first: usize,
    retry_after_secs: Option<u64>,
    fail_status: Option<u16>,
    reject: u64,
    tls: Option<(PathBuf, PathBuf)>,
    client_ca: Option<PathBuf>,
}

impl SinkBuilder {
    /// Fails the first `n` exports of either transport (HTTP 503, gRPC UNAVAILABLE).
    pub fn fail_first(mut self, n: usize) -> Self {
        self.fail_first = n;
        self
    }

    /// The failures carry `Retry-After: secs` (HTTP) or a RetryInfo of `secs` in
    /// grpc-status-details-bin (gRPC).
    pub fn retry_after_secs(mut self, secs: u64) -> Self {
        self.retry_after_secs = Some(secs);
        self
    }

    /// The HTTP status of the failures (503 if not set; 429 for instance).
    pub fn fail_status(mut self, status: u16) -> Self {
        self.fail_status = Some(status);
        self
    }

    /// Accepted exports answer a partial success of `n` rejected spans (data points, log records;
    /// message "OTLP_SINK_REJECT"); what they carry is still received.
    pub fn reject(mut self, n: u64) -> Self {
        self.reject = n;
        self
    }

    /// Both listeners serve TLS only, with `certificates`' server certificate.
    pub fn tls(mut self, certificates: &Certificates) -> Self {
        self.tls = Some(certificates.server());
        self
    }

    /// Both listeners require a client certificate signed by the CA in `ca` (PEM); needs `tls`.
    pub fn client_ca(mut self, ca: &Path) -> Self {
        self.client_ca = Some(ca.to_owned());
        self
    }

    pub fn start(self) -> Sink {
        let [http_port, grpc_port] = free_ports();
        let out = std::env::temp_dir().join(format!("obs-otlp-sink-{}-{http_port}.jsonl", std::process::id()));
        let beside = |suffix: &str| {
            let mut path = out.clone().into_os_string();
            path.push(suffix);
            PathBuf::from(path)
        };
        let (metrics_path, logs_path, events) = (beside(".metrics"), beside(".logs"), beside(".events"));
        for path in [&out, &metrics_path, &logs_path, &events] {
            let _ = std::fs::remove_file(path);
        }
        let mut command = Command::new(super::venv().join("bin/python"));
        command
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/otlp_sink.py"))
            .args(["--http-port", &http_port.to_string(), "--grpc-port", &grpc_port.to_string(), "--out"])
            .arg(&out)
            .env("OTLP_SINK_FAIL_FIRST", self.fail_first.to_string())
            .env("OTLP_SINK_RETRY_AFTER", self.retry_after_secs.map(|secs| secs.to_string()).unwrap_or_default())
            .env("OTLP_SINK_FAIL_STATUS", self.fail_status.unwrap_or(503).to_string())
            .env("OTLP_SINK_REJECT", self.reject.to_string());
        if let Some((cert, key)) = &self.tls {
            command.arg("--tls-cert").arg(cert).arg("--tls-key").arg(key);
        }
        if let Some(ca) = &self.client_ca {
            assert!(self.tls.is_some(), "client_ca needs tls");
            command.arg("--client-ca").arg(ca);
        }
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the OTLP sink");
        let stdout = child.stdout.take().expect("piped");
        let process = KillOnDrop::new("otlp_sink", child);
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).expect("read the sink's stdout");
        assert_eq!(line.trim(), "ready", "the sink did not start");
        Sink { http_port, grpc_port, out, metrics_path, logs_path, events, _process: process }
    }
}

impl Sink {
    /// Starts it; it answers the first `fail_first` exports with 503 / UNAVAILABLE.
    pub fn start(fail_first: usize) -> Sink {
        Sink::builder().fail_first(fail_first).start()
    }

    pub fn builder() -> SinkBuilder {
        SinkBuilder::default()
    }

    /// The spans received so far.
    pub fn spans(&self) -> Vec<serde_json::Value> {
        read_lines(&self.out)
    }

    /// Waits (at most 20 s) until `done` holds of the spans received.
    pub fn wait_for(&self, done: impl Fn(&[serde_json::Value]) -> bool) -> Vec<serde_json::Value> {
        wait(|| self.spans(), done, "the sink did not receive what was expected")
    }

    /// The metric data points received so far, one object each: `{"transport", "resource",
    /// "scope", "scope_version", "name", "description", "unit", "type": "sum" | "gauge" |
    /// "histogram" | "exponential_histogram" | "summary", "monotonic" (sums, else null),
    /// "temporality" (sums and histograms, else null), "attributes", "start_time_unix_nano",
    /// "time_unix_nano", "value" (null but for sums and gauges), "value_type": "int" | "double" |
    /// null, "count", "sum", "bounds", "bucket_counts", "min", "max" (histograms, else null),
    /// "exemplars": [{"trace_id", "span_id", "value", "time_unix_nano", "filtered_attributes"}],
    /// "flags"}` (scripts/otlp_sink.py tells the details).
    pub fn metrics(&self) -> Vec<serde_json::Value> {
        read_lines(&self.metrics_path)
    }

    /// Waits (at most 20 s) until `done` holds of the metric data points received.
    pub fn wait_for_metrics(&self, done: impl Fn(&[serde_json::Value]) -> bool) -> Vec<serde_json::Value> {
        wait(|| self.metrics(), done, "the sink did not receive the metrics expected")
    }

    /// The log records received so far, one object each: `{"transport", "resource", "scope",
    /// "scope_version", "time_unix_nano", "observed_time_unix_nano", "severity_number",
    /// "severity_text", "body" (null if unset), "attributes", "dropped_attributes_count", "flags",
    /// "trace_id", "span_id" (hex, "" if empty), "event_name"}`.
    pub fn logs(&self) -> Vec<serde_json::Value> {
        read_lines(&self.logs_path)
    }

    /// Waits (at most 20 s) until `done` holds of the log records received.
    pub fn wait_for_logs(&self, done: impl Fn(&[serde_json::Value]) -> bool) -> Vec<serde_json::Value> {
        wait(|| self.logs(), done, "the sink did not receive the logs expected")
    }

    /// What happened so far: `{"event": "request", "transport": "http" | "grpc", "signal":
    /// "traces" | "metrics" | "logs" (null for an HTTP path that is none), "encoding"
    /// (Content-Encoding or the gRPC message's compression, "" if none), "user_agent", "status"
    /// (HTTP status or gRPC code)}` per request, `{"event": "tls_handshake_failed"}` per HTTP
    /// connection whose TLS handshake failed.
    pub fn events(&self) -> Vec<serde_json::Value> {
        read_lines(&self.events)
    }

    /// Waits (at most 20 s) until `done` holds of the events.
    pub fn wait_for_events(&self, done: impl Fn(&[serde_json::Value]) -> bool) -> Vec<serde_json::Value> {
        wait(|| self.events(), done, "the sink did not see what was expected")
    }

    /// How many TLS handshakes failed on the HTTP listener so far.
    pub fn handshake_failures(&self) -> usize {
        self.events().iter().filter(|event| event["event"] == "tls_handshake_failed").count()
    }

    /// The request events so far.
    pub fn requests(&self) -> Vec<serde_json::Value> {
        self.events().into_iter().filter(|event| event["event"] == "request").collect()
    }
}

/// The JSON lines of a file the sink is appending to.
fn read_lines(path: &Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    super::whole_lines(&text).map(|line| serde_json::from_str(line).expect("the sink writes JSON")).collect()
}

/// Reads until `done` holds (at most 20 s).
fn wait(
    read: impl Fn() -> Vec<serde_json::Value>,
    done: impl Fn(&[serde_json::Value]) -> bool,
    failure: &str,
) -> Vec<serde_json::Value> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let values = read();
        if done(&values) {
            return values;
        }
        assert!(Instant::now() < deadline, "{failure}; it has: {values:#?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The rotel collector, printing every span, metric data point and log record it receives
/// (`--debug-log traces --debug-log metrics --debug-log logs`, detailed) into a file.
#[derive(Debug)]
pub struct Rotel {
    pub http_port: u16,
    log: PathBuf,
    _process: KillOnDrop,
}

impl Rotel {
    pub fn start() -> Rotel {
        // A port taken by another process between `free_ports` and rotel's bind: new ports.
        for _ in 0..2 {
            if let Ok(rotel) = Rotel::try_start() {
                return rotel;
            }
        }
        Rotel::try_start().unwrap_or_else(|said| panic!("rotel did not listen: {said}"))
    }

    /// `Err` with what rotel said when one of its ports was taken.
    fn try_start() -> Result<Rotel, String> {
        let agent = std::fs::read_dir(super::venv().join("lib"))
            .expect("the venv's lib")
            .filter_map(Result::ok)
            .map(|python| python.path().join("site-packages/rotel/rotel-agent"))
            .find(|agent| agent.exists())
            .expect("rotel-agent in the venv");
        let [grpc_port, http_port] = free_ports();
        let log = std::env::temp_dir().join(format!("obs-rotel-{}-{http_port}.log", std::process::id()));
        let file = std::fs::File::create(&log).expect("rotel's log");
        let child = Command::new(agent)
            .args(["start", "--otlp-grpc-endpoint", &format!("127.0.0.1:{grpc_port}")])
            .args(["--otlp-http-endpoint", &format!("127.0.0.1:{http_port}")])
            .args(["--exporter", "blackhole", "--debug-log-verbosity", "detailed"])
            .args(["--debug-log", "traces", "--debug-log", "metrics", "--debug-log", "logs"])
            .stdin(Stdio::null())
            .stdout(Stdio::from(file.try_clone().expect("dup")))
            .stderr(Stdio::from(file))
            .spawn()
            .expect("start rotel");
        let process = KillOnDrop::new("rotel", child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", http_port)).is_err() {
            let said = std::fs::read_to_string(&log).unwrap_or_default();
            if said.contains("Address already in use") {
                return Err(said);
            }
            assert!(Instant::now() < deadline, "rotel did not listen: {said}");
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(Rotel { http_port, log, _process: process })
    }

    /// What it printed so far. Among others, per metric `     -> Name: NAME` and per number
    /// point `Value: V`; per log record `Body: Str(TEXT)`; per span `    Name           : NAME`.
    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}
