#!/usr/bin/env bash
# The whole suite, as CI runs it: the real backends, formatting, lints, every test (including the
# ones against real backends), and the build with every feature off.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

scripts/install-backends.sh

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --all-features -- -D warnings
# The API docs build without a broken link.
RUSTDOCFLAGS="-D warnings" cargo doc -p obs-runtime --all-features --no-deps
# The crates package cleanly, each builds from its package alone (`cargo package` verifies them
# against each other's packages), and a package holds its sources, README and licence files and
# nothing else.
cargo package -p obs-duration -p obs-macros -p obs-runtime --allow-dirty
for crate in obs-duration obs-macros obs-runtime; do
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
