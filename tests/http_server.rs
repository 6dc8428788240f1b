//! The embedded server over real sockets: formats, routes, bounds, bad addresses, shutdown.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::{get, request};
use obs_runtime::{ConfigError, Obs};

fn start() -> obs_runtime::ObsGuard {
    Obs::builder().http_addr("127.0.0.1:0").init().expect("server starts")
}

#[obs_runtime::track_request("GET", "/server/users")]
fn users() -> Result<(), String> {
    Ok(())
}

// Its own site: tests run in parallel, and a shared site's count would depend on their order.
#[obs_runtime::track_request("GET", "/server/openmetrics")]
fn openmetrics_users() -> Result<(), String> {
    Ok(())
}

#[test]
fn serves_metrics_in_the_prometheus_text_format() {
    let obs = start();
    let addr = obs.http_addr().expect("running");
    users().ok();
    let response = get(addr, "/metrics").expect("scrape");
    assert_eq!(response.status, 200);
    assert_eq!(response.header("content-type"), Some("text/plain; version=0.0.4; charset=utf-8"));
    assert!(response.body.contains("# TYPE http_requests_total counter\n"), "{}", response.body);
    assert!(
        response.body.contains(r#"http_requests_total{method="GET",endpoint="/server/users",status="200"} 1"#),
        "{}",
        response.body
    );
    assert!(response.body.contains("# TYPE http_request_duration_seconds histogram\n"));
    assert!(response.body.contains("# TYPE process_cpu_seconds_total counter\n"));
    assert!(response.body.contains("\nmemory_usage_bytes "));
    assert!(response.body.contains("\nactive_connections "));
    assert!(!response.body.contains("# EOF"));
}

#[test]
fn serves_openmetrics_when_the_scraper_asks_for_it() {
    let obs = start();
    openmetrics_users().ok();
    // What Prometheus 2.42 sends (captured from a real scrape).
    let accept = "Accept: application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,\
                  text/plain;version=0.0.4;q=0.5,*/*;q=0.1\r\n";
    let response = request(obs.http_addr().expect("running"), "GET", "/metrics", accept).expect("scrape");
    assert_eq!(response.status, 200);
    assert_eq!(response.header("content-type"), Some("application/openmetrics-text; version=1.0.0; charset=utf-8"));
    assert!(response.body.contains("# TYPE http_requests counter\n"), "{}", response.body);
    assert!(response.body.contains("http_requests_total{"));
    assert!(response.body.ends_with("# EOF\n"));
}

#[test]
fn the_accept_header_is_weighed_by_q_and_a_tie_gets_text() {
    // Every header and its answer, with the official parsers reading the bodies: tests/exposition_parsers.rs.
    let obs = start();
    let addr = obs.http_addr().expect("running");
    for (accept, wanted) in [
        ("application/openmetrics-text;q=0.1, text/plain", "text/plain; version=0.0.4; charset=utf-8"),
        ("*/*", "text/plain; version=0.0.4; charset=utf-8"),
        ("application/openmetrics-text, text/plain", "text/plain; version=0.0.4; charset=utf-8"),
        ("text/plain;q=0, */*", "application/openmetrics-text; version=1.0.0; charset=utf-8"),
        ("text/plain;q=0.5, application/*;q=0.6", "application/openmetrics-text; version=1.0.0; charset=utf-8"),
    ] {
        let response = request(addr, "GET", "/metrics", &format!("Accept: {accept}\r\n")).expect("scrape");
        assert_eq!(response.status, 200, "{accept}");
        assert_eq!(response.header("content-type"), Some(wanted), "{accept}");
        assert_eq!(response.body.ends_with("# EOF\n"), wanted.starts_with("application/openmetrics-text"), "{accept}");
    }
}

#[test]
fn repeated_accept_lines_are_one_list() {
    let obs = start();
    let addr = obs.http_addr().expect("running");
    // Alone, the first line would give text (q=1 against nothing else); with the second, whose
    // OpenMetrics has the higher q, OpenMetrics.
    let lines = "Accept: text/plain;q=0.5\r\nAccept: application/openmetrics-text;version=1.0.0\r\n";
    let response = request(addr, "GET", "/metrics", lines).expect("scrape");
    assert_eq!(response.header("content-type"), Some("application/openmetrics-text; version=1.0.0; charset=utf-8"));
}

#[test]
fn unknown_paths_are_404_and_other_methods_405() {
    let obs = start();
    let addr = obs.http_addr().expect("running");
    assert_eq!(get(addr, "/nope").expect("request").status, 404);
    let post = request(addr, "POST", "/metrics", "Content-Length: 0\r\n").expect("request");
    assert_eq!(post.status, 405);
    assert_eq!(post.header("allow"), Some("GET, HEAD"));
    let head = request(addr, "HEAD", "/metrics", "").expect("request");
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
}

#[test]
fn an_address_in_use_is_an_err_naming_it() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = taken.local_addr().expect("addr");
    let error = Obs::builder().http_addr(addr.to_string()).init().expect_err("address is taken");
    assert!(matches!(error, ConfigError::HttpBind { addr: a, .. } if a == addr), "{error:?}");
    assert!(error.to_string().contains(&addr.to_string()), "{error}");
}

