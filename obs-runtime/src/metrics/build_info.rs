//! `build_info` for the application and `obs_build_info` for obs: one gauge sample of value 1
//! whose labels say what is running (the Prometheus convention for build information), so that a
//! dashboard can show a deploy and a query can join on the version.

use std::sync::Arc;

use super::{Collected, Collector, Desc, MetricError, register_collector};

/// What the application is: its version, its source revision and the rustc that built it (an
/// empty or absent value is shown as `unknown`). Usually made by [`build_info!`](crate::build_info).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildInfo {
    version: String,
    revision: String,
    rustc: String,
}

impl BuildInfo {
    /// The application's version, and its revision and rustc version if known.
    pub fn new(version: &str, revision: Option<&str>, rustc: Option<&str>) -> BuildInfo {
        let known = |value: Option<&str>| value.filter(|value| !value.is_empty()).unwrap_or("unknown").to_owned();
        BuildInfo { version: known(Some(version)), revision: known(revision), rustc: known(rustc) }
    }
}

/// One family `name` with one sample of value 1, labelled.
struct Info {
    name: &'static str,
    help: &'static str,
    labels: &'static [&'static str],
    values: Vec<String>,
}

impl Collector for Info {
    fn describe(&self) -> Vec<Desc> {
        vec![Desc::gauge(self.name, self.help, self.labels)]
    }

    fn collect(&self, out: &mut Collected<'_>) {
        let values: Vec<&str> = self.values.iter().map(String::as_str).collect();
        out.gauge(self.name, &values, 1.0);
    }
}

/// Serves `build_info{version, revision, rustc} 1` for the application, once per process (a
/// second call is an `Err` naming `build_info`). See [`build_info!`](crate::build_info).
pub fn register_build_info(info: BuildInfo) -> Result<(), MetricError> {
    register_collector(Arc::new(Info {
        name: "build_info",
        help: "The application's build: its version, source revision and rustc version; always 1",
        labels: &["version", "revision", "rustc"],
        values: vec![info.version, info.revision, info.rustc],
    }))
}

/// Serves `obs_build_info{version, rustc} 1` for obs itself (once: later calls do nothing).
pub(crate) fn register_obs_build_info() {
    static REGISTERED: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    REGISTERED.get_or_init(|| {
        let info = Info {
            name: "obs_build_info",
            help: "The obs-runtime serving these metrics: its version and the rustc that built it; always 1",
            labels: &["version", "rustc"],
            values: vec![env!("CARGO_PKG_VERSION").to_owned(), env!("OBS_RUSTC_VERSION").to_owned()],
        };
        if let Err(error) = register_collector(Arc::new(info)) {
            crate::diagnostics::warn("metrics", "obs_build_info", &format!("obs_build_info is not served: {error}"));
        }
    });
}

/// Serves `build_info{version, revision, rustc} 1` for your application: its version from
/// `CARGO_PKG_VERSION`, and the revision and rustc version from the `BUILD_REVISION` and
/// `BUILD_RUSTC_VERSION` variables of its build, when a `build.rs` sets them (`unknown`
/// otherwise). Call it once, after `init`; the result is `Err` when it was called before.
///
/// A `build.rs` that sets both (`git` absent or not a repository: the revision stays unknown):
///
/// ```no_run
/// // build.rs
/// use std::process::Command;
///
/// fn main() {
///     let run = |program: &str, args: &[&str]| {
///         Command::new(program).args(args).output().ok().filter(|out| out.status.success())
///             .and_then(|out| String::from_utf8(out.stdout).ok()).map(|text| text.trim().to_owned())
///     };
///     if let Some(revision) = run("git", &["rev-parse", "--short=12", "HEAD"]) {
///         println!("cargo:rustc-env=BUILD_REVISION={revision}");
///     }
///     let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
///     if let Some(version) = run(&rustc, &["--version"]).and_then(|v| v.split_whitespace().nth(1).map(str::to_owned)) {
///         println!("cargo:rustc-env=BUILD_RUSTC_VERSION={version}");
///     }
///     println!("cargo:rerun-if-changed=.git/HEAD");
/// }
/// ```
///
/// ```
/// obs_runtime::build_info!()?;
/// let body = obs_runtime::metrics::encode(obs_runtime::metrics::Format::Text);
/// let version = env!("CARGO_PKG_VERSION");
/// assert!(body.contains(&format!("build_info{{version=\"{version}\",revision=\"unknown\",rustc=\"unknown\"}} 1\n")));
/// # Ok::<(), obs_runtime::metrics::MetricError>(())
/// ```
#[macro_export]
macro_rules! build_info {
    () => {
        $crate::metrics::register_build_info($crate::metrics::BuildInfo::new(
            ::core::env!("CARGO_PKG_VERSION"),
            ::core::option_env!("BUILD_REVISION"),
            ::core::option_env!("BUILD_RUSTC_VERSION"),
        ))
    };
}

#[cfg(test)]
mod tests {
    use super::BuildInfo;

    #[test]
    fn what_is_not_known_is_unknown() {
        let info = BuildInfo::new("1.2.3", Some(""), None);
        assert_eq!(
            (info.version.as_str(), info.revision.as_str(), info.rustc.as_str()),
            ("1.2.3", "unknown", "unknown")
        );
        let info = BuildInfo::new("1.2.3", Some("0a1b2c3d4e5f"), Some("1.95.0"));
        assert_eq!((info.revision.as_str(), info.rustc.as_str()), ("0a1b2c3d4e5f", "1.95.0"));
    }
}
