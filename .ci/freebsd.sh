#!/usr/bin/env bash
# FreeBSD cross gate, run on a Debian 12 host with registry packages only (apt, PyPI, crates.io):
#   x86_64-unknown-freebsd:  check, clippy -D warnings, release build (link), test binaries link
#   aarch64-unknown-freebsd: check (type-check only)
#   x86_64-unknown-freebsd with +crt-static (the native FreeBSD build): check (type-check only)
#   verify: the x86_64 release binary is a dynamic FreeBSD ELF that needs only libc/libthr;
#           it and every test binary carry the FreeBSD ABI note (.ci/abi-note.sh, with
#           negative controls).
#
# Usage: bash .ci/freebsd.sh [setup|check|clippy|build|test-build|verify|all]   (default: all)
#   setup installs the tools only; every other mode runs setup first (idempotent, ~1 s if done).
# Env:   REINIT_FREEBSD_TOOLS (default ~/.cache/reinit-freebsd), CARGO_TARGET_DIR (default
#        $PWD/target/freebsd), FREEBSD_BIN (binary to verify, default reinit).
#
# How: Debian's rustc-web 1.96 ships a matching std
# source, so -Zbuild-std builds std for FreeBSD (RUSTC_BOOTSTRAP=1); zig (PyPI ziglang) links
# against its FreeBSD 14 libc stubs. Zig cannot link FreeBSD statically, so this binary is dynamic.
# rustup's toolchain is untouched: Debian's cargo goes first on PATH only inside this script.
set -euo pipefail

MODE="${1:-all}"
case "$MODE" in setup|check|clippy|build|test-build|verify|all) ;;
  *) echo "usage: $0 [setup|check|clippy|build|test-build|verify|all]" >&2; exit 2 ;; esac
TOOLS="${REINIT_FREEBSD_TOOLS:-$HOME/.cache/reinit-freebsd}"
ZIGLANG_VERSION=0.17.1
BIN="${FREEBSD_BIN:-reinit}"
X=x86_64-unknown-freebsd
A=aarch64-unknown-freebsd

STEP=setup
die() { echo "freebsd.sh: $*" >&2; exit 1; }
trap 'rc=$?; [ "$rc" = 0 ] || echo "freebsd.sh: FAILED in step \"$STEP\" (exit $rc)" >&2' EXIT
run() {  # run <name> <command...>: one timed step
  STEP=$1; shift; local t=$SECONDS
  echo "==== freebsd: $STEP"; "$@"; echo "==== freebsd: $STEP ok ($((SECONDS - t)) s)"
}

# ---- 1. Debian Rust 1.96 + std source (one archive snapshot), python venv, file, readelf
setup() {
  local need=() p i sudo=
  for p in rustc-web cargo-web rust-web-src rust-web-clippy; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || need+=("$p")
  done
  { command -v python3 >/dev/null && python3 -c 'import ensurepip, venv' 2>/dev/null; } \
    || need+=(python3 python3-venv)
  command -v file >/dev/null || need+=(file)
  command -v readelf >/dev/null || need+=(binutils)
  if [ "${#need[@]}" -gt 0 ]; then
    [ "$(id -u)" = 0 ] || sudo=sudo
    for i in 1 2 3 4 5 6; do   # another apt may hold the lock: wait, then retry
      ($sudo apt-get -o DPkg::Lock::Timeout=120 update -qq && DEBIAN_FRONTEND=noninteractive \
        $sudo apt-get -o DPkg::Lock::Timeout=120 install -y -qq --no-install-recommends "${need[@]}") && break
      [ "$i" = 6 ] && die "apt-get install ${need[*]} failed 6 times"
      echo "freebsd.sh: apt busy or failed; retry $i/6 in 20 s" >&2; sleep 20
    done
  fi
  [ -f /usr/lib/rustlib/src/rust/library/std/Cargo.toml ] || die "rust-web-src is missing"
  mkdir -p "$TOOLS/bin"
  for p in cargo rustc rustdoc cargo-clippy clippy-driver; do ln -sfn "/usr/bin/$p" "$TOOLS/bin/$p"; done

  # ---- 2. zig (PyPI ziglang) in a venv, used as the linker
  [ -x "$TOOLS/venv/bin/python" ] || python3 -m venv "$TOOLS/venv"
  "$TOOLS/venv/bin/python" -m pip show ziglang 2>/dev/null | grep -qx "Version: $ZIGLANG_VERSION" \
    || "$TOOLS/venv/bin/python" -m pip install -q --disable-pip-version-check "ziglang==$ZIGLANG_VERSION"
  ZIG="$("$TOOLS/venv/bin/python" -c 'import os,ziglang;print(os.path.join(os.path.dirname(ziglang.__file__),"zig"))')"
  [ -x "$ZIG" ] || die "zig not found at $ZIG"

  # One wrapper, linked as <triple>-zigcc; the zig target comes from the name it is called by.
  # Written to a temp file and renamed, so a concurrent run never executes a half-written one.
  cat > "$TOOLS/bin/.zigcc.$$" <<WRAP
#!/usr/bin/env bash
# rustc's linker for *-unknown-freebsd: 'zig cc' with zig's FreeBSD 14 stubs (dynamic only);
# for *-unknown-linux-musl (.ci/musl.sh): zig's own musl and LLVM libunwind, static.
set -eu
export ZIG_GLOBAL_CACHE_DIR="\${ZIG_GLOBAL_CACHE_DIR:-$TOOLS/zig-cache}"
case "\${0##*/}" in
  x86_64-unknown-freebsd-zigcc)  zt=x86_64-freebsd.14.0 ;;
  aarch64-unknown-freebsd-zigcc) zt=aarch64-freebsd.14.0 ;;
  x86_64-unknown-linux-musl-zigcc)  zt=x86_64-linux-musl ;;
  aarch64-unknown-linux-musl-zigcc) zt=aarch64-linux-musl ;;
  *) echo "zigcc-freebsd: unknown name \${0##*/}" >&2; exit 2 ;;
