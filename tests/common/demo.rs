//! The demo (`examples/user_service/`), and the small examples, as child processes: built,
//! started on free ports, talked to over real sockets, stopped with a real signal (or left to exit
//! by themselves), and killed if the test fails first.

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, OnceLock, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::HttpResponse;

/// How long the demo may take to print its addresses.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// The demo's binary; see [`example`].
pub fn binary() -> &'static Path {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| example("user_service"))
}

/// What the demo prints with `flag` (`--prometheus-rules`, `--grafana-dashboard`), which makes
/// it print and exit; with no channel from the environment.
pub fn prints(flag: &str) -> String {
    let printed = std::process::Command::new(binary())
        .arg(flag)
        .env_remove("OBS_SLACK_WEBHOOK_URL")
        .env_remove("OBS_SMTP_URL")
        .output()
        .expect("run the demo");
    assert!(printed.status.success(), "{}", super::said(&printed));
    String::from_utf8(printed.stdout).expect("UTF-8")
}

/// An example's binary, built with the profile of the running test.
///
/// `cargo test` builds the examples, but `cargo test --test NAME` does not, and a stale binary
/// would test old code; so this asks cargo, which does nothing when the binary is up to date.
pub fn example(name: &str) -> PathBuf {
    // target/<profile>/deps/<this test> -> target/<profile>/examples/<name>
    let test_exe = std::env::current_exe().expect("the test's own path");
    let profile_dir = test_exe.parent().and_then(Path::parent).expect("the test runs from target/<profile>/deps");
    let target_dir = profile_dir.parent().expect("target/<profile> has a parent");
    let mut cargo = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cargo
        .args(["build", "--quiet", "--example", name, "--manifest-path"])
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml"))
        .arg("--target-dir")
        .arg(target_dir);
    match profile_dir.file_name().and_then(|name| name.to_str()) {
        Some("debug") => {}
        Some("release") => {
            cargo.arg("--release");
        }
        Some(profile) => {
            cargo.args(["--profile", profile]);
        }
        None => panic!("unexpected test path {}", test_exe.display()),
    }
    let status = cargo.status().expect("run cargo to build the example");
    assert!(status.success(), "`{cargo:?}` failed: {status}");
    let binary = profile_dir.join("examples").join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(binary.is_file(), "cargo built the example, but {} is missing", binary.display());
    binary
}

/// A child process that is killed (and reaped) when this is dropped, unless it exited already:
/// nothing is left running when a test fails.
#[derive(Debug)]
pub struct KillOnDrop {
    child: Option<Child>,
    name: &'static str,
    /// Lines the child wrote to stderr (when piped with [`KillOnDrop::collect_stderr`]).
    stderr: Arc<Mutex<String>>,
    stderr_reader: Option<JoinHandle<()>>,
}

impl KillOnDrop {
    pub fn new(name: &'static str, child: Child) -> KillOnDrop {
        KillOnDrop { child: Some(child), name, stderr: Arc::default(), stderr_reader: None }
    }

    pub fn id(&self) -> u32 {
        self.child.as_ref().expect("the child is running").id()
    }

    pub fn child(&mut self) -> &mut Child {
        self.child.as_mut().expect("the child is running")
    }

    /// Reads the child's piped stderr on a thread, so that it can be shown when a test fails.
    pub fn collect_stderr(&mut self) {
        let Some(stderr) = self.child().stderr.take() else { return };
        let collected = Arc::clone(&self.stderr);
        self.stderr_reader = Some(std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                let mut collected = collected.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                collected.push_str(&line);
                collected.push('\n');
            }
        }));
    }

    /// What the child wrote to stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
    }

    /// All the child wrote to stderr, once it has exited (its end of the pipe is then closed).
    pub fn stderr_after_exit(&mut self) -> String {
        if let Some(reader) = self.stderr_reader.take() {
            let _ = reader.join();
        }
        self.stderr()
    }

    /// The exit status if the child has exited.
    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        self.child().try_wait().expect("query the child's status")
    }

    /// Sends `signal` (`TERM`, `INT`, ..) with `kill(1)` and waits up to `timeout` for the child
    /// to exit. If it does not, it is killed with SIGKILL and the test fails.
    pub fn signal_and_wait(&mut self, signal: &str, timeout: Duration) -> ExitStatus {
        let pid = self.id().to_string();
        let sent = Command::new("kill").arg(format!("-{signal}")).arg(&pid).status().expect("run kill");
        assert!(sent.success(), "`kill -{signal} {pid}` failed: {sent}");
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.try_wait() {
                self.child = None;
                return status;
            }
            if Instant::now() >= deadline {
                let _ = self.child().kill();
                let _ = self.child().wait();
                self.child = None;
                panic!(
                    "{} did not exit within {timeout:?} of SIG{signal}; killed it. Its stderr:\n{}",
                    self.name,
                    self.stderr()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            eprintln!("--- stderr of {} ---\n{}--- end ---", self.name, self.stderr());
        }
    }
}

/// The running demo: its app and metrics addresses, and the process.
#[derive(Debug)]
pub struct Demo {
    pub app: SocketAddr,
    pub metrics: SocketAddr,
    pub process: KillOnDrop,
    /// What the demo prints after its address lines (its JSON logs), line by line.
    pub stdout: mpsc::Receiver<String>,
}

impl Demo {
    /// Starts the demo with both servers on free ports of 127.0.0.1, and waits for it to say where.
    pub fn start() -> Demo {
        Demo::start_with(&[])
    }

