//! Real OTLP receivers started on 127.0.0.1 for the tests: a loopback sink that decodes with the
//! official `opentelemetry-proto` types (scripts/otlp_sink.py), and the `rotel` collector; both
//! come from the venv scripts/install-backends.sh makes.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::backends::free_port;
use super::demo::KillOnDrop;

/// The sink: every span it receives, one JSON object a line in a file.
#[derive(Debug)]
pub struct Sink {
    pub http_port: u16,
    pub grpc_port: u16,
    out: PathBuf,
    _process: KillOnDrop,
}

impl Sink {
    /// Starts it; it answers the first `fail_first` exports with 503 / UNAVAILABLE.
    pub fn start(fail_first: usize) -> Sink {
        let (http_port, grpc_port) = (free_port(), free_port());
        let out = std::env::temp_dir().join(format!("obs-otlp-sink-{}-{http_port}.jsonl", std::process::id()));
        let _ = std::fs::remove_file(&out);
        let mut child = Command::new(super::venv().join("bin/python"))
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/otlp_sink.py"))
            .args(["--http-port", &http_port.to_string(), "--grpc-port", &grpc_port.to_string(), "--out"])
            .arg(&out)
            .env("OTLP_SINK_FAIL_FIRST", fail_first.to_string())
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
        Sink { http_port, grpc_port, out, _process: process }
    }

    /// The spans received so far.
    pub fn spans(&self) -> Vec<serde_json::Value> {
        let text = std::fs::read_to_string(&self.out).unwrap_or_default();
        super::whole_lines(&text).map(|line| serde_json::from_str(line).expect("the sink writes JSON")).collect()
    }

    /// Waits (at most 20 s) until `done` holds of the spans received.
    pub fn wait_for(&self, done: impl Fn(&[serde_json::Value]) -> bool) -> Vec<serde_json::Value> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let spans = self.spans();
            if done(&spans) {
                return spans;
            }
            assert!(Instant::now() < deadline, "the sink did not receive what was expected; it has: {spans:#?}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// The rotel collector, printing what it receives (`--debug-log traces`) into a file.
#[derive(Debug)]
pub struct Rotel {
    pub http_port: u16,
    log: PathBuf,
    _process: KillOnDrop,
}

impl Rotel {
    pub fn start() -> Rotel {
        let agent = std::fs::read_dir(super::venv().join("lib"))
            .expect("the venv's lib")
            .filter_map(Result::ok)
            .map(|python| python.path().join("site-packages/rotel/rotel-agent"))
            .find(|agent| agent.exists())
            .expect("rotel-agent in the venv");
        let (grpc_port, http_port) = (free_port(), free_port());
        let log = std::env::temp_dir().join(format!("obs-rotel-{}-{http_port}.log", std::process::id()));
        let file = std::fs::File::create(&log).expect("rotel's log");
        let child = Command::new(agent)
            .args(["start", "--otlp-grpc-endpoint", &format!("127.0.0.1:{grpc_port}")])
            .args(["--otlp-http-endpoint", &format!("127.0.0.1:{http_port}")])
            .args(["--exporter", "blackhole", "--debug-log", "traces", "--debug-log-verbosity", "detailed"])
            .stdin(Stdio::null())
            .stdout(Stdio::from(file.try_clone().expect("dup")))
            .stderr(Stdio::from(file))
            .spawn()
            .expect("start rotel");
        let process = KillOnDrop::new("rotel", child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", http_port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "rotel did not listen: {}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Rotel { http_port, log, _process: process }
    }

    /// What it printed so far.
    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}
