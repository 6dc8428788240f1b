//! Real Redis, PostgreSQL and Alertmanager servers as child processes, for the ignored tests that
//! talk to them.
//!
//! Each one listens on 127.0.0.1 only, on a free port, keeps its data in a fresh directory under
//! [`std::env::temp_dir`], and is stopped (and its directory removed) when dropped, also when the
//! test panics. `scripts/install-backends.sh` installs `redis-server`, `postgresql` and
//! `prometheus-alertmanager`.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

/// How long Redis may take to answer `PING` after it is spawned.
const REDIS_READY_TIMEOUT: Duration = Duration::from_secs(10);
/// How long PostgreSQL may take to accept connections after it is spawned.
const POSTGRES_READY_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a stopping server may take to exit before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);
/// How often a server that is not ready yet is asked again.
const POLL: Duration = Duration::from_millis(50);
/// Where the Debian package puts PostgreSQL: `<version>/bin/{initdb,postgres,pg_isready}`.
const POSTGRES_LIB: &str = "/usr/lib/postgresql";
/// How often `start` tries again with another port when the server exits at once (the free port
/// was taken between finding it and the server binding it).
const START_ATTEMPTS: usize = 3;

/// Runs `spawn` on a free port until the server is ready; another port if it exits at once (its
/// free port was taken meanwhile); panics with why after the last attempt.
fn start_on_a_free_port(name: &str, mut spawn: impl FnMut(u16) -> Result<(), NotReady>) {
    for attempt in 1..=START_ATTEMPTS {
        let port = free_port();
        match spawn(port) {
            Ok(()) => return,
            Err(NotReady::Exited(why)) if attempt < START_ATTEMPTS => {
                eprintln!("backends: {name} exited at once on port {port} ({why}); another port");
            }
            Err(NotReady::Exited(why) | NotReady::TimedOut(why)) => panic!("{why}"),
        }
    }
}

const INSTALL_HINT: &str = "run `bash scripts/install-backends.sh` (as root, or with sudo)";

/// A port nobody listened on a moment ago: bind 127.0.0.1:0, read the port, close the listener.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind 127.0.0.1:0 to find a free port");
    listener.local_addr().expect("the local address of a bound listener").port()
}

/// `N` ports nobody listened on a moment ago, all different: the listeners are held until every
/// port is read (two `free_port` calls in a row may return the same port).
pub fn free_ports<const N: usize>() -> [u16; N] {
    let listeners: Vec<TcpListener> = (0..N)
        .map(|_| TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind 127.0.0.1:0 to find a free port"))
        .collect();
    std::array::from_fn(|index| listeners[index].local_addr().expect("the local address of a bound listener").port())
}

/// A new, empty directory under the system temporary directory.
fn fresh_temp_dir(kind: &str) -> PathBuf {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    loop {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("obs-{kind}-{}-{n}", std::process::id()));
        match fs::create_dir(&dir) {
            Ok(()) => return dir,
            Err(err) if err.kind() == io::ErrorKind::AlreadyExists => {}
            Err(err) => panic!("create the temporary directory {}: {err}", dir.display()),
        }
    }
}

/// A log file the child writes its stdout and stderr to (appended: a restart keeps the old lines).
fn log_output(log: &Path) -> (Stdio, Stdio) {
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap_or_else(|err| panic!("open the log file {}: {err}", log.display()));
    let copy = file.try_clone().unwrap_or_else(|err| panic!("duplicate the log file {}: {err}", log.display()));
    (Stdio::from(file), Stdio::from(copy))
}

/// The last lines of a log file, for panic messages.
fn log_tail(log: &Path) -> String {
    let text = fs::read_to_string(log).unwrap_or_else(|err| format!("(cannot read {}: {err})", log.display()));
    let lines: Vec<&str> = text.lines().collect();
    let tail = lines[lines.len().saturating_sub(30)..].join("\n");
    format!("--- last lines of {} ---\n{tail}", log.display())
}

/// Whether a TCP connection to 127.0.0.1:`port` is accepted.
fn accepts(port: u16) -> bool {
    TcpStream::connect_timeout(&SocketAddr::from((Ipv4Addr::LOCALHOST, port)), Duration::from_millis(500)).is_ok()
}

