#!/usr/bin/env bash
# What recording a call's outcome costs at compile time, part by part: hand-written copies of
# `#[track_request]`'s expansion on the 1,000 fns of compile-time.sh, with parts taken out, against
# fastrace's `#[trace]` and obs's own macro on the same fns, in one run (BENCHMARKS.md, "The floor").
#   macro     #[obs_runtime::track_request] itself;
#   full      a copy of its expansion (both probes), the probes' rules copied into the crate;
#   status    the copy with the status probe only (error text: nothing);
#   call      one plain generic call `status(&result)` in the probes' place, with no rule;
#   none      no probe and no call (status 200, no text);
#   fastrace  #[fastrace::trace].
# The copies follow obs-runtime-macros' `finish_call` (types.rs) for a fn without `?`; when the
# expansion changes, change them (they call the runtime's `__private` items, so a copy that no
# longer matches the runtime fails to build). `macro` against `full` shows what the macro's own
# expansion adds.
# Each crate is built once, then ROUNDS (default 7) interleaved rounds of `touch` + `cargo build`
# (debug, non-incremental); prints each median and its ratio to fastrace. Needs network or a warm
# cargo cache; about 3 minutes on an idle 2-core machine.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
runtime="$here/../obs-runtime"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
export CARGO_INCREMENTAL=0 CARGO_TARGET_DIR="$work/target"
rounds="${ROUNDS:-7}"
variants=(fastrace macro full status call none)
p='::obs_runtime::__private'

# The probes' rules, from the runtime's own file, as a module of the crate.
rules() {
  echo 'pub mod rules {'
  grep -v '^//!' "$runtime/src/__private/rules.rs" |
    sed -e 's/use crate::__private::ErrorText;/use obs_runtime::__private::ErrorText;/' \
      -e 's/use crate::metrics::RequestOutcome;/use obs_runtime::metrics::RequestOutcome;/'
  echo '#[inline] pub fn status<T: ?Sized>(_: &T) -> u16 { 200 }'
  echo '}'
}

# The end of copy $2's fn number $1: what follows the body's value.
finish() {
  case "$2" in
    full) printf '#[allow(unreachable_code)] let () = { use crate::rules::{Probe, Status as _, Text as _}; let __obs_status: ::core::primitive::u16 = (&&&Probe(&__obs_result)).__obs_status(); __OBS_SITE.__obs_finish(__obs_guard, __obs_status, Probe(&__obs_result).__obs_error_text()) };' ;;
    status) printf '#[allow(unreachable_code)] let () = { use crate::rules::{Probe, Status as _}; let __obs_status: ::core::primitive::u16 = (&&&Probe(&__obs_result)).__obs_status(); __OBS_SITE.__obs_finish(__obs_guard, __obs_status, %s::ErrorText::Nothing) };' "$p" ;;
    call) printf '__OBS_SITE.__obs_finish(__obs_guard, crate::rules::status(&__obs_result), %s::ErrorText::Nothing);' "$p" ;;
    none) printf '__OBS_SITE.__obs_finish(__obs_guard, 200, %s::ErrorText::Nothing);' "$p" ;;
  esac
}

make_crate() { # variant
  local dir="$work/$1" dep
  mkdir -p "$dir/src"
  dep="obs-runtime = { path = \"$runtime\" }"
  [ "$1" = fastrace ] && dep='fastrace = { version = "0.7", features = ["enable"] }'
  printf '[package]\nname = "floor_%s"\nversion = "0.0.0"\nedition = "2024"\npublish = false\n[workspace]\n[dependencies]\n%s\n' \
    "$1" "$dep" > "$dir/Cargo.toml"
  {
    case "$1" in
      fastrace) echo '#![allow(unused_braces)]' ;;
      macro) ;;
      *) rules ;;
    esac
    for i in $(seq 1 1000); do
      local body="if x == $i { Err(()) } else { Ok(x + 1) }"
      case "$1" in
        fastrace) printf '#[fastrace::trace]\npub fn f%d(x: u64) -> Result<u64, ()> { %s }\n' "$i" "$body" ;;
        macro) printf '#[obs_runtime::track_request("GET", "/f%d")]\npub fn f%d(x: u64) -> Result<u64, ()> { %s }\n' "$i" "$i" "$body" ;;
        *)
          printf 'pub fn f%d(x: u64) -> Result<u64, ()> {\n' "$i"
          printf '    const _: () = %s::expect_macros("%s");\n' "$p" "$version"
          printf '    static __OBS_SITE: %s::RequestSite = %s::RequestSite::new("GET", "/f%d");\n' "$p" "$p" "$i"
          printf '    let __obs_guard = __OBS_SITE.__obs_start();\n'
          printf '    let __obs_result: Result<u64, ()> = { %s };\n' "$body"
          printf '    %s\n    __obs_result\n}\n' "$(finish "$i" "$1")"
          ;;
      esac
    done
  } > "$dir/src/lib.rs"
  echo "$dir"
}

# Wall seconds of a build; a failing build stops the script with its output.
build_seconds() {
  local start end log="$work/last.log"
  start=$(date +%s%N)
  if ! (cd "$1" && cargo build --offline) > "$log" 2>&1; then cat "$log" >&2; echo "failed: cargo build in $1" >&2; exit 1; fi
  end=$(date +%s%N)
  awk "BEGIN { print ($end - $start) / 1e9 }"
}

median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

version=$(sed -n 's/^version = "\(.*\)"/\1/p' "$here/../Cargo.toml" | head -1)
declare -A dirs runs
echo "load before: $(uptime)"
for v in "${variants[@]}"; do
  dirs[$v]=$(make_crate "$v")
  (cd "${dirs[$v]}" && cargo fetch -q)
  build_seconds "${dirs[$v]}" > /dev/null
done
for _ in $(seq 1 "$rounds"); do
  for v in "${variants[@]}"; do
    touch "${dirs[$v]}/src/lib.rs"
    runs[$v]+="$(build_seconds "${dirs[$v]}") "
  done
done
echo "load after: $(uptime)"
echo
echo "| crate | recompile, 1,000 fns (s) | / fastrace |"
echo "|---|---:|---:|"
# shellcheck disable=SC2086 # the runs are space-separated numbers
base=$(median ${runs[fastrace]})
for v in "${variants[@]}"; do
  # shellcheck disable=SC2086
  m=$(median ${runs[$v]})
  printf '| %s | %.2f | %s |\n' "$v" "$m" "$(awk "BEGIN { printf \"%.2f\", $m / $base }")"
done
echo
echo "runs (s), in round order:"
for v in "${variants[@]}"; do printf '  %-9s %s\n' "$v" "${runs[$v]}"; done
