//! The observability port under hostile clients, over real sockets: bad clients connect from
//! 127.0.0.2 and up, the well-behaved one from 127.0.0.1. Every wait is on a gate (a connection
//! closed, a counter moved, a check started); no assertion reads a clock.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, Mutex, PoisonError};
use std::time::{Duration, Instant};

use common::{get, sample, scrape};
use obs_runtime::health::{HealthCheck, HealthChecker};
use obs_runtime::{Obs, ObsGuard};

/// The counters and the open gauge are process-wide: one scenario at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(PoisonError::into_inner)
}

fn closed(reason: &str) -> f64 {
    sample(&scrape(), "obs_http_connections_closed_total", &[("reason", reason)]).expect("registered at start")
}

fn open() -> f64 {
    sample(&scrape(), "obs_http_connections_open", &[]).expect("registered at start")
}

/// Waits (polling, at most a minute) until `done`; panics naming `what` otherwise.
fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let give_up = Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(Instant::now() < give_up, "gave up waiting until {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A client socket bound to 127.0.0.`last` (every 127/8 address is loopback on Linux).
fn connect_from(last: u8, to: SocketAddr) -> std::io::Result<TcpStream> {
    static RUNTIME: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
        // Multi-threaded: many client threads connect through it at once.
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("a runtime for connecting")
    });
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(IpAddr::from([127, 0, 0, last]), 0))?;
    let stream = RUNTIME.block_on(socket.connect(to))?.into_std()?;
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(Duration::from_secs(60)))?;
    Ok(stream)
}

/// Reads until the server closes the connection (a reset counts as closed too).
fn wait_closed(stream: &mut TcpStream) -> Vec<u8> {
    let mut seen = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) => return seen,
            Ok(read) => seen.extend_from_slice(&buffer[..read]),
            Err(error) if error.kind() == ErrorKind::ConnectionReset => return seen,
            Err(error) => panic!("the server did not close the connection: {error}"),
        }
    }
}

/// Sends one request on `stream` and reads its response (its `Content-Length` body), keeping the
/// connection open.
fn exchange(stream: &mut TcpStream, path: &str) -> String {
    stream.write_all(format!("GET {path} HTTP/1.1\r\nHost: obs\r\n\r\n").as_bytes()).expect("request");
    let mut raw = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        let text = String::from_utf8_lossy(&raw).into_owned();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length = head
                .lines()
                .find_map(|line| line.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_owned()))
                .and_then(|value| value.parse::<usize>().ok())
                .expect("a Content-Length");
            if body.len() >= length {
                return text;
            }
        }
        let read = stream.read(&mut buffer).expect("response");
        assert!(read > 0, "closed mid-response: {text}");
        raw.extend_from_slice(&buffer[..read]);
    }
}

fn server(builder: obs_runtime::ObsBuilder) -> (ObsGuard, SocketAddr) {
    let obs = builder.http_addr("127.0.0.1:0").init().expect("server starts");
    let addr = obs.http_addr().expect("running");
    (obs, addr)
}

#[test]
fn a_full_server_evicts_the_connection_idle_longest_for_a_newcomer() {
    let _serial = serial();
    let (_obs, addr) = server(
        Obs::builder().max_connections(2).max_connections_per_peer(None).header_timeout(Duration::from_secs(60)),
    );
    let evicted = closed("evicted");
    let mut oldest = connect_from(2, addr).expect("connect");
    wait_until("the first connection holds a slot", || open() == 1.0);
    let mut younger = connect_from(3, addr).expect("connect");
    wait_until("both hold a slot", || open() == 2.0);
    let mut newcomer = connect_from(4, addr).expect("connect");
    assert!(exchange(&mut newcomer, "/metrics").starts_with("HTTP/1.1 200"));
    assert!(wait_closed(&mut oldest).is_empty(), "the oldest idle connection gave way, unanswered");
    assert_eq!(closed("evicted"), evicted + 1.0);
    // The younger one kept its slot and is served.
    assert!(exchange(&mut younger, "/health/live").starts_with("HTTP/1.1 200"));
}

