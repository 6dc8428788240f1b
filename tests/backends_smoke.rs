//! The test harness's real Redis and PostgreSQL (tests/common/backends.rs) start, answer, stop and
//! (Redis) restart on the same port. Ignored by default: `bash scripts/install-backends.sh`, then
//! `cargo test --test backends_smoke -- --include-ignored`.

mod common;

use std::net::TcpStream;
use std::time::Duration;

use common::backends::{Postgres, Redis};

#[test]
#[ignore = "needs redis-server and postgresql: scripts/install-backends.sh"]
fn redis_answers_stops_and_restarts_on_the_same_port() {
    let mut redis = Redis::start();
    let port = redis.port();
    assert_eq!(redis.url(), format!("redis://127.0.0.1:{port}"));
    assert_eq!(redis.ping().expect("PING a started redis"), "+PONG");

    redis.stop();
    let refused = TcpStream::connect_timeout(&redis.addr(), Duration::from_secs(1));
    assert!(refused.is_err(), "port {port} still accepts connections after stop");

    redis.restart();
    assert_eq!(redis.port(), port, "restart moved to another port");
    assert_eq!(redis.ping().expect("PING a restarted redis"), "+PONG");
}

#[test]
#[ignore = "needs redis-server and postgresql: scripts/install-backends.sh"]
fn postgres_accepts_connections_and_stops() {
    let mut postgres = Postgres::start();
    let port = postgres.port();
    assert_eq!(postgres.url(), format!("postgres://postgres@127.0.0.1:{port}/postgres"));
    TcpStream::connect_timeout(&postgres.addr(), Duration::from_secs(1)).expect("connect to postgres over TCP");
    assert!(postgres.is_ready(), "pg_isready does not say ready");

    postgres.stop();
    let refused = TcpStream::connect_timeout(&postgres.addr(), Duration::from_secs(1));
    assert!(refused.is_err(), "port {port} still accepts connections after stop");
}