/// Whether this process runs as root (PostgreSQL refuses to); asks `id -u` to stay std-only.
fn running_as_root() -> bool {
    let output = Command::new("id").arg("-u").output().expect("run `id -u`");
    assert!(output.status.success(), "`id -u` failed: {}", output.status);
    String::from_utf8_lossy(&output.stdout).trim() == "0"
}

/// Sends `signal` (a name such as `QUIT`) to `pid` with the `kill` command; false if that failed.
fn signal(pid: u32, signal: &str) -> bool {
    Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// Waits up to `timeout` for `child` to exit; true if it did.
fn wait_for_exit(child: &mut Child, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(_)) => return true,
            Ok(None) if Instant::now() < deadline => thread::sleep(POLL),
            Ok(None) | Err(_) => return false,
        }
    }
}

/// Kills `child` and reaps it (it may have exited already).
fn kill_and_reap(child: &mut Child) {
    // Fails only when the child was reaped already, which is what this is for.
    let _ = child.kill();
    let _ = child.wait();
}

/// Spawns `command` (the server `name`) with its output going to `log`; panics, with how to
/// install it, when it is not installed.
fn spawn_logged(command: &mut Command, name: &str, log: &Path) -> Child {
    let (stdout, stderr) = log_output(log);
    match command.stdin(Stdio::null()).stdout(stdout).stderr(stderr).spawn() {
        Ok(child) => child,
        Err(err) if err.kind() == io::ErrorKind::NotFound => {
            panic!("{name} is not installed (not found on PATH): {INSTALL_HINT}")
        }
        Err(err) => panic!("spawn {name}: {err}"),
    }
}

/// Polls `ready` until it says yes (`Ok`), the child exits (it is then taken), or `timeout`
/// passes; `ready`'s `Err` is what the server last said, for the message.
fn wait_until_ready(
    child: &mut Option<Child>,
    what: &str,
    log: &Path,
    timeout: Duration,
    mut ready: impl FnMut() -> Result<(), String>,
) -> Result<(), NotReady> {
    let deadline = Instant::now() + timeout;
    loop {
        let exited = child.as_mut().and_then(|child| child.try_wait().ok().flatten());
        if let Some(status) = exited {
            *child = None;
            return Err(NotReady::Exited(format!("{what} exited before it was ready ({status})\n{}", log_tail(log))));
        }
        let last = match ready() {
            Ok(()) => return Ok(()),
            Err(last) => last,
        };
        if Instant::now() >= deadline {
            return Err(NotReady::TimedOut(format!(
                "{what} was not ready within {timeout:?} (last: {last})\n{}",
                log_tail(log)
            )));
        }
        thread::sleep(POLL);
    }
}

/// Why waiting for a server failed.
enum NotReady {
    /// The process exited (with this status): starting it again on another port may help.
    Exited(String),
    /// It still runs but did not become ready in time.
    TimedOut(String),
}

// --------------------------------------------------------------------------------------------------
// Redis

/// A `redis-server` on 127.0.0.1, without persistence (`--save '' --appendonly no`).
#[derive(Debug)]
pub struct Redis {
    child: Option<Child>,
    port: u16,
    dir: PathBuf,
}

