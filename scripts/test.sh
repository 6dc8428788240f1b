#!/usr/bin/env bash
# The whole suite, as CI runs it: the real backends, formatting, lints, every test (including the
# ones against real backends), and the build with every feature off.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

scripts/install-backends.sh

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --all-features -- -D warnings
# The API docs build without a broken link, as docs.rs builds them (every feature, `--cfg docsrs`,
# whose `doc_cfg` needs the nightly switch), and mark what each feature adds.
RUSTC_BOOTSTRAP=1 RUSTDOCFLAGS="--cfg docsrs -D warnings" cargo doc -p obs-runtime --all-features --no-deps
grep -q 'Available on <strong>crate feature <code>tower</code></strong> only' target/doc/obs_runtime/rpc/struct.GrpcLayer.html \
    || { echo "docs: rpc::GrpcLayer has no badge for its feature"; exit 1; }
# The supported Rust version is the one this suite runs on.
msrv=$(sed -n 's/^rust-version = "\(.*\)"$/\1/p' Cargo.toml)
rustc_version=$(rustc --version | cut -d' ' -f2)
case "$rustc_version" in
    "$msrv" | "$msrv".*) ;;
    *) echo "rust-version = $msrv is claimed, but this suite runs on rustc $rustc_version: run it on $msrv, or change the claim"; exit 1 ;;
esac
# The crates would publish: each packages cleanly and builds from its package alone (verified
# against each other's packages). A package holds its sources, README and licence files and
# nothing else, and its name is free on crates.io or ours (obs-macros was another project's).
cargo publish --dry-run -p obs-duration -p obs-runtime-macros -p obs-runtime --allow-dirty
for crate in obs-duration obs-runtime-macros obs-runtime; do
    # (Asked from outside the workspace, where `cargo info` would describe the local package.)
    description=$(sed -n 's/^description = "\(.\{1,40\}\).*/\1/p' "$crate/Cargo.toml" | tr -d '\\')
    if published=$(cd / && cargo info "$crate" --color never 2>/dev/null); then
        grep -qF "$description" <<<"$published" || { echo "$crate: crates.io has a crate of that name that is not ours:"; echo "$published" | head -n 3; exit 1; }
    fi
    files=$(cargo package --list -p "$crate" --allow-dirty)
    for needed in README.md LICENSE-MIT LICENSE-APACHE Cargo.toml src/lib.rs; do
        grep -qx "$needed" <<<"$files" || { echo "$crate: $needed is not in the package"; exit 1; }
    done
    unexpected=$(grep -Ev '^(src/.*\.rs|tests/.*\.rs|README\.md|LICENSE-(MIT|APACHE)|Cargo\.(toml|toml\.orig|lock)|\.cargo_vcs_info\.json)$' <<<"$files" || true)
    [ -z "$unexpected" ] || { echo "$crate: files that do not belong in the package:"; echo "$unexpected"; exit 1; }
done
# Instrumentation that is off must still build, and a service's instrumented code with it.
cargo test -p obs-runtime --no-default-features --tests
cargo clippy -p obs-runtime --no-default-features --all-targets -- -D warnings
# The instrumented-code tests of the root package, with every obs feature off (the attributes leave
# each function as written; the tests that need a pillar are skipped by their required-features).
cargo test -p obs --no-default-features --tests
cargo clippy -p obs --no-default-features --tests -- -D warnings
# Each pillar alone compiles cleanly too (cfg mistakes hide in combinations).
for features in metrics,http-server,trace metrics http-server health logging metrics,logging trace tracing-bridge otlp otlp-grpc otlp-grpc,tls health-http,tls tls tower reqwest tonic trace,logging alerts alerts-tls alerts-smtp; do
    cargo clippy -p obs-runtime --no-default-features --features "$features" --all-targets -- -D warnings
done
cargo test --workspace --all-features -- --include-ignored
# No breaking change to the public API since the last release: the commit that gave the
# CHANGELOG its latest version heading is the baseline (cargo-semver-checks cannot read a
# proc-macro crate, so obs-runtime-macros' contract is the test macro_contract's).
command -v cargo-semver-checks >/dev/null || cargo install cargo-semver-checks --locked --version 0.51.0
release=$(grep -m1 -oE '^## \[[0-9]+\.[0-9]+\.[0-9]+\]' CHANGELOG.md | tr -d '#[] ')
baseline=$(git log --format=%H -S"## [$release]" -- CHANGELOG.md | tail -n 1)
[ -n "$baseline" ] || { echo "semver: no commit released $release (a shallow clone?)"; exit 1; }
cargo semver-checks -p obs-duration -p obs-runtime --all-features --baseline-rev "$baseline"