#[test]
fn a_malformed_address_is_an_err_naming_the_field() {
    for bad in ["not an address", "127.0.0.1", "127.0.0.1:99999", "256.0.0.1:80"] {
        let error = Obs::builder().http_addr(bad).init().expect_err(bad);
        assert!(matches!(error, ConfigError::Invalid { field: "http_addr", .. }), "{bad}: {error:?}");
        assert!(error.to_string().contains(bad), "{error}");
    }
}

#[test]
fn bad_limits_are_errs_naming_the_field() {
    let zero = Obs::builder().http_addr("127.0.0.1:0").max_connections(0).init().expect_err("zero");
    assert!(matches!(zero, ConfigError::Invalid { field: "max_connections", .. }));
    let small = Obs::builder().http_addr("127.0.0.1:0").max_header_bytes(100).init().expect_err("small");
    assert!(matches!(small, ConfigError::Invalid { field: "max_header_bytes", .. }));
    let instant = Obs::builder().http_addr("127.0.0.1:0").header_timeout(Duration::ZERO).init().expect_err("zero");
    assert!(matches!(instant, ConfigError::Invalid { field: "header_timeout", .. }));
    // Values so large they would overflow a semaphore, a deadline or a buffer are refused too.
    let many = Obs::builder().http_addr("127.0.0.1:0").max_connections(usize::MAX).init().expect_err("many");
    assert!(matches!(many, ConfigError::Invalid { field: "max_connections", .. }), "{many:?}");
    let forever = Obs::builder().http_addr("127.0.0.1:0").header_timeout(Duration::MAX).init().expect_err("forever");
    assert!(matches!(forever, ConfigError::Invalid { field: "header_timeout", .. }), "{forever:?}");
    let huge = Obs::builder().http_addr("127.0.0.1:0").max_header_bytes(usize::MAX).init().expect_err("huge");
    assert!(matches!(huge, ConfigError::Invalid { field: "max_header_bytes", .. }), "{huge:?}");
    assert!(huge.to_string().contains("max_header_bytes"), "{huge}");
}

#[test]
fn a_client_that_never_finishes_its_headers_is_dropped() {
    let obs = Obs::builder()
        .http_addr("127.0.0.1:0")
        .header_timeout(Duration::from_millis(200))
        .init()
        .expect("server starts");
    let mut slow = TcpStream::connect(obs.http_addr().expect("running")).expect("connect");
    slow.set_read_timeout(Some(Duration::from_secs(20))).expect("timeout");
    slow.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n").expect("partial request");
    let mut response = String::new();
    // The server closes the connection (possibly after a 408); it never serves the request. If the
    // timeout were not enforced, the read would hit the client's own 20 s timeout and error out.
    let read = slow.read_to_string(&mut response);
    assert!(read.is_ok(), "the server kept the connection open: {read:?}");
    assert!(!response.contains("200 OK"), "{response}");
}

