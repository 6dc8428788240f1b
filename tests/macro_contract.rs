//! The version contract between obs-runtime-macros and obs-runtime, tested with a real mismatched pair: a
//! copy of obs-runtime-macros at the next incompatible version, and a service crate that depends on it
//! directly beside obs-runtime (the one way a service can end up with two versions). Its three
//! attributes must each fail to compile with the error that names both versions; the same crate
//! using the attributes re-exported by obs-runtime (the matched pair) must compile without a
//! warning.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The version of every crate of the workspace (they are released together).
const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The service's code, with the attributes taken from `source` (`obs_runtime` or `obs_runtime_macros`).
fn service(source: &str) -> String {
    format!(
        r#"#![deny(warnings)]
use {source}::{{health_check, trace_operation, track_request}};

#[track_request("GET", "/users")]
pub fn list() -> Result<u32, String> {{
    Ok(1)
}}

#[trace_operation("load_user")]
pub fn load(id: u32) -> u32 {{
    id + 1
}}

#[health_check(name = "database")]
pub async fn database() -> Result<(), String> {{
    Ok(())
}}
"#
    )
}

/// The next version that Cargo will not unify with `version`: the next minor before 1.0, the
/// next major from 1.0 on.
fn incompatible(version: &str) -> String {
    let mut parts = version.split('.').map(|part| part.parse::<u64>().expect("a numeric version"));
    let (major, minor) = (parts.next().expect("major"), parts.next().expect("minor"));
    if major == 0 { format!("0.{}.0", minor + 1) } else { format!("{}.0.0", major + 1) }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create a directory");
    for entry in std::fs::read_dir(from).expect("read a directory") {
        let entry = entry.expect("a directory entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("a file type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).expect("copy a file");
        }
    }
}

/// obs-runtime-macros' manifest as a package of its own at `version`: the workspace's inherited keys
/// written out or left out, the path to obs-duration made absolute.
fn standalone_manifest(workspace: &Path, version: &str) -> String {
    let manifest = std::fs::read_to_string(workspace.join("obs-runtime-macros/Cargo.toml"))
        .expect("obs-runtime-macros/Cargo.toml");
    let duration = workspace.join("obs-duration");
    let mut out = String::new();
    let mut in_lints = false;
    for line in manifest.lines() {
        if line.starts_with('[') {
            in_lints = line == "[lints]";
        }
        if in_lints {
            continue;
        }
        match line {
            "version.workspace = true" => out.push_str(&format!("version = \"{version}\"\n")),
            "edition.workspace = true" => out.push_str("edition = \"2024\"\n"),
            line if line.ends_with(".workspace = true") => {}
            line => {
                out.push_str(
                    &line
                        .replace("path = \"../obs-duration\"", &format!("path = {:?}", duration.display().to_string())),
                );
                out.push('\n');
            }
        }
    }
    out.push_str("\n[workspace]\n");
    out
}

/// `cargo check` of the service in `dir`; its exit success and its stderr.
fn check(dir: &Path, target: &Path) -> (bool, String) {
    let output = Command::new(env!("CARGO"))
        .args(["check", "--offline", "--color", "never"])
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", target)
        .env_remove("RUSTFLAGS")
        .output()
        .expect("run cargo");
    (output.status.success(), String::from_utf8_lossy(&output.stderr).into_owned())
}

#[test]
fn a_mismatched_pair_fails_naming_both_versions_and_the_matched_pair_compiles() {
    let workspace = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let root = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("macro_contract");
    let next = incompatible(VERSION);

    // The other obs-runtime-macros.
    let macros = root.join("obs-runtime-macros-next");
    let _ = std::fs::remove_dir_all(&macros);
    copy_dir(&workspace.join("obs-runtime-macros/src"), &macros.join("src"));
    std::fs::write(macros.join("Cargo.toml"), standalone_manifest(&workspace, &next)).expect("write the manifest");

    // The service, with the workspace's lock file so that it builds offline with the same crates.
    let service_dir = root.join("service");
    std::fs::create_dir_all(service_dir.join("src")).expect("create the service");
    let features = r#"features = ["metrics", "trace", "health"]"#;
    std::fs::write(
        service_dir.join("Cargo.toml"),
        format!(
            "[package]\nname = \"service\"\nversion = \"0.0.0\"\nedition = \"2024\"\npublish = false\n\n\
             [dependencies]\n\
             obs-runtime = {{ path = {runtime:?}, default-features = false, {features} }}\n\
             obs-runtime-macros = {{ path = {macros:?}, {features} }}\n\n[workspace]\n",
            runtime = workspace.join("obs-runtime").display().to_string(),
            macros = macros.display().to_string(),
        ),
    )
    .expect("write the service's manifest");
    std::fs::copy(workspace.join("Cargo.lock"), service_dir.join("Cargo.lock")).expect("copy Cargo.lock");
    let target = root.join("target");

    // The matched pair: obs-runtime's own attributes.
    std::fs::write(service_dir.join("src/lib.rs"), service("obs_runtime")).expect("write the service");
    let (ok, stderr) = check(&service_dir, &target);
    assert!(ok, "the matched pair must compile:\n{stderr}");
    assert!(!stderr.contains("warning"), "the matched pair must compile without a warning:\n{stderr}");

    // The mismatched pair: the other obs-runtime-macros' attributes.
    std::fs::write(service_dir.join("src/lib.rs"), service("obs_runtime_macros")).expect("write the service");
    let (ok, stderr) = check(&service_dir, &target);
    assert!(!ok, "the mismatched pair must not compile:\n{stderr}");
    let message = format!(
        "obs-runtime-macros {next} wrote this expansion, but the obs-runtime it calls is {VERSION}: the two crates are released \
         together and must be the same version"
    );
    assert_eq!(stderr.matches(&message).count(), 3, "one error per attribute, naming both versions:\n{stderr}");
    // Each error points at the attribute that was expanded.
    for attribute in [
        "#[track_request(\"GET\", \"/users\")]",
        "#[trace_operation(\"load_user\")]",
        "#[health_check(name = \"database\")]",
    ] {
        assert!(stderr.contains(attribute), "no error at {attribute}:\n{stderr}");
    }
}