esac
args=()
add() { case "\$1" in
  -m64|-lkvm|-lmemstat|-lprocstat|-ldevstat) ;;  # implied by -target / no zig stubs, unused
  -lgcc_s) args+=(-lunwind) ;;                   # LLVM libunwind, linked statically
  *) args+=("\$1") ;; esac; }
for a in "\$@"; do
  if [ "\${a#@}" != "\$a" ] && [ -f "\${a#@}" ]; then   # rustc @response file: filter it too
    keep=("\${args[@]}"); args=(); while IFS= read -r l; do add "\$l"; done < "\${a#@}"
    printf '%s\n' "\${args[@]}" > "\${a#@}.zig"; args=("\${keep[@]}" "@\${a#@}.zig")
  else add "\$a"; fi
done
exec "$ZIG" cc -target "\$zt" "\${args[@]}"
WRAP
  chmod +x "$TOOLS/bin/.zigcc.$$"
  if cmp -s "$TOOLS/bin/.zigcc.$$" "$TOOLS/bin/zigcc-freebsd"; then rm -f "$TOOLS/bin/.zigcc.$$"
  else mv -f "$TOOLS/bin/.zigcc.$$" "$TOOLS/bin/zigcc-freebsd"; fi
  for p in $X $A x86_64-unknown-linux-musl aarch64-unknown-linux-musl; do
    ln -sfn zigcc-freebsd "$TOOLS/bin/$p-zigcc"
  done
}
run setup setup
[ "$MODE" = setup ] && exit 0

# ---- 3. environment, only inside this script
export PATH="$TOOLS/bin:$PATH" RUSTC_BOOTSTRAP=1
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target/freebsd}"   # apart from rustup builds
export CARGO_TARGET_X86_64_UNKNOWN_FREEBSD_LINKER="$TOOLS/bin/$X-zigcc" CC_x86_64_unknown_freebsd="$TOOLS/bin/$X-zigcc"
export CARGO_TARGET_AARCH64_UNKNOWN_FREEBSD_LINKER="$TOOLS/bin/$A-zigcc" CC_aarch64_unknown_freebsd="$TOOLS/bin/$A-zigcc"
unset RUSTC RUSTDOC RUSTC_WRAPPER RUSTFLAGS CARGO_ENCODED_RUSTFLAGS CARGO_BUILD_RUSTFLAGS RUSTUP_TOOLCHAIN
[ "$(command -v cargo)" = "$TOOLS/bin/cargo" ] || die "Debian cargo is not first on PATH"
BS=(-Zbuild-std=std,panic_abort)   # the same crate list for every command on one target dir
OUT="$CARGO_TARGET_DIR/$X/release/$BIN"
echo "freebsd.sh: $(cargo -V); $(rustc -V); zig $("$ZIG" version); target dir $CARGO_TARGET_DIR"

build() {
  cargo build "${BS[@]}" --target "$X" --locked --release
  [ -f "$OUT" ] || die "$OUT was not built (is FREEBSD_BIN=$BIN the binary's name?)"
  [ "$(head -c 4 "$OUT" | od -An -c | tr -d ' ')" = 177ELF ] || die "$OUT is not an ELF file"
  # zig's crt1 leaves EI_OSABI (byte 7) as 0 = SYSV; brand it 9 = FreeBSD, as brandelf -t FreeBSD.
  printf '\011' | dd of="$OUT" bs=1 seek=7 count=1 conv=notrunc status=none
}