    /// [`Demo::start`] with extra environment (the dependencies' URLs are unset unless given).
    pub fn start_with(env: &[(&str, &str)]) -> Demo {
        let child = Command::new(binary())
            .env("APP_ADDR", "127.0.0.1:0")
            .env("OBS_HTTP_ADDR", "127.0.0.1:0")
            .env_remove("DATABASE_URL")
            .env_remove("REDIS_URL")
            .env_remove("EXTERNAL_API_URL")
            .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
            .env_remove("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
            .env_remove("OBS_SPANS_FILE")
            .env_remove("OBS_SLACK_WEBHOOK_URL")
            .env_remove("OBS_WEBHOOK_URL")
            .env_remove("OBS_ALERTMANAGER_URL")
            .env_remove("OBS_SMTP_URL")
            .env_remove("OBS_ALERT_EVAL_INTERVAL")
            .env_remove("OBS_SHUTDOWN_TIMEOUT")
            // No profile service unless a test starts one: port 9 (discard) is closed here.
            .env("PROFILE_SERVICE_URL", "http://127.0.0.1:9")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the demo");
        let mut process = KillOnDrop::new("user_service", child);
        process.collect_stderr();

        // Lines go through a channel so that waiting for them is bounded; the thread then keeps
        // draining stdout so the demo never blocks on a full pipe.
        let stdout = process.child().stdout.take().expect("stdout is piped");
        let (lines, received) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let _ = lines.send(line);
            }
        });
        let deadline = Instant::now() + START_TIMEOUT;
        let mut next_line = |expected: &str| -> String {
            match received.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(line) => line,
                Err(error) => panic!(
                    "the demo did not print {expected:?} ({error}; exit status {:?}). Its stderr:\n{}",
                    process.try_wait(),
                    process.stderr()
                ),
            }
        };
        let app_line = next_line("app listening on http://ADDR");
        let metrics_line = next_line("metrics on http://ADDR/metrics");
        let app = app_line.strip_prefix("app listening on http://").and_then(|addr| addr.parse().ok());
        let metrics = metrics_line
            .strip_prefix("metrics on http://")
            .and_then(|rest| rest.strip_suffix("/metrics"))
            .and_then(|addr| addr.parse().ok());
        match (app, metrics) {
            (Some(app), Some(metrics)) => Demo { app, metrics, process, stdout: received },
            _ => panic!("unexpected start-up lines from the demo: {app_line:?}, {metrics_line:?}"),
        }
    }

    /// The next JSON log line for which `wanted` holds, skipping others (the test fails after
    /// 20 s without one).
    pub fn log_line(&self, wanted: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self.stdout.recv_timeout(left).unwrap_or_else(|error| panic!("no such log line: {error}"));
            if let Ok(value) = serde_json::from_str::<serde_json::Value>(&line)
                && wanted(&value)
            {
                return value;
            }
        }
    }

    /// `GET /metrics` in the Prometheus text format.
    pub fn scrape(&self) -> String {
        let response = super::get(self.metrics, "/metrics").expect("scrape the demo");
        assert_eq!(response.status, 200, "{response:?}");
        response.body
    }

    /// Sends SIGTERM and returns the exit status (the test fails if it takes over `timeout`).
    pub fn terminate(mut self, timeout: Duration) -> ExitStatus {
        self.process.signal_and_wait("TERM", timeout)
    }
}

/// Runs the demo with extra environment until it exits by itself (killed, and the test failed,
/// after `timeout`). Returns the status, stdout and stderr.
pub fn run_to_exit(env: &[(&str, &str)], timeout: Duration) -> (ExitStatus, String, String) {
    let mut command = Command::new(binary());
    command.env("APP_ADDR", "127.0.0.1:0").env("OBS_HTTP_ADDR", "127.0.0.1:0");
    wait_for_exit("user_service", command.envs(env.iter().copied()), timeout)
}

/// Runs the example `name` until it exits by itself (killed, and the test failed, after
/// `timeout`): the embedded server on a free port, spans and logs where it writes them without
/// the `OTEL_*` and `OBS_*` variables of the environment. Returns the status, stdout and stderr.
pub fn run_example(name: &'static str, timeout: Duration) -> (ExitStatus, String, String) {
    let mut command = Command::new(example(name));
    for (variable, _) in std::env::vars_os() {
        if variable.to_str().is_some_and(|name| name.starts_with("OTEL_") || name.starts_with("OBS_")) {
            command.env_remove(variable);
        }
    }
    command.env("OBS_HTTP_ADDR", "127.0.0.1:0").env_remove("RUST_LOG");
    wait_for_exit(name, &mut command, timeout)
}

fn wait_for_exit(name: &'static str, command: &mut Command, timeout: Duration) -> (ExitStatus, String, String) {
    command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut process = KillOnDrop::new(name, command.spawn().unwrap_or_else(|error| panic!("start {name}: {error}")));
    process.collect_stderr();
    let mut stdout = process.child().stdout.take().expect("stdout is piped");
    let stdout = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stdout.read_to_string(&mut text);
        text
    });
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = process.try_wait() {
            break status;
        }
        assert!(Instant::now() < deadline, "{name} ({command:?}) still runs after {timeout:?}");
        std::thread::sleep(Duration::from_millis(20));
    };
    let stdout = stdout.join().expect("the stdout reader");
    (status, stdout, process.stderr_after_exit())
}

/// `POST path` with a body of the given content type, `Connection: close`.
pub fn post(addr: SocketAddr, path: &str, content_type: &str, body: &str) -> std::io::Result<HttpResponse> {
    super::raw_request(
        addr,
        &format!(
            "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    )
}
