//! The global default buckets: set once at init, used by sites that set none. Its own binary,
//! since the default is process-wide.

mod common;

use common::{sample, scrape};
use obs_runtime::{ConfigError, Obs};

#[obs_runtime::track_request("GET", "/buckets/default")]
fn uses_default() {}

#[obs_runtime::track_request("GET", "/buckets/own", buckets = [0.5, 2])]
fn uses_own() {}

#[test]
fn the_configured_default_applies_and_a_site_can_override_it() {
    let bad = Obs::builder().without_http_server().default_buckets(&[1.0, 0.5]).init().expect_err("unsorted");
    assert!(matches!(bad, ConfigError::Invalid { field: "default_buckets", .. }), "{bad:?}");
    let too_many: Vec<f64> = (1..=40).map(f64::from).collect();
    let bad = Obs::builder().without_http_server().default_buckets(&too_many).init().expect_err("too many");
    assert!(bad.to_string().contains("default_buckets"), "{bad}");

    let _obs = Obs::builder().without_http_server().default_buckets(&[0.25, 3.0]).init().expect("valid");
    uses_default();
    uses_own();
    let body = scrape();
    let bucket = |endpoint, le| {
        sample(&body, "http_request_duration_seconds_bucket", &[("method", "GET"), ("endpoint", endpoint), ("le", le)])
    };
    assert_eq!(bucket("/buckets/default", "0.25"), Some(1.0));
    assert_eq!(bucket("/buckets/default", "3.0"), Some(1.0));
    assert_eq!(bucket("/buckets/default", "0.005"), None);
    assert_eq!(bucket("/buckets/own", "0.5"), Some(1.0));
    assert_eq!(bucket("/buckets/own", "2.0"), Some(1.0));
    assert_eq!(bucket("/buckets/own", "0.25"), None);
}