verify() {
  [ -f "$OUT" ] || die "$OUT not built; run: $0 build"
  local f osabi interp tag needed n
  f=$(file -b "$OUT"); echo "file: $f"
  case "$f" in *"ELF 64-bit"*"x86-64"*) ;; *) die "not an ELF 64-bit x86-64 file: $f" ;; esac
  case "$f" in *FreeBSD*) ;; *) die "file(1) does not say FreeBSD: $f" ;; esac
  osabi=$(readelf -h "$OUT" | sed -n 's/^ *OS\/ABI: *//p'); echo "OS/ABI: $osabi"
  [ "$osabi" = "UNIX - FreeBSD" ] || die "ELF header OS/ABI is '$osabi', not 'UNIX - FreeBSD'"
  interp=$(readelf -l "$OUT" | sed -n 's/.*program interpreter: \(.*\)]/\1/p')
  [ "$interp" = /libexec/ld-elf.so.1 ] || die "interpreter is '$interp', not /libexec/ld-elf.so.1"
  # The FreeBSD ABI note (p_osrel) of the release binary and of every test binary.
  tag=$(bash .ci/abi-note.sh "$OUT") || die "no FreeBSD ABI note (.note.tag) in $OUT"
  tag=${tag##* }
  echo "ABI note: FreeBSD $tag"
  local tests=() t
  while IFS= read -r t; do tests+=("$t"); done < <(cargo test --no-run "${BS[@]}" -Zpanic-abort-tests \
    --target "$X" --locked --message-format=json 2>/dev/null | sed -n 's/.*"executable":"\([^"]*\)".*/\1/p')
  [ "${#tests[@]}" -gt 0 ] || die "no test binaries found (run: $0 test-build)"
  bash .ci/abi-note.sh "${tests[@]}" || die "a test binary lacks the FreeBSD ABI note"
  # Negative controls: the check refuses a copy without the note and one whose version is 0.
  local bad="$CARGO_TARGET_DIR/abi-note-control"
  objcopy --remove-section=.note.tag "$OUT" "$bad.none"
  ! bash .ci/abi-note.sh "$bad.none" 2>/dev/null || die "abi-note.sh accepted a binary without .note.tag"
  cp "$OUT" "$bad.zero"
  local off; off=$(readelf -SW "$bad.zero" | sed -n 's/^ *\[ *[0-9]*\] *//p' | awk '$1 == ".note.tag" {print $4; exit}')
  [ -n "$off" ] || die "no .note.tag section in $OUT"
  off=$((16#$off))
  # Elf_Note: namesz, descsz, type (12 bytes), "FreeBSD\0" (8), then the 4-byte version.
  printf '\0\0\0\0' | dd of="$bad.zero" bs=1 seek=$((off + 20)) count=4 conv=notrunc status=none
  ! bash .ci/abi-note.sh "$bad.zero" 2>/dev/null || die "abi-note.sh accepted ABI note version 0"
  echo "abi-note controls: a copy without .note.tag and one with version 0 are refused"
  needed=$(readelf -d "$OUT" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | sort | paste -sd ' ' -)
  echo "NEEDED: ${needed:-none}"
  for n in $needed; do
    case "$n" in libc.so.7|libthr.so.3) ;; *) die "unexpected NEEDED entry '$n' (allowed: libc.so.7 libthr.so.3)" ;; esac
  done
  echo "size: $(stat -c %s "$OUT") bytes"
  echo "freebsd verify OK: $BIN: ELF64 x86-64, OS/ABI FreeBSD, note $tag, interp $interp, NEEDED ${needed:-none}, $(( $(stat -c %s "$OUT") / 1024 )) KiB"
}

# ---- 4. the gate
case "$MODE" in check|all) run "check $X" cargo check "${BS[@]}" --target "$X" --locked --all-targets -Zpanic-abort-tests ;; esac
case "$MODE" in clippy|all) run "clippy $X" cargo clippy "${BS[@]}" --target "$X" --locked --all-targets -Zpanic-abort-tests -- -D warnings ;; esac
case "$MODE" in build|all) run "build $X (release, link)" build ;; esac
case "$MODE" in test-build|all) run "test-build $X" cargo test --no-run "${BS[@]}" -Zpanic-abort-tests --target "$X" --locked ;; esac
case "$MODE" in verify|all) run "verify $X" verify ;; esac
case "$MODE" in check|all) run "check $A" cargo check "${BS[@]}" --target "$A" --locked ;; esac
# The static build (the one `make` does on FreeBSD) takes other cfg paths (libcrypt linked, not
# dlopened): type-check it too, in its own target dir (std is rebuilt for other flags). zig
# has no FreeBSD static libc, so it cannot be linked here.
case "$MODE" in check|all) run "check $X (crt-static)" env CARGO_TARGET_DIR="$CARGO_TARGET_DIR/static" \
  REINIT_FREEBSD_VERSION=1400500 \
  CARGO_TARGET_X86_64_UNKNOWN_FREEBSD_RUSTFLAGS="-C target-feature=+crt-static" \
  cargo check "${BS[@]}" --target "$X" --locked --all-targets -Zpanic-abort-tests ;; esac
echo "freebsd.sh: $MODE passed in $SECONDS s"
