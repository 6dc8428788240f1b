#!/usr/bin/env bash
# Compile cost of the attribute, for obs and the peers in one run:
#   cold:      debug build, from an empty target dir, of a one-fn crate with its dependencies;
#   recompile: debug, non-incremental rebuild of a crate with 1,000 annotated fns (deps prebuilt,
#              the crate's lib.rs touched); and the same with `cargo check` (expansion, name
#              resolution, type and borrow checking, no code generation), to tell the front end's
#              share from code generation's.
# Each is the median of 3 (of 5 recompiles with QUICK=1), the variants interleaved round by round (bare, obs, fastrace, tracing,
# autometrics, then again), so that a change in the machine's load falls on all of them alike.
# Like for like: obs with its default features (metrics + its embedded /metrics server + trace)
# against autometrics with its `prometheus-exporter` feature (its Prometheus exporter; with no
# backend named it uses prometheus-client), fastrace 0.7 with `enable` as in benches/Cargo.toml.
# Usage: bash benches/compile-time.sh   (needs network or a warm cargo cache; takes ~5 minutes on an
# idle 2-core machine). Prints the load before and after: run it on a quiet machine.
#   BODY=early        bodies with a `?`;
#   BASE=<commit>     adds `base`, obs as of that commit (from `git archive`), to the same run: an A/B
#                     of a change against where it started, each round building both;
#   VARIANTS="obs base fastrace"   only these variants, each once (default: all; the ratio
#                     columns need fastrace, autometrics and bare among them), for a quicker A/B;
#   QUICK=1           one cold round (only to build the dependencies; its column is one run, not a
#                     median) and five recompile rounds.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
runtime="$here/../obs-runtime"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
export CARGO_INCREMENTAL=0

# The body of fn number $1. By default one expression; with BODY=early, a `?` (a way out before the
# end, for which obs's expansion runs the body in a closure).
body() {
  if [ "${BODY:-}" = early ]; then
    printf 'let y = if x == %d { Err(()) } else { Ok(x) }?; Ok(y + 1)' "$1"
  else
    printf 'if x == %d { Err(()) } else { Ok(x + 1) }' "$1"
  fi
}

make_crate() { # name, dependency line, attribute (may be empty), fn count, crate attribute (may be empty)
  local dir="$work/$1"
  mkdir -p "$dir/src"
  printf '[package]\nname = "%s"\nversion = "0.0.0"\nedition = "2024"\npublish = false\n[workspace]\n[dependencies]\n%s\n' \
    "$1" "$2" > "$dir/Cargo.toml"
  # No lint is allowed for obs: the expansion must compile warning-free as users build it
  # (tests/ui/pass/no_warnings.rs holds this crate's fn under `#![deny(warnings)]`).
  printf '%s\n' "${5:-}" > "$dir/src/lib.rs"

  for i in $(seq 1 "$4"); do
    local attr="${3//@/$i}"
    printf '%s\npub fn f%d(x: u64) -> Result<u64, ()> { %s }\n' "$attr" "$i" "$(body "$i")" >> "$dir/src/lib.rs"
  done
  echo "$dir"
}

# Wall seconds of a command; a failing command stops the script with its output.
seconds() {
  local start end log="$work/last.log"
  start=$(date +%s%N)
  if ! "$@" > "$log" 2>&1; then cat "$log" >&2; echo "failed: $* (in $PWD)" >&2; exit 1; fi
  end=$(date +%s%N)
  awk "BEGIN { print ($end - $start) / 1e9 }"
}

# The median of an odd number of runs.
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[(NR + 1) / 2] }'; }

# $1 / $2, or "-" when either was not measured (a variant left out by VARIANTS).
ratio() {
  if [ -z "$1" ] || [ -z "$2" ]; then printf -- '-'; return; fi
  awk "BEGIN { printf \"%.2f\", $1 / $2 }"
}

variants=(bare obs fastrace tracing autometrics)
if [ -n "${BASE:-}" ]; then
  mkdir -p "$work/base"
  git -C "$here/.." archive "$BASE" | tar -x -C "$work/base"
  variants+=(base)
fi
if [ -n "${VARIANTS:-}" ]; then
  read -r -a variants <<< "$VARIANTS"
  declare -A named=()
  for v in "${variants[@]}"; do
    [ -z "${named[$v]:-}" ] || { echo "VARIANTS names $v twice" >&2; exit 2; }
    named[$v]=1
    case "$v" in
      bare | obs | fastrace | tracing | autometrics) ;;
      base) [ -n "${BASE:-}" ] || { echo "VARIANTS names base: give BASE=<commit>" >&2; exit 2; } ;;
      *) echo "VARIANTS: no variant $v (bare obs fastrace tracing autometrics base)" >&2; exit 2 ;;
    esac
  done
