#!/usr/bin/env bash
# Fuzz smoke: builds every cargo-fuzz target of fuzz/ and runs each for a few seconds, from
# its committed seeds (crash inputs kept there run first, as regression tests). Any crash
# (a panic, a failed invariant, a time-out on one input) fails the script and names the
# input that caused it.
#
# Runs on stable Rust: libFuzzer's coverage instrumentation needs no unstable flag, only the
# sanitizers do, so the default is --sanitizer none. FUZZ_SANITIZER=address adds
# AddressSanitizer (then -Zsanitizer: a nightly toolchain, or RUSTC_BOOTSTRAP=1 on stable,
# whose rust-std ships the runtime).
#
# Usage: bash .ci/fuzz-smoke.sh [TARGET...]      (default: every target)
# Env:   FUZZ_SECONDS (default 5) per target, FUZZ_SANITIZER (default none),
#        CARGO_TARGET_DIR (default $PWD/target/fuzz).
# Needs: cargo, a C++ compiler (libFuzzer is C++; g++ is installed if missing, as root),
#        cargo-fuzz (installed with cargo install --locked if missing).
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_EACH="${FUZZ_SECONDS:-5}"
SANITIZER="${FUZZ_SANITIZER:-none}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target/fuzz}"
t0=$SECONDS
step() { printf '==== fuzz: %s (%d s)\n' "$*" "$((SECONDS - t0))"; }

step "tools"
if ! command -v c++ >/dev/null; then
  [ "$(id -u)" = 0 ] || { echo "fuzz-smoke: no C++ compiler (apt-get install g++)" >&2; exit 1; }
  for i in 1 2 3 4 5; do
    (apt-get -o DPkg::Lock::Timeout=120 update -qq && DEBIAN_FRONTEND=noninteractive \
      apt-get -o DPkg::Lock::Timeout=120 install -y -qq --no-install-recommends g++) && break
    [ "$i" = 5 ] && { echo "fuzz-smoke: apt-get install g++ failed" >&2; exit 1; }
    echo "fuzz-smoke: apt busy or failed; retry $i" >&2; sleep 15
  done
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked
fi
cargo --version
cargo fuzz --version

targets=("$@")
if [ "${#targets[@]}" = 0 ]; then
  mapfile -t targets < <(cargo fuzz list)
fi
[ "${#targets[@]}" -gt 0 ] || { echo "fuzz-smoke: no fuzz targets" >&2; exit 1; }

step "build ${#targets[@]} targets (sanitizer $SANITIZER)"
if [ "$#" = 0 ]; then
  cargo fuzz build --sanitizer "$SANITIZER"
else
  for t in "${targets[@]}"; do cargo fuzz build --sanitizer "$SANITIZER" "$t"; done
fi
tb=$SECONDS

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failed=()
for t in "${targets[@]}"; do
  # New inputs go to a scratch corpus; the committed seeds are only read.
  mkdir -p "$work/$t" "fuzz/artifacts/$t"
  log="$work/$t.log"
  if cargo fuzz run --sanitizer "$SANITIZER" "$t" "$work/$t" "fuzz/corpus/$t" -- \
      -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
      > "$log" 2>&1; then
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    printf '%-16s ok   %8s runs in %s s\n' "$t" "${runs:-?}" "$SECONDS_EACH"
  else
    printf '%-16s FAILED\n' "$t"
    grep -E 'panicked|ERROR|SUMMARY|Test unit written|Failing input' "$log" | head -n 20 || true
    tail -n 30 "$log"
    failed+=("$t")
  fi
done

step "done: build $((tb - t0)) s, runs $((SECONDS - tb)) s"
if [ "${#failed[@]}" -gt 0 ]; then
  echo "fuzz-smoke: FAILED: ${failed[*]} (inputs in fuzz/artifacts/<target>/; rerun one with" >&2
  echo "  cargo fuzz run --sanitizer $SANITIZER <target> fuzz/artifacts/<target>/<file>)" >&2
  exit 1
fi
echo "fuzz-smoke: ${#targets[@]} targets passed, ${SECONDS_EACH} s each, in $((SECONDS - t0)) s"
