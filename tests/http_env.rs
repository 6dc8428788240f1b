//! `OBS_HTTP_ADDR` is read when the builder sets no address. Its own test binary: setting an
//! environment variable while other threads read the environment is not sound.

use obs_runtime::{ConfigError, Obs};

#[test]
fn obs_http_addr_is_used_and_a_bad_value_is_an_err_naming_the_variable() {
    // A port nobody listens on a moment ago: the server must be on exactly that one.
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("its address").port();
    // SAFETY: the only test in this binary; no other thread reads the environment meanwhile.
    unsafe { std::env::set_var("OBS_HTTP_ADDR", format!("127.0.0.1:{port}")) };
    let obs = obs_runtime::init().expect("starts on the address from the environment");
    assert_eq!(obs.http_addr(), Some(std::net::SocketAddr::from(([127, 0, 0, 1], port))));
    obs.shutdown();

    // SAFETY: as above.
    unsafe { std::env::set_var("OBS_HTTP_ADDR", "nonsense") };
    let error = obs_runtime::init().expect_err("a bad address");
    assert!(matches!(error, ConfigError::Invalid { field: "OBS_HTTP_ADDR", .. }), "{error:?}");
    assert!(error.to_string().contains("OBS_HTTP_ADDR") && error.to_string().contains("nonsense"), "{error}");

    // The builder wins over the environment: the environment names a port in use (it would fail
    // to bind), the builder a free one.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let taken_port = taken.local_addr().expect("its address").port();
    // SAFETY: as above.
    unsafe { std::env::set_var("OBS_HTTP_ADDR", format!("127.0.0.1:{taken_port}")) };
    let obs = Obs::builder().http_addr("127.0.0.1:0").init().expect("builder address");
    let addr = obs.http_addr().expect("running");
    assert!(addr.ip().is_loopback() && addr.port() != taken_port && addr.port() != 0, "{addr}");
}