impl Redis {
    /// Starts `redis-server` on a free port and waits until it answers `PING`.
    ///
    /// Panics when `redis-server` is not installed or does not become ready in ~10 s.
    pub fn start() -> Redis {
        let mut redis = Redis { child: None, port: 0, dir: fresh_temp_dir("redis") };
        start_on_a_free_port("redis-server", |port| {
            redis.port = port;
            redis.spawn_and_wait()
        });
        redis
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.port))
    }

    /// `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Sends `PING` over a new TCP connection and returns the reply line (`+PONG` when healthy).
    pub fn ping(&self) -> io::Result<String> {
        ping(self.port)
    }

    /// Stops the server with SIGSTOP: the kernel still accepts connections on its port, but
    /// nothing reads or answers them (a hung server, not a dead one) until [`resume`](Self::resume).
    pub fn pause(&self) {
        let pid = self.child.as_ref().expect("redis-server runs").id();
        assert!(signal(pid, "STOP"), "kill -STOP {pid} failed");
    }

    /// Lets a [`pause`](Self::pause)d server go on (SIGCONT).
    pub fn resume(&self) {
        let pid = self.child.as_ref().expect("redis-server runs").id();
        assert!(signal(pid, "CONT"), "kill -CONT {pid} failed");
    }

    /// Kills the server and waits for it: afterwards its port refuses connections. Idempotent.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            kill_and_reap(&mut child);
        }
    }

    /// Starts the server again on the same port (and data directory) and waits until it is ready.
    pub fn restart(&mut self) {
        self.stop();
        if let Err(NotReady::Exited(why) | NotReady::TimedOut(why)) = self.spawn_and_wait() {
            panic!("restarting redis-server on the same port: {why}");
        }
    }

    fn log(&self) -> PathBuf {
        self.dir.join("redis.log")
    }

    fn spawn_and_wait(&mut self) -> Result<(), NotReady> {
        let mut command = Command::new("redis-server");
        command
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no", "--logfile", ""])
            .arg("--dir")
            .arg(&self.dir);
        self.child = Some(spawn_logged(&mut command, "redis-server", &self.log()));
        let (port, log) = (self.port, self.log());
        wait_until_ready(&mut self.child, &format!("redis-server on port {port}"), &log, REDIS_READY_TIMEOUT, || {
            match ping(port) {
                Ok(reply) if reply == "+PONG" => Ok(()),
                Ok(reply) => Err(format!("it answered {reply:?} to PING")),
                Err(err) => Err(err.to_string()),
            }
        })
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.stop();
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// `PING` in RESP over a new connection to 127.0.0.1:`port`; the first reply line, without CRLF.
fn ping(port: u16) -> io::Result<String> {
    let mut stream =
        TcpStream::connect_timeout(&SocketAddr::from((Ipv4Addr::LOCALHOST, port)), Duration::from_millis(500))?;
    stream.set_read_timeout(Some(Duration::from_secs(1)))?;
    stream.set_write_timeout(Some(Duration::from_secs(1)))?;
    stream.write_all(b"*1\r\n$4\r\nPING\r\n")?;
    let mut reply = Vec::new();
    let mut buf = [0u8; 256];
    while !reply.ends_with(b"\r\n") {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "connection closed before a whole reply"));
        }
        reply.extend_from_slice(&buf[..n]);
    }
    Ok(String::from_utf8_lossy(&reply).trim_end().to_owned())
}

// --------------------------------------------------------------------------------------------------
// PostgreSQL

/// A PostgreSQL server on 127.0.0.1 with a fresh cluster (`initdb`, user `postgres`, trust auth),
/// its unix socket inside its temporary directory.
///
/// PostgreSQL refuses to run as root: when the tests do, `initdb` and `postgres` run through
/// `runuser -u postgres --` (the Debian package creates that user) and the directory is given to it.
#[derive(Debug)]
pub struct Postgres {
    /// `postgres` itself, or `runuser` (which forks it and waits) when running as root.
    child: Option<Child>,
    port: u16,
    dir: PathBuf,
    bin: PathBuf,
    as_postgres_user: bool,
}