/// A check that tells when it starts and finishes only when the test says so.
fn gated_check(name: &str) -> (HealthCheck, std::sync::mpsc::Receiver<()>, Arc<tokio::sync::Semaphore>) {
    let (started, starts) = std::sync::mpsc::channel::<()>();
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    let check_gate = gate.clone();
    let check = HealthCheck::new(name, move || {
        let started = started.clone();
        let gate = check_gate.clone();
        async move {
            let _ = started.send(());
            let _permit = gate.acquire().await;
            Ok::<(), String>(())
        }
    })
    .timeout(Duration::from_secs(120));
    (check, starts, gate)
}

#[test]
fn a_newcomer_is_refused_only_when_every_slot_serves_a_request() {
    let _serial = serial();
    let health = HealthChecker::new();
    // No background run in the way: the probe's is the only one.
    let (_obs, addr) = server(
        Obs::builder().max_connections(1).health(health.clone()).health_refresh_interval(Duration::from_secs(3600)),
    );
    // Registered after init, so the first run that starts it is the probe's.
    let (check, starts, gate) = gated_check("gated_refusal");
    health.register(check).expect("registers");
    let refused = closed("limit");
    let probe = std::thread::spawn(move || {
        let mut probe = connect_from(2, addr).expect("connect");
        exchange(&mut probe, "/health")
    });
    starts.recv_timeout(Duration::from_secs(60)).expect("the probe's run starts: its request is being served");
    let mut newcomer = connect_from(3, addr).expect("the kernel accepts");
    assert!(wait_closed(&mut newcomer).is_empty(), "refused, unanswered");
    assert_eq!(closed("limit"), refused + 1.0);
    gate.add_permits(1_000);
    assert!(probe.join().expect("probe").starts_with("HTTP/1.1 200"));
}

#[test]
fn the_per_peer_cap_takes_the_peers_own_connection_and_can_be_switched_off() {
    let _serial = serial();
    {
        let (_obs, addr) = server(Obs::builder().max_connections_per_peer(2).header_timeout(Duration::from_secs(60)));
        let evicted = closed("evicted");
        let mut first = connect_from(2, addr).expect("connect");
        wait_until("one open", || open() == 1.0);
        let _second = connect_from(2, addr).expect("connect");
        let mut other_peer = connect_from(3, addr).expect("connect");
        wait_until("three open", || open() == 3.0);
        let mut third = connect_from(2, addr).expect("connect");
        assert!(exchange(&mut third, "/health/live").starts_with("HTTP/1.1 200"));
        assert!(wait_closed(&mut first).is_empty(), "the peer's oldest connection made room");
        assert_eq!(closed("evicted"), evicted + 1.0);
        assert!(exchange(&mut other_peer, "/health/live").starts_with("HTTP/1.1 200"), "other peers are untouched");
    }
    wait_until("the first server's connections are gone", || open() == 0.0);
    let (_obs, addr) = server(Obs::builder().max_connections_per_peer(None).header_timeout(Duration::from_secs(60)));
    let evicted = closed("evicted");
    let mut same_peer: Vec<TcpStream> = (0..20).map(|_| connect_from(2, addr).expect("connect")).collect();
    wait_until("all twenty open", || open() == 20.0);
    for stream in &mut same_peer {
        assert!(exchange(stream, "/health/live").starts_with("HTTP/1.1 200"));
    }
    assert_eq!(closed("evicted"), evicted);
}