#[test]
fn oversized_request_heads_are_refused() {
    let obs = start();
    let huge = format!("X-Filler: {}\r\n", "a".repeat(64 * 1024));
    let response = request(obs.http_addr().expect("running"), "GET", "/metrics", &huge);
    match response {
        Ok(response) => assert_eq!(response.status, 431, "{}", response.headers),
        // Or the server closed before the client finished writing.
        Err(error) => assert!(
            matches!(error.kind(), std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe),
            "{error}"
        ),
    }
}

#[test]
fn shutdown_stops_listening() {
    let obs = start();
    let addr = obs.http_addr().expect("running");
    assert_eq!(get(addr, "/metrics").expect("scrape").status, 200);
    obs.shutdown();
    assert!(TcpStream::connect_timeout(&addr, Duration::from_secs(2)).is_err(), "still listening on {addr}");
}

#[test]
fn shutdown_waits_for_an_open_keep_alive_connection_only_briefly() {
    // Catches: shutdown leaving an idle keep-alive connection open (or waiting it out) instead of
    // closing it; with a 10 min header (and idle) timeout only the shutdown can close it here.
    let obs =
        Obs::builder().http_addr("127.0.0.1:0").header_timeout(Duration::from_secs(600)).init().expect("server starts");
    let addr = obs.http_addr().expect("running");
    // A scraper that keeps its connection open between scrapes.
    let mut idle = TcpStream::connect(addr).expect("connect");
    idle.write_all(format!("GET /metrics HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes()).expect("request");
    let mut first = [0u8; 12];
    idle.read_exact(&mut first).expect("response starts");
    assert_eq!(&first, b"HTTP/1.1 200");
    obs.shutdown();
    // Graceful shutdown closed the idle keep-alive connection: the rest of the response, then
    // end of stream (a generous read timeout only bounds the test if it did not).
    idle.set_read_timeout(Some(Duration::from_secs(60))).expect("timeout");
    let mut rest = Vec::new();
    let closed = idle.read_to_end(&mut rest);
    let timed_out =
        |error: &std::io::Error| matches!(error.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut);
    assert!(!closed.as_ref().is_err_and(timed_out), "the idle connection was not closed by the shutdown: {closed:?}");
}

#[test]
fn shutdown_releases_the_port_and_cancels_a_stuck_connection() {
    let obs =
        Obs::builder().http_addr("127.0.0.1:0").header_timeout(Duration::from_secs(600)).init().expect("server starts");
    let addr = obs.http_addr().expect("running");
    // A client stuck in the middle of its headers: the header timeout alone would hold it 10 min.
    let mut stuck = TcpStream::connect(addr).expect("connect");
    stuck.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n").expect("partial request");
    // Make sure the server has accepted it before stopping.
    assert_eq!(get(addr, "/").expect("index").status, 200);
    obs.shutdown();
    // The port is free again at once: a new listener can take it.
    let rebound = std::net::TcpListener::bind(addr);
    assert!(rebound.is_ok(), "the port is still held: {rebound:?}");
    // And the stuck connection is closed by the server (after the grace), not left to the
    // 10-minute header timeout: the read ends well before the client's own 60 s timeout.
    stuck.set_read_timeout(Some(Duration::from_secs(60))).expect("timeout");
    let mut rest = Vec::new();
    let read = stuck.read_to_end(&mut rest);
    assert!(read.is_ok(), "the server never closed the connection: {read:?}");
}

#[test]
fn a_detached_server_keeps_serving() {
    let obs = start();
    let addr = obs.http_addr().expect("running");
    obs.detach();
    assert_eq!(get(addr, "/metrics").expect("still served").status, 200);
}