impl Postgres {
    /// Creates a cluster, starts it on a free port and waits until `pg_isready` says so.
    ///
    /// Panics when PostgreSQL is not installed or does not become ready in ~20 s.
    pub fn start() -> Postgres {
        let bin = postgres_bin();
        let as_postgres_user = running_as_root();
        let mut postgres = Postgres { child: None, port: 0, dir: fresh_temp_dir("postgres"), bin, as_postgres_user };
        fs::create_dir(postgres.socket_dir()).expect("create the unix socket directory");
        postgres.initdb();
        start_on_a_free_port("postgres", |port| {
            postgres.port = port;
            postgres.spawn_and_wait()
        });
        postgres
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.port))
    }

    /// `postgres://postgres@127.0.0.1:PORT/postgres`.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// The directory with `psql`, `pg_isready` and the other tools of this server's version.
    pub fn bin_dir(&self) -> &Path {
        &self.bin
    }

    /// Whether `pg_isready -h 127.0.0.1 -p PORT` says the server accepts connections.
    pub fn is_ready(&self) -> bool {
        Command::new(self.bin.join("pg_isready"))
            .args(["-q", "-t", "2", "-h", "127.0.0.1", "-p", &self.port.to_string()])
            .stdin(Stdio::null())
            .status()
            .unwrap_or_else(|err| panic!("run {}: {err}", self.bin.join("pg_isready").display()))
            .success()
    }

    /// Stops the server (immediate shutdown, killed if it lingers) and waits for it: afterwards its
    /// port refuses connections. Idempotent.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else { return };
        // SIGQUIT to the postmaster is `pg_ctl stop -m immediate`. Under runuser the child is
        // runuser, which forks postgres: killing runuser would leave postgres running, so signal
        // the postmaster by the PID in its pid file (runuser forwards TERM when there is none yet).
        let postmaster = self.postmaster_pid();
        let signalled = match postmaster {
            Some(pid) => signal(pid, "QUIT"),
            None if self.as_postgres_user => signal(child.id(), "TERM"),
            None => signal(child.id(), "QUIT"),
        };
        if !signalled || !wait_for_exit(&mut child, STOP_TIMEOUT) {
            if let Some(pid) = postmaster {
                signal(pid, "KILL");
            }
            kill_and_reap(&mut child);
        }
        let _ = child.wait();
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    fn socket_dir(&self) -> PathBuf {
        self.dir.join("sock")
    }

    fn log(&self) -> PathBuf {
        self.dir.join("postgres.log")
    }

    /// The postmaster's PID: the first line of `postmaster.pid` in the data directory.
    fn postmaster_pid(&self) -> Option<u32> {
        let text = fs::read_to_string(self.data_dir().join("postmaster.pid")).ok()?;
        text.lines().next()?.trim().parse().ok()
    }

    /// `program` (from the bin directory), through `runuser -u postgres --` when running as root.
    fn command(&self, program: &str) -> Command {
        let program = self.bin.join(program);
        if self.as_postgres_user {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(program);
            command
        } else {
            Command::new(program)
        }
    }

    fn initdb(&self) {
        if self.as_postgres_user {
            // Created now so that the chown covers it; postgres then appends to it through the
            // descriptor it inherits.
            File::create(self.log()).expect("create the postgres log file");
            let status = Command::new("chown")
                .args(["-R", "postgres:"])
                .arg(&self.dir)
                .status()
                .expect("run chown to give the temporary directory to the postgres user");
            assert!(
                status.success(),
                "`chown -R postgres: {}` failed ({status}): running as root needs the `postgres` user of the \
                 Debian package; {INSTALL_HINT}",
                self.dir.display()
            );
        }
        let output = self
            .command("initdb")
            .arg("-D")
            .arg(self.data_dir())
            .args(["-U", "postgres", "--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync"])
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|err| panic!("run initdb from {}: {err}", self.bin.display()));
        if !output.status.success() {
            let hint = if self.as_postgres_user {
                format!(
                    "; it ran as the postgres user, which must be able to reach {} (set TMPDIR to a directory it \
                     can traverse)",
                    self.dir.display()
                )
            } else {
                String::new()
            };
            panic!(
                "initdb -D {} failed ({}){hint}\n--- stdout ---\n{}\n--- stderr ---\n{}",
                self.data_dir().display(),
                output.status,
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
        }
    }

    fn spawn_and_wait(&mut self) -> Result<(), NotReady> {
        let (stdout, stderr) = log_output(&self.log());
        let child = self
            .command("postgres")
            .arg("-D")
            .arg(self.data_dir())
            .args(["-p", &self.port.to_string()])
            .arg("-k")
            .arg(self.socket_dir())
            .args(["-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"])
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|err| panic!("spawn postgres from {}: {err}", self.bin.display()));
        self.child = Some(child);
        let deadline = Instant::now() + POSTGRES_READY_TIMEOUT;
        loop {
            let exited = self.child.as_mut().and_then(|child| child.try_wait().ok().flatten());
            if let Some(status) = exited {
                self.child = None;
                return Err(NotReady::Exited(format!(
                    "postgres on port {} exited before accepting connections ({status})\n{}",
                    self.port,
                    log_tail(&self.log())
                )));
            }
            if accepts(self.port) && self.is_ready() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(NotReady::TimedOut(format!(
                    "postgres on port {} did not accept connections (TCP and pg_isready) within \
                     {POSTGRES_READY_TIMEOUT:?}\n{}",
                    self.port,
                    log_tail(&self.log())
                )));
            }
            thread::sleep(POLL);
        }
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        self.stop();
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// `/usr/lib/postgresql/<newest version>/bin`, the one that has `initdb`.
fn postgres_bin() -> PathBuf {
    let Ok(entries) = fs::read_dir(POSTGRES_LIB) else { postgres_missing() };
    let mut versions: Vec<(Vec<u32>, PathBuf)> = entries
        .filter_map(Result::ok)
        .filter(|entry| entry.path().join("bin").join("initdb").is_file())
        .map(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            let version = name.split('.').map(|part| part.parse().unwrap_or(0)).collect();
            (version, entry.path().join("bin"))
        })
        .collect();
    versions.sort();
    match versions.pop() {
        Some((_, bin)) => bin,
        None => postgres_missing(),
    }
}

