//! What the span benchmarks share: obs's pipeline, installed once per process, exporting to a
//! counter (each bench is its own crate: `mod support;` in it).
#![allow(dead_code)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use obs_runtime::ObsGuard;
use obs_runtime::trace::{ExportError, Resource, SpanData, SpanExporter, SpanOutput, TraceConfig};

/// obs's exporter: counts the spans and drops them (obs's cost, not a collector's).
pub struct Counting(pub Arc<AtomicU64>);

impl SpanExporter for Counting {
    fn export(&mut self, batch: &[SpanData], _: &Resource, _: Duration) -> Result<(), ExportError> {
        self.0.fetch_add(batch.len() as u64, Ordering::Relaxed);
        Ok(())
    }
}

/// obs with tracing only, as `config` says, to a [`Counting`] exporter (the returned counter),
/// service `bench`, no embedded server, no environment read.
pub fn traces_only(config: TraceConfig) -> (ObsGuard, Arc<AtomicU64>) {
    let exported = Arc::new(AtomicU64::new(0));
    let obs = obs_runtime::Obs::builder()
        .environment(obs_runtime::Environment::empty())
        .service("bench")
        .without_http_server()
        .tracing(config.output(SpanOutput::Exporter(Box::new(Counting(exported.clone())))))
        .init()
        .expect("obs's trace pipeline installs");
    (obs, exported)
}

// ---------------------------------------------------------------------------------------------
// Allocations

/// A global allocator that forwards to the system's and counts, process-wide (every thread):
/// allocations (`alloc` and `realloc` calls), bytes asked for (each `alloc`'s size, each
/// `realloc`'s new size), bytes live, and the most bytes live since [`reset_peak`]; the counts
/// but the live bytes stop while [`set_counting`] is off (their shared atomics slow allocating
/// threads that run at once). A bench that wants it declares it:
/// `#[global_allocator] static ALLOCATOR: support::CountingAllocator = support::CountingAllocator;`
/// (not here: every bench that has `mod support;` would get it).
pub struct CountingAllocator;

static ALLOCATIONS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
static ALLOCATED_BYTES: AtomicU64 = AtomicU64::new(0);
static LIVE_BYTES: std::sync::atomic::AtomicIsize = std::sync::atomic::AtomicIsize::new(0);
static PEAK_BYTES: std::sync::atomic::AtomicIsize = std::sync::atomic::AtomicIsize::new(0);
static COUNTING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(true);

// SAFETY: forwards to the system allocator, counting on the side.
unsafe impl std::alloc::GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
            ALLOCATED_BYTES.fetch_add(layout.size() as u64, Ordering::Relaxed);
            let live = LIVE_BYTES.fetch_add(layout.size() as isize, Ordering::Relaxed) + layout.size() as isize;
            PEAK_BYTES.fetch_max(live, Ordering::Relaxed);
        }
        // SAFETY: the caller's contract is the system allocator's.
        unsafe { std::alloc::System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
        if COUNTING.load(Ordering::Relaxed) {
            LIVE_BYTES.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        }
        // SAFETY: as above.
        unsafe { std::alloc::System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: std::alloc::Layout, new_size: usize) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
            ALLOCATED_BYTES.fetch_add(new_size as u64, Ordering::Relaxed);
            let growth = new_size as isize - layout.size() as isize;
            let live = LIVE_BYTES.fetch_add(growth, Ordering::Relaxed) + growth;
            PEAK_BYTES.fetch_max(live, Ordering::Relaxed);
        }
        // SAFETY: as above.
        unsafe { std::alloc::System.realloc(ptr, layout, new_size) }
    }
}

/// Turns [`CountingAllocator`]'s counting off or back on (on at start). While off, frees are not
/// counted either: the live bytes are not to be read after it was off.
pub fn set_counting(on: bool) {
    COUNTING.store(on, Ordering::Relaxed);
}

/// Allocations so far ([`CountingAllocator`]).
pub fn allocations() -> usize {
    ALLOCATIONS.load(Ordering::Relaxed)
}

/// Bytes asked for so far ([`CountingAllocator`]).
pub fn allocated_bytes() -> u64 {
    ALLOCATED_BYTES.load(Ordering::Relaxed)
}

/// Bytes allocated and not freed ([`CountingAllocator`]).
pub fn live_bytes() -> isize {
    LIVE_BYTES.load(Ordering::Relaxed)
}

/// Starts a new peak at the bytes live now ([`peak_live_bytes`]).
pub fn reset_peak() {
    PEAK_BYTES.store(LIVE_BYTES.load(Ordering::Relaxed), Ordering::Relaxed);
}

/// The most bytes live at once since [`reset_peak`] ([`CountingAllocator`]).
pub fn peak_live_bytes() -> isize {
    PEAK_BYTES.load(Ordering::Relaxed)
}

// ---------------------------------------------------------------------------------------------
// CPU clocks