#[test]
fn an_environment_cap_of_zero_means_none_and_a_bad_one_is_an_err() {
    let _serial = serial();
    let bad = Obs::builder().http_addr("127.0.0.1:0").max_connections_per_peer(0).init().expect_err("zero in code");
    assert!(matches!(bad, obs_runtime::ConfigError::Invalid { field: "max_connections_per_peer", .. }), "{bad:?}");
    for (field, builder) in [
        ("write_timeout", Obs::builder().write_timeout(Duration::ZERO)),
        ("connection_lifetime", Obs::builder().connection_lifetime(Duration::from_secs(86_400))),
    ] {
        let error = builder.http_addr("127.0.0.1:0").init().expect_err(field);
        assert!(matches!(error, obs_runtime::ConfigError::Invalid { field: f, .. } if f == field), "{error:?}");
    }
}

#[test]
fn timeouts_close_stuck_connections_and_count_each_reason() {
    let _serial = serial();
    // Short enough for a quick test, long enough that a loaded machine's pauses between a
    // client's connect and its request do not end a connection early.
    let short = Duration::from_secs(1);
    let long = Duration::from_secs(120);

    // Headers that never finish.
    let (obs, addr) = server(Obs::builder().header_timeout(short));
    let before = closed("header_timeout");
    let mut partial = connect_from(2, addr).expect("connect");
    partial.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n").expect("half a request");
    assert!(!String::from_utf8_lossy(&wait_closed(&mut partial)).contains("200 OK"));
    assert_eq!(closed("header_timeout"), before + 1.0);

    // A kept-alive connection that sends no next request.
    let before = closed("idle_timeout");
    let mut idle = connect_from(2, addr).expect("connect");
    assert!(exchange(&mut idle, "/health/live").starts_with("HTTP/1.1 200"));
    assert!(wait_closed(&mut idle).is_empty());
    assert_eq!(closed("idle_timeout"), before + 1.0);
    drop(obs);

    // A client that pipelines requests and never reads the answers.
    let (obs, addr) = server(Obs::builder().header_timeout(long).write_timeout(short));
    let before = closed("write_timeout");
    let pipeliner = connect_from(2, addr).expect("connect");
    pipeliner.set_nonblocking(true).expect("nonblocking");
    let request = b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
    let mut pipeliner = pipeliner;
    wait_until("the server gives up on the pipelining client", || {
        // Keep the server's read side fed until its writes are stuck (then this would block).
        let _ = pipeliner.write(request);
        closed("write_timeout") == before + 1.0
    });
    drop(obs);

    // A connection that stays busy past its lifetime is closed after its request.
    let (_obs, addr) = server(Obs::builder().header_timeout(long).connection_lifetime(short));
    let before = closed("lifetime");
    let mut kept = connect_from(2, addr).expect("connect");
    assert!(exchange(&mut kept, "/health/live").starts_with("HTTP/1.1 200"));
    assert!(wait_closed(&mut kept).is_empty());
    assert_eq!(closed("lifetime"), before + 1.0);
}

#[test]
fn malformed_and_oversized_requests_are_answered_closed_and_counted() {
    let _serial = serial();
    let (_obs, addr) = server(Obs::builder());
    let before = (closed("bad_request"), closed("header_too_large"));
    let mut garbage = connect_from(2, addr).expect("connect");
    garbage.write_all(b"NOT HTTP AT ALL\r\n\r\n").expect("garbage");
    let answer = String::from_utf8_lossy(&wait_closed(&mut garbage)).into_owned();
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    let mut huge = connect_from(2, addr).expect("connect");
    let head = format!("GET /metrics HTTP/1.1\r\nX-Filler: {}\r\n\r\n", "a".repeat(64 * 1024));
    // The server may close before the whole head is written.
    let _ = huge.write_all(head.as_bytes());
    let _ = huge.shutdown(std::net::Shutdown::Write);
    wait_closed(&mut huge);
    wait_until("both are counted", || {
        (closed("bad_request"), closed("header_too_large")) == (before.0 + 1.0, before.1 + 1.0)
    });
}

