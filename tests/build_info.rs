//! `build_info` for the application (`obs_runtime::build_info!()`) and `obs_build_info` for obs
//! itself: one sample of value 1 each, whose labels are what is running; the version from Cargo,
//! obs's rustc version checked against the `rustc` of this machine; in both exposition formats,
//! and accepted by promtool. (Starts obs: a binary of its own.)

mod common;

use obs_runtime::metrics::{Format, MetricError, encode};

/// What `rustc --version` says of itself: the toolchain that built this test (and obs-runtime).
fn rustc_version() -> String {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_owned());
    let output = std::process::Command::new(rustc).arg("--version").output().expect("rustc runs");
    let text = String::from_utf8(output.stdout).expect("text");
    text.split_whitespace().nth(1).expect("a version").to_owned()
}

/// obs started and the application's `build_info` registered, once for both tests (the second
/// registration's `Err` checked then).
fn registered() {
    static ONCE: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    ONCE.get_or_init(|| {
        let obs = obs_runtime::Obs::builder().without_http_server().init().expect("obs starts");
        // Kept for the life of the test process.
        std::mem::forget(obs);
        obs_runtime::build_info!().expect("the first registration");
        let again = obs_runtime::build_info!().expect_err("registered before");
        assert!(matches!(&again, MetricError::AlreadyRegistered { name } if name == "build_info"), "{again}");
    });
}

#[test]
fn the_application_and_obs_say_what_they_are() {
    registered();
    let version = env!("CARGO_PKG_VERSION");
    let app = format!("build_info{{version=\"{version}\",revision=\"unknown\",rustc=\"unknown\"}} 1\n");
    let own = format!("obs_build_info{{version=\"{version}\",rustc=\"{}\"}} 1\n", rustc_version());
    for format in [Format::Text, Format::OpenMetrics] {
        let body = encode(format);
        assert!(body.contains("# TYPE build_info gauge\n"), "{body}");
        assert!(body.contains(&app), "{format:?}: {body}");
        assert!(body.contains("# TYPE obs_build_info gauge\n"), "{body}");
        assert!(body.contains(&own), "{format:?}: {body}");
    }
}

#[test]
#[ignore = "needs promtool: scripts/install-backends.sh"]
fn promtool_accepts_the_build_info_families() {
    registered();
    let body = encode(Format::Text);
    assert!(body.contains("# TYPE build_info gauge\n") && body.contains("# TYPE obs_build_info gauge\n"), "{body}");
    let (clean, said) = common::promtool_check_metrics(&body);
    assert!(clean, "promtool check metrics: {said}");
}