fi
declare -A deps=(
  [bare]=''
  [obs]="obs-runtime = { path = \"$runtime\" }"
  [base]="obs-runtime = { path = \"$work/base/obs-runtime\" }"
  [fastrace]='fastrace = { version = "0.7", features = ["enable"] }'
  [tracing]='tracing = "0.1.41"'
  [autometrics]='autometrics = { version = "3", default-features = false, features = ["prometheus-exporter"] }'
)
declare -A attrs=(
  [bare]=''
  [obs]='#[obs_runtime::track_request("GET", "/f@")]'
  [base]='#[obs_runtime::track_request("GET", "/f@")]'
  [fastrace]='#[fastrace::trace]'
  [tracing]='#[tracing::instrument]'
  [autometrics]='#[autometrics::autometrics]'
)
# fastrace's and autometrics' expansions make this one-expression body warn `unused_braces` (1,000
# warnings, whose rendering would be counted against them); a body with statements would not.
declare -A lints=(
  [fastrace]='#![allow(unused_braces)]'
  [autometrics]='#![allow(unused_braces)]'
)
declare -A one many cold recompile check runs_cold runs_recompile runs_check

echo "load before: $(uptime)"
for v in "${variants[@]}"; do
  one[$v]=$(make_crate "one_$v" "${deps[$v]}" "${attrs[$v]}" 1 "${lints[$v]:-}")
  many[$v]=$(make_crate "many_$v" "${deps[$v]}" "${attrs[$v]}" 1000 "${lints[$v]:-}")
  (cd "${one[$v]}" && cargo fetch -q)
  cp "${one[$v]}/Cargo.lock" "${many[$v]}/Cargo.lock" # the same dependency versions for both
done

# Cold: each round empties each variant's target dir and builds the one-fn crate.
cold_rounds=3
recompile_rounds=3
if [ "${QUICK:-}" = 1 ]; then cold_rounds=1 recompile_rounds=5; fi
for round in $(seq 1 "$cold_rounds"); do
  for v in "${variants[@]}"; do
    rm -rf "${one[$v]}/target"
    t=$(cd "${one[$v]}" && seconds cargo build --offline)
    runs_cold[$v]+="$t "
  done
done

# Recompile: the dependencies are those the cold build left (same target dir, same lock file);
# build the 1,000-fn crate once, then each round touches it and rebuilds it.
for v in "${variants[@]}"; do
  (cd "${many[$v]}" && CARGO_TARGET_DIR="${one[$v]}/target" seconds cargo build --offline > /dev/null)
  (cd "${many[$v]}" && CARGO_TARGET_DIR="${one[$v]}/target" seconds cargo check --offline > /dev/null)
done
for round in $(seq 1 "$recompile_rounds"); do
  for v in "${variants[@]}"; do
    touch "${many[$v]}/src/lib.rs"
    t=$(cd "${many[$v]}" && CARGO_TARGET_DIR="${one[$v]}/target" seconds cargo build --offline)
    runs_recompile[$v]+="$t "
    touch "${many[$v]}/src/lib.rs"
    t=$(cd "${many[$v]}" && CARGO_TARGET_DIR="${one[$v]}/target" seconds cargo check --offline)
    runs_check[$v]+="$t "
  done
done
echo "load after: $(uptime)"

for v in "${variants[@]}"; do
  # shellcheck disable=SC2086 # the runs are space-separated numbers
  cold[$v]=$(median ${runs_cold[$v]})
  # shellcheck disable=SC2086
  recompile[$v]=$(median ${runs_recompile[$v]})
  # shellcheck disable=SC2086
  check[$v]=$(median ${runs_check[$v]})
done

echo
echo "| crate | cold, one fn (s) | / autometrics | / fastrace | recompile, 1,000 fns (s) | / fastrace | / bare | of which check (s) | check / fastrace |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
for v in "${variants[@]}"; do
  printf '| %s | %.1f | %s | %s | %.2f | %s | %s | %.2f | %s |\n' "$v" \
    "${cold[$v]}" "$(ratio "${cold[$v]}" "${cold[autometrics]:-}")" "$(ratio "${cold[$v]}" "${cold[fastrace]:-}")" \
    "${recompile[$v]}" "$(ratio "${recompile[$v]}" "${recompile[fastrace]:-}")" "$(ratio "${recompile[$v]}" "${recompile[bare]:-}")" \
    "${check[$v]}" "$(ratio "${check[$v]}" "${check[fastrace]:-}")"
done
echo
echo "runs (s), in round order:"
for v in "${variants[@]}"; do
  printf '  %-12s cold: %s  recompile: %s  check: %s\n' "$v" "${runs_cold[$v]}" "${runs_recompile[$v]}" "${runs_check[$v]}"
done
