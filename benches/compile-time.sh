#!/usr/bin/env bash
# Compile cost of the attribute, as DESIGN.md measures it, for obs and the peers in one run:
#   recompile: debug, non-incremental rebuild of a crate with 1,000 annotated fns (deps prebuilt),
#              median of 3;
#   cold:      debug build, from an empty target dir, of a one-fn crate with its dependencies.
# Usage: bash benches/compile-time.sh   (needs network or a warm cargo cache; takes a few minutes)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
runtime="$here/../obs-runtime"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
export CARGO_INCREMENTAL=0

make_crate() { # name, dependency line, attribute (may be empty), fn count
  local dir="$work/$1"
  mkdir -p "$dir/src"
  printf '[package]\nname = "%s"\nversion = "0.0.0"\nedition = "2024"\npublish = false\n[workspace]\n[dependencies]\n%s\n' \
    "$1" "$2" > "$dir/Cargo.toml"
  # No lint is allowed: the expansion must compile warning-free as users build it
  # (tests/ui/pass/no_warnings.rs holds this crate's fn under `#![deny(warnings)]`).
  : > "$dir/src/lib.rs"

  for i in $(seq 1 "$4"); do
    local attr="${3//@/$i}"
    printf '%s\npub fn f%d(x: u64) -> Result<u64, ()> { if x == %d { Err(()) } else { Ok(x + 1) } }\n' \
      "$attr" "$i" "$i" >> "$dir/src/lib.rs"
  done
  echo "$dir"
}

seconds() { local start end; start=$(date +%s%N); "$@" > /dev/null 2>&1; end=$(date +%s%N); awk "BEGIN { print ($end - $start) / 1e9 }"; }

median3() { printf '%s\n' "$@" | sort -g | sed -n 2p; }

declare -A deps=(
  [bare]=''
  [obs]="obs-runtime = { path = \"$runtime\" }"
  [autometrics]='autometrics = { version = "3", default-features = false, features = ["prometheus-0_14"] }'
)
declare -A attrs=(
  [bare]=''
  [obs]='#[obs_runtime::track_request("GET", "/f@")]'
  [autometrics]='#[autometrics::autometrics]'
)

echo "| crate | cold build, one fn (s) | recompile, 1,000 fns (s) |"
echo "|---|---:|---:|"
for variant in bare obs autometrics; do
  one=$(make_crate "one_$variant" "${deps[$variant]}" "${attrs[$variant]}" 1)
  (cd "$one" && cargo fetch -q)
  cold=$(cd "$one" && seconds cargo build --offline)
  many=$(make_crate "many_$variant" "${deps[$variant]}" "${attrs[$variant]}" 1000)
  (cd "$many" && CARGO_TARGET_DIR="$one/target" cargo build -q --offline)
  runs=()
  for _ in 1 2 3; do
    touch "$many/src/lib.rs"
    runs+=("$(cd "$many" && CARGO_TARGET_DIR="$one/target" seconds cargo build --offline)")
  done
  printf '| %s | %.1f | %.2f |\n' "$variant" "$cold" "$(median3 "${runs[@]}")"
done
