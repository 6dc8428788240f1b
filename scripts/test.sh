#!/usr/bin/env bash
# The whole suite, as CI runs it: the real backends, formatting, lints, every test (including the
# ones against real backends), and the build with every feature off.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

scripts/install-backends.sh

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --all-features -- -D warnings
# obs-runtime stays free of the `opentelemetry` crates, whatever its features: their releases reach
# only obs-opentelemetry.
runtime_tree=$(cargo tree -p obs-runtime --all-features -e normal --prefix none)
! grep -E '^opentelemetry' <<<"$runtime_tree" || { echo "obs-runtime depends on an opentelemetry crate (above)"; exit 1; }
# The API docs build without a broken link, as docs.rs builds them (every feature, `--cfg docsrs`,
# whose `doc_cfg` needs the nightly switch: in a target directory of its own, so that the switch
# does not make the other builds start over), and mark what each feature adds.
docs=target/docsrs
RUSTC_BOOTSTRAP=1 RUSTDOCFLAGS="--cfg docsrs -D warnings" CARGO_TARGET_DIR=$docs cargo doc -p obs-runtime --all-features --no-deps
for badge in tower:rpc/struct.GrpcLayer.html reqwest:client/reqwest/struct.ObsMiddleware.html \
    alerts:alerts/index.html health:health/index.html logging:logging/index.html trace:trace/index.html \
    tls:tls/index.html otlp:trace/enum.Compression.html prometheus:metrics/prometheus/index.html \
    metrics-rs:metrics/metrics_rs/index.html push:metrics/push/index.html otlp:metrics/otlp/index.html \
    otlp:logging/otlp/index.html dashboards:dashboards/index.html page:page/index.html testing:testing/index.html; do
    feature=${badge%%:*} page=$docs/doc/obs_runtime/${badge#*:}
    # ("Available on <strong>crate feature <code>tower</code></strong> only", or a combination:
    # "(crate features <code>tower</code> or <code>reqwest</code>) and crate feature ...".)
    grep -Eq "Available on <strong>[(]?crate features? (<code>[a-z-]+</code>|[a-z() ]+)*<code>$feature</code>" "$page" \
        || { echo "docs: $page has no badge for feature $feature"; exit 1; }
done
# The supported Rust version is the one this suite runs on.
msrv=$(sed -n 's/^rust-version = "\(.*\)"$/\1/p' Cargo.toml)
rustc_version=$(rustc --version | cut -d' ' -f2)
case "$rustc_version" in
    "$msrv" | "$msrv".*) ;;
    *) echo "rust-version = $msrv is claimed, but this suite runs on rustc $rustc_version: run it on $msrv, or change the claim"; exit 1 ;;
esac
# The crates would publish (every member that is not `publish = false`): each packages cleanly
# and builds from its package alone (verified against each other's packages). A package holds its
# sources, README and licence files and nothing else, and its name is free on crates.io or ours
# (obs-macros was another project's: a crate there of the same name must have our description).
crates=$(cargo metadata --no-deps --format-version 1 \
    | python3 -c 'import json,sys; print(" ".join(p["name"] for p in json.load(sys.stdin)["packages"] if p["publish"] != []))')
cargo publish --dry-run $(printf -- '-p %s ' $crates) --allow-dirty
for crate in $crates; do
    # (Asked from outside the workspace, where `cargo info` would describe the local package.)
    description=$(sed -n 's/^description = "\(.\{1,40\}\).*/\1/p' "$crate/Cargo.toml" | tr -d '\\')
    [ -n "$description" ] || { echo "$crate: no description"; exit 1; }
    if published=$(cd / && cargo info "$crate" --color never 2>&1); then
        grep -qF "$description" <<<"$published" || { echo "$crate: crates.io has a crate of that name that is not ours:"; echo "$published" | head -n 3; exit 1; }
    elif ! grep -q "could not find \`$crate\` in registry" <<<"$published"; then
        echo "$crate: crates.io could not be asked whether the name is free:"; echo "$published"; exit 1
    fi
    files=$(cargo package --list -p "$crate" --allow-dirty)
    for needed in README.md LICENSE-MIT LICENSE-APACHE Cargo.toml src/lib.rs; do
        grep -qx "$needed" <<<"$files" || { echo "$crate: $needed is not in the package"; exit 1; }
    done
    # (src/page/page.html: the live page, compiled in with include_str!.)
    unexpected=$(grep -Ev '^(src/.*\.rs|src/page/page\.html|tests/.*\.rs|build\.rs|README\.md|MIGRATING\.md|LICENSE-(MIT|APACHE)|Cargo\.(toml|toml\.orig|lock)|\.cargo_vcs_info\.json)$' <<<"$files" || true)
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
for features in metrics,http-server,trace metrics runtime-metrics prometheus metrics-rs push metrics,trace http-server health logging metrics,logging trace tracing-bridge otlp otlp-grpc otlp-grpc,tls metrics,otlp logging,otlp health-http,tls tls tower reqwest tonic trace,logging alerts alerts-tls alerts-smtp dashboards alerts,dashboards page page,trace testing testing,trace testing,alerts; do
    cargo clippy -p obs-runtime --no-default-features --features "$features" --all-targets -- -D warnings
done
# The runtime metrics tokio has only with `--cfg tokio_unstable` (steals, polls) build too (in a
# target directory of their own: the flag rebuilds tokio).
RUSTFLAGS="--cfg tokio_unstable" CARGO_TARGET_DIR=target/tokio-unstable \
    cargo clippy -p obs-runtime --no-default-features --features runtime-metrics --all-targets -- -D warnings
cargo test --workspace --all-features -- --include-ignored
# No breaking change to the public API since the last release: the baseline is the commit that
# gave the CHANGELOG its latest version heading, or, on that commit itself, the release before
# (the first release has none: it is checked against itself). cargo-semver-checks cannot read a
# proc-macro crate: obs-runtime-macros' attribute options are pinned by tests/ui, and its version
# contract by tests/macro_contract.rs.
[ "$(cargo semver-checks --version 2>/dev/null)" = "cargo-semver-checks 0.51.0" ] \
    || cargo install cargo-semver-checks --locked --version 0.51.0
release_commit() { git log --format=%H -S"## [$1] - " -- CHANGELOG.md | tail -n 1; }
releases=$(grep -oE '^## \[[0-9]+\.[0-9]+\.[0-9]+\] - ' CHANGELOG.md | sed -E 's/^## \[([0-9.]+)\] - $/\1/')
baseline=$(release_commit "$(sed -n 1p <<<"$releases")")
if [ "$baseline" = "$(git rev-parse HEAD)" ] && [ -n "$(sed -n 2p <<<"$releases")" ]; then
    baseline=$(release_commit "$(sed -n 2p <<<"$releases")")
fi
[ -n "$baseline" ] || { echo "semver: no commit released $(sed -n 1p <<<"$releases") (a shallow clone?)"; exit 1; }
# (A crate that did not exist at the baseline has no API to break yet.)
semver_crates=$(for crate in $crates; do
    [ "$crate" = obs-runtime-macros ] || ! git cat-file -e "$baseline:$crate/Cargo.toml" 2>/dev/null || printf -- '-p %s ' "$crate"
done)
cargo semver-checks $semver_crates --all-features --baseline-rev "$baseline"