#[test]
fn a_client_that_half_closes_after_its_request_gets_the_answer() {
    let _serial = serial();
    let (_obs, addr) = server(Obs::builder());
    for _ in 0..50 {
        let mut client = connect_from(2, addr).expect("connect");
        client.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").expect("request");
        client.shutdown(std::net::Shutdown::Write).expect("half-close");
        let response = String::from_utf8(wait_closed(&mut client)).expect("UTF-8");
        assert!(response.starts_with("HTTP/1.1 200"), "{response}");
        assert!(response.contains("obs_http_connections_open"), "the whole body arrived");
    }
}

#[test]
fn a_scrape_never_waits_for_a_health_check() {
    let _serial = serial();
    let (check, starts, gate) = gated_check("gated_scrape");
    let health = HealthChecker::new();
    health.register(check).expect("registers");
    let (_obs, addr) = server(Obs::builder().health(health));
    starts.recv_timeout(Duration::from_secs(60)).expect("the first run starts at init");
    // The check hangs (until the gate opens): the scrape answers with what there is, and there is
    // no report to be old yet.
    let scrape = get(addr, "/metrics").expect("scrape");
    assert_eq!(scrape.status, 200);
    let age = sample(&scrape.body, "health_report_age_seconds", &[]).expect("the age gauge");
    assert!(age.is_nan(), "no report yet, so no age: {age}");
    assert_eq!(sample(&scrape.body, "health_check_status", &[("check", "gated_scrape")]), None, "no report yet");
    gate.add_permits(1_000);
    // The background run finishes; scrapes serve its result, and its age.
    wait_until("a scrape shows the check's result", || {
        let body = get(addr, "/metrics").expect("scrape").body;
        sample(&body, "health_check_status", &[("check", "gated_scrape")]) == Some(1.0)
            && sample(&body, "health_report_age_seconds", &[]).is_some_and(|age| age >= 0.0)
    });
}

/// One well-behaved request from 127.0.0.1 on a new connection: its status line and body, and how
/// long it took (for BENCHMARKS.md, never asserted).
fn well_behaved(addr: SocketAddr, path: &str) -> (String, Duration) {
    let started = Instant::now();
    let mut client = connect_from(1, addr).expect("the scraper connects");
    client
        .write_all(format!("GET {path} HTTP/1.1\r\nHost: obs\r\nConnection: close\r\n\r\n").as_bytes())
        .expect("request");
    let response = String::from_utf8(wait_closed(&mut client)).expect("UTF-8");
    (response, started.elapsed())
}

/// p50, p99 and max of `latencies`.
fn summary(latencies: &mut [Duration]) -> String {
    latencies.sort();
    let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize];
    format!("{} requests, p50 {:?}, p99 {:?}, max {:?}", latencies.len(), at(0.5), at(0.99), at(1.0))
}

/// Bad clients of every kind at once, from their own addresses, for as long as the test runs.
struct Attack {
    stop: Arc<AtomicBool>,
    progress: Arc<Progress>,
    threads: Vec<std::thread::JoinHandle<()>>,
    _idle: Vec<TcpStream>,
}

/// How far each kind of bad client got: the test waits until every kind is at work.
#[derive(Debug, Default)]
struct Progress {
    trickled_bytes: AtomicUsize,
    reconnects: AtomicUsize,
    pipelined_requests: AtomicUsize,
}

impl Progress {
    fn get(&self) -> [usize; 3] {
        [&self.trickled_bytes, &self.reconnects, &self.pipelined_requests].map(|count| count.load(Ordering::Relaxed))
    }
}

/// Which address each kind of bad client connects from.
#[derive(Debug, Clone, Copy)]
enum Addresses {
    /// Each kind from addresses of its own, 127.0.0.2 and up.
    Spread,
    /// Everyone from 127.0.0.1, as behind a sidecar proxy.
    Proxy,
}

impl Addresses {
    fn of(self, spread: u8) -> u8 {
        match self {
            Addresses::Spread => spread,
            Addresses::Proxy => 1,
        }
    }
}