fn postgres_missing() -> ! {
    panic!("PostgreSQL is not installed (no {POSTGRES_LIB}/<version>/bin/initdb): {INSTALL_HINT}")
}

// --------------------------------------------------------------------------------------------------
// Alertmanager

/// How long Alertmanager may take to answer `/-/ready` after it is spawned.
const ALERTMANAGER_READY_TIMEOUT: Duration = Duration::from_secs(20);

/// A `prometheus-alertmanager` on 127.0.0.1 (its cluster port off), routing every alert to one
/// webhook with `group_wait` and `group_interval` of 1 s, resolutions included.
#[derive(Debug)]
pub struct Alertmanager {
    child: Option<Child>,
    port: u16,
    dir: PathBuf,
}

impl Alertmanager {
    /// Starts Alertmanager on a free port, routing to `webhook_url`, and waits until it is ready.
    pub fn start(webhook_url: &str) -> Alertmanager {
        let dir = fresh_temp_dir("alertmanager");
        let config = format!(
            "route:\n  receiver: test\n  group_by: ['alertname']\n  group_wait: 1s\n  group_interval: 1s\n  \
             repeat_interval: 1h\nreceivers:\n  - name: test\n    webhook_configs:\n      - url: '{webhook_url}'\n        \
             send_resolved: true\n"
        );
        fs::write(dir.join("alertmanager.yml"), config).expect("write the Alertmanager config");
        let mut alertmanager = Alertmanager { child: None, port: 0, dir };
        start_on_a_free_port("prometheus-alertmanager", |port| {
            alertmanager.port = port;
            alertmanager.spawn_and_wait()
        });
        alertmanager
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn log(&self) -> PathBuf {
        self.dir.join("alertmanager.log")
    }

    fn spawn_and_wait(&mut self) -> Result<(), NotReady> {
        let mut command = Command::new("prometheus-alertmanager");
        command
            .arg(format!("--config.file={}", self.dir.join("alertmanager.yml").display()))
            .arg(format!("--storage.path={}", self.dir.join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{}", self.port))
            // Empty: no cluster listener (it would open 0.0.0.0:9094).
            .arg("--cluster.listen-address=");
        self.child = Some(spawn_logged(&mut command, "prometheus-alertmanager", &self.log()));
        let (port, log) = (self.port, self.log());
        let what = format!("prometheus-alertmanager on port {port}");
        wait_until_ready(&mut self.child, &what, &log, ALERTMANAGER_READY_TIMEOUT, || {
            let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
            match super::get(addr, "/-/ready") {
                Ok(response) if response.status == 200 => Ok(()),
                Ok(response) => Err(format!("/-/ready answered {}", response.status)),
                Err(err) => Err(err.to_string()),
            }
        })
    }
}

impl Drop for Alertmanager {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            kill_and_reap(&mut child);
        }
        let _ = fs::remove_dir_all(&self.dir);
    }
}