fn clock_ns(clock: libc::clockid_t) -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: a valid pointer to a timespec; the clock ids are the standard ones.
    let rc = unsafe { libc::clock_gettime(clock, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime");
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// (the whole process's CPU, the calling thread's CPU), nanoseconds.
pub fn cpu_clocks() -> (u64, u64) {
    (clock_ns(libc::CLOCK_PROCESS_CPUTIME_ID), clock_ns(libc::CLOCK_THREAD_CPUTIME_ID))
}

// ---------------------------------------------------------------------------------------------
// The loopback OTLP/HTTP receiver, a process of its own (its allocations and threads are not the
// measured process's)

/// The receiver's side: run by the bench re-executed with `--receiver` ([`Receiver::start`]).
/// Binds 127.0.0.1 on a free port and prints `PORT n`; serves HTTP/1.1 on one thread, each
/// connection kept alive: a `POST` to `path` is answered 200, `content-type:
/// application/x-protobuf` and an empty body (an empty `Export*ServiceResponse`), anything else
/// 404; every request goes to `keep` (whether it was a `POST` to `path`, whether it came gzipped,
/// its body) before the answer, into `S`. On each line `stats` of its standard input it takes `S`
/// (leaving a new one) and prints `STATS ` and what `stats` makes of it, on one line; it exits when
/// its standard input closes.
pub fn run_receiver<S: Default + Send + 'static>(
    path: &'static str,
    keep: impl Fn(&mut S, bool, bool, hyper::body::Bytes) + Send + Sync + 'static,
    mut stats: impl FnMut(S) -> String + Send + 'static,
) {
    use std::io::{BufRead as _, Write as _};
    use std::sync::Mutex;

    use http_body_util::BodyExt as _;
    let state = Arc::new(Mutex::new(S::default()));
    let keep = Arc::new(keep);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("binds loopback");
    listener.set_nonblocking(true).unwrap();
    println!("PORT {}", listener.local_addr().unwrap().port());
    std::io::stdout().flush().unwrap();

    // Between runs, on this thread: what was kept, as `stats` says it.
    let stats_state = state.clone();
    std::thread::spawn(move || {
        let stdin = std::io::stdin();
        for line in stdin.lock().lines() {
            let Ok(line) = line else { break };
            if line.trim() != "stats" {
                continue;
            }
            let kept = std::mem::take(&mut *stats_state.lock().unwrap());
            println!("STATS {}", stats(kept));
            std::io::stdout().flush().unwrap();
        }
        std::process::exit(0);
    });

    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::from_std(listener).unwrap();
        loop {
            let Ok((stream, _)) = listener.accept().await else { continue };
            let _ = stream.set_nodelay(true);
            let (state, keep) = (state.clone(), keep.clone());
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
                    let (state, keep) = (state.clone(), keep.clone());
                    async move {
                        let accepted = request.method() == hyper::Method::POST && request.uri().path() == path;
                        let gzip = request
                            .headers()
                            .get(hyper::header::CONTENT_ENCODING)
                            .is_some_and(|value| value.as_bytes().eq_ignore_ascii_case(b"gzip"));
                        let body = request.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
                        keep(&mut state.lock().unwrap(), accepted, gzip, body);
                        let status = if accepted { 200 } else { 404 };
                        Ok::<_, std::convert::Infallible>(
                            hyper::Response::builder()
                                .status(status)
                                .header(hyper::header::CONTENT_TYPE, "application/x-protobuf")
                                .body(http_body_util::Full::new(hyper::body::Bytes::new()))
                                .unwrap(),
                        )
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
        }
    });
}

/// The driver's side of [`run_receiver`]: the receiver process, started from this bench's own
/// executable with `--receiver`; killed when dropped.
pub struct Receiver {
    child: std::process::Child,
    input: Option<std::process::ChildStdin>,
    output: std::io::BufReader<std::process::ChildStdout>,
    /// The port it listens on, on 127.0.0.1.
    pub port: u16,
}

impl Receiver {
    pub fn start() -> Receiver {
        use std::io::BufRead as _;
        use std::process::{Command, Stdio};
        let exe = std::env::current_exe().expect("the bench's own path");
        let mut child = Command::new(&exe)
            .arg("--receiver")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("the receiver starts");
        let input = child.stdin.take();
        let mut output = std::io::BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        output.read_line(&mut line).unwrap();
        let port = line.trim().strip_prefix("PORT ").expect("PORT n").parse().unwrap();
        Receiver { child, input, output, port }
    }

    /// What the receiver kept since the last call, as its `stats` said it (the `STATS ` line).
    pub fn stats(&mut self) -> String {
        use std::io::{BufRead as _, Write as _};
        let input = self.input.as_mut().expect("the receiver's input");
        writeln!(input, "stats").unwrap();
        input.flush().unwrap();
        let mut line = String::new();
        self.output.read_line(&mut line).unwrap();
        line
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        // The receiver exits when its standard input closes; killed in case it did not.
        drop(self.input.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The number after `key=` in a line of `key=value` words.
pub fn field(line: &str, key: &str) -> u64 {
    line.split_whitespace()
        .find_map(|word| word.strip_prefix(key).and_then(|rest| rest.strip_prefix('=')))
        .unwrap_or_else(|| panic!("no {key} in {line}"))
        .parse::<i64>()
        .unwrap_or_else(|_| panic!("{key} in {line}")) as u64
}