impl Attack {
    fn start(addr: SocketAddr, from: Addresses) -> Attack {
        let stop = Arc::new(AtomicBool::new(false));
        let progress = Arc::new(Progress::default());
        let mut threads = Vec::new();
        // 300 connected, silent connections from 127.0.0.2-21.
        let idle: Vec<TcpStream> =
            (0..300).map(|n| connect_from(from.of(2 + (n % 20) as u8), addr).expect("connect")).collect();
        // 40 clients trickling their headers a byte at a time, from 127.0.0.30-33; reconnecting
        // when cut.
        let trickle_stop = stop.clone();
        let trickled = progress.clone();
        threads.push(std::thread::spawn(move || {
            let request = b"GET /metrics HTTP/1.1\r\nHost: obs\r\nX-Slow: ";
            let mut clients: Vec<(u8, Option<TcpStream>, usize)> =
                (0..40).map(|n| (from.of(30 + (n % 4) as u8), None, 0)).collect();
            while !trickle_stop.load(Ordering::Relaxed) {
                for (from, stream, sent) in &mut clients {
                    if stream.is_none() {
                        *stream = connect_from(*from, addr).ok();
                        *sent = 0;
                    }
                    let byte = [request.get(*sent).copied().unwrap_or(b'a')];
                    match stream.as_mut().map(|s| s.write_all(&byte)) {
                        Some(Ok(())) => _ = trickled.trickled_bytes.fetch_add(1, Ordering::Relaxed),
                        Some(Err(_)) => *stream = None,
                        None => {}
                    }
                    *sent += 1;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }));
        // 32 clients from 127.0.0.40-71 that reconnect as soon as they are cut: with the tricklers
        // and the pipeliners they alone are more than the slots, so they keep cutting each other.
        for n in 0..32u8 {
            let stop = stop.clone();
            let reconnected = progress.clone();
            threads.push(std::thread::spawn(move || {
                let mut rounds = 0;
                while !stop.load(Ordering::Relaxed) && rounds < 100_000 {
                    rounds += 1;
                    let Ok(mut stream) = connect_from(from.of(40 + n), addr) else { continue };
                    reconnected.reconnects.fetch_add(1, Ordering::Relaxed);
                    let _ = stream.set_read_timeout(Some(Duration::from_millis(200)));
                    let mut buffer = [0u8; 64];
                    // Silent until cut (or until the test ends).
                    loop {
                        match stream.read(&mut buffer) {
                            Ok(0) => break,
                            Err(error) if error.kind() == ErrorKind::ConnectionReset => break,
                            _ if stop.load(Ordering::Relaxed) => break,
                            _ => {}
                        }
                    }
                }
            }));
        }
        // 8 clients from 127.0.0.80-87 that pipeline scrapes and never read; reconnecting when cut.
        let pipeline_stop = stop.clone();
        let pipelined = progress.clone();
        threads.push(std::thread::spawn(move || {
            // 100 requests a write: the server's answers pile up unread in a few rounds.
            let request = b"GET /metrics HTTP/1.1\r\nHost: obs\r\n\r\n".repeat(100);
            let mut clients: Vec<(u8, Option<TcpStream>)> = (0..8).map(|n| (from.of(80 + n), None)).collect();
            while !pipeline_stop.load(Ordering::Relaxed) {
                for (from, stream) in &mut clients {
                    if stream.is_none() {
                        *stream = connect_from(*from, addr).ok();
                        if let Some(s) = stream {
                            let _ = s.set_nonblocking(true);
                        }
                    }
                    if let Some(s) = stream {
                        match s.write(&request) {
                            // Once the server's answers pile up unread, it stops reading.
                            Err(error) if error.kind() == ErrorKind::WouldBlock => {}
                            Err(_) => *stream = None,
                            Ok(written) => _ = pipelined.pipelined_requests.fetch_add(written / 36, Ordering::Relaxed),
                        }
                    }
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        }));
        Attack { stop, progress, threads, _idle: idle }
    }

    fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        for thread in self.threads {
            thread.join().expect("attacker thread");
        }
    }
}

#[test]
fn the_port_keeps_answering_a_scraper_and_probes_while_hundreds_of_bad_clients_hold_it() {
    // The defaults: 64 connections, 16 per peer, 5 s headers, 10 s writes.
    under_attack(Obs::builder(), Addresses::Spread);
}

#[test]
fn behind_a_proxy_with_no_per_peer_cap_the_port_still_answers() {
    // Every client, the scraper included, is 127.0.0.1: only the eviction order protects it.
    under_attack(Obs::builder().max_connections_per_peer(None), Addresses::Proxy);
}

/// Serves a scraper and probes from 127.0.0.1 while every kind of bad client is at work.
fn under_attack(builder: obs_runtime::ObsBuilder, from: Addresses) {
    let _serial = serial();
    let health = HealthChecker::new();
    health.register(HealthCheck::new("fine", || async { Ok::<(), String>(()) })).expect("registers");
    let (_obs, addr) = server(builder.health(health));
    // The same requests with nobody else connected, for comparison.
    let mut quiet: Vec<Duration> = (0..30)
        .flat_map(|_| ["/metrics", "/health/live", "/health/ready"])
        .map(|path| {
            let (response, took) = well_behaved(addr, path);
            assert!(response.starts_with("HTTP/1.1 200"), "{response}");
            took
        })
        .collect();
    let evicted = closed("evicted");
    let attack = Attack::start(addr, from);
    // The 300 idle connections alone are more than the 64 slots; every other kind is at work.
    let give_up = Instant::now() + Duration::from_secs(120);
    loop {
        let [trickled, reconnects, pipelined] = attack.progress.get();
        let evictions = closed("evicted") - evicted;
        if evictions >= 300.0 - 64.0 && trickled >= 400 && reconnects >= 64 && pipelined >= 10_000 {
            break;
        }
        let state = format!("evicted {evictions}, trickled {trickled}, reconnects {reconnects}, pipelined {pipelined}");
        assert!(Instant::now() < give_up, "the attack never got going: {state}");
        std::thread::sleep(Duration::from_millis(5));
    }
    let before = attack.progress.get();
    let mut latencies = Vec::new();
    // The scraper and the probes go on until every kind of bad client has made progress while
    // they were being served (at least 30 rounds, at most 3,000).
    let mut rounds = 0;
    let mut after = before;
    while rounds < 30 || (rounds < 3_000 && !before.iter().zip(&after).all(|(before, after)| after > before)) {
        rounds += 1;
        for path in ["/metrics", "/health/live", "/health/ready"] {
            let (response, took) = well_behaved(addr, path);
            latencies.push(took);
            assert!(response.starts_with("HTTP/1.1 200"), "round {rounds} {path}: {response}");
            if path == "/metrics" {
                assert!(response.contains("obs_http_connections_closed_total{reason=\"evicted\"}"), "{response}");
            }
        }
        after = attack.progress.get();
    }
    let during = scrape();
    assert!(
        before.iter().zip(&after).all(|(before, after)| after > before),
        "every kind of bad client kept at it while the scraper was served: {before:?} -> {after:?}"
    );
    attack.stop();
    // Every bad client has gone: the table gives every slot back (no drift in the accounting).
    wait_until("every connection is closed", || open() == 0.0);
    // For BENCHMARKS.md (never asserted).
    eprintln!(
        "{from:?}: well-behaved requests: quiet {}; under attack {}; closed by reason: {}",
        summary(&mut quiet),
        summary(&mut latencies),
        ["evicted", "limit", "peer_limit", "header_timeout", "write_timeout", "idle_timeout", "lifetime"]
            .map(|reason| format!(
                "{reason}={}",
                sample(&during, "obs_http_connections_closed_total", &[("reason", reason)]).unwrap_or(0.0)
            ))
            .join(" ")
    );
}
