#!/usr/bin/env bash
# The Linux release binary: static, on musl, with std rebuilt without the backtrace symbolizer.
#
# Why: the binary is copied into RAM and re-executed at every reroot, and its pages are most of
# PID 1's memory. Static glibc with libxcrypt is ~880 KB of a 1.7 MB binary; on musl the whole
# binary is ~0.7 MB (`make bench`). yescrypt, which musl's crypt(3) lacks, is checked in Rust
# (src/passwd/crypt.rs) on every Linux build.
#
# How: the tools of the FreeBSD gate (.ci/freebsd.sh setup): Debian's rustc-web with its std
# source, so -Zbuild-std builds std for musl (RUSTC_BOOTSTRAP=1), and zig (PyPI ziglang) as
# the linker, which brings musl and LLVM's libunwind (panics still unwind: PID 1 catches a
# fault in a state and goes to single-user mode; `reinit check` shows it works).
#
# Usage: bash .ci/musl.sh [OUT]   builds and copies the binary to OUT (default
#        target/musl/reinit). Env: REINIT_FREEBSD_TOOLS, CARGO_TARGET_DIR as in .ci/freebsd.sh.
set -euo pipefail
OUT="${1:-target/musl/reinit}"
TOOLS="${REINIT_FREEBSD_TOOLS:-$HOME/.cache/reinit-freebsd}"
case "$(uname -m)" in
  x86_64) T=x86_64-unknown-linux-musl ;;
  aarch64) T=aarch64-unknown-linux-musl ;;
  *) echo "musl.sh: no musl build for $(uname -m); use make LIBC=gnu" >&2; exit 2 ;;
esac
if [ ! -f /usr/lib/rustlib/src/rust/library/std/Cargo.toml ] && ! command -v apt-get >/dev/null; then
  echo "musl.sh: needs Debian's rustc-web and rust-web-src (std's source for -Zbuild-std);" \
    "elsewhere build with: make LIBC=gnu" >&2
  exit 2
fi
bash .ci/freebsd.sh setup >/dev/null
export PATH="$TOOLS/bin:$PATH" RUSTC_BOOTSTRAP=1
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target/musl}"
unset RUSTC RUSTDOC RUSTC_WRAPPER CARGO_ENCODED_RUSTFLAGS CARGO_BUILD_RUSTFLAGS RUSTUP_TOOLCHAIN
V=$(echo "$T" | tr 'a-z-' 'A-Z_')
export "CARGO_TARGET_${V}_LINKER=$TOOLS/bin/$T-zigcc"
# Static and not position-independent (as the glibc build: no self-relocation at each start);
# the crt files and libc come from zig, not from a rustup sysroot.
export RUSTFLAGS="-C target-feature=+crt-static -C relocation-model=static -C link-self-contained=no"
cargo build --release --locked --target "$T" -Zbuild-std=std,panic_unwind -Zbuild-std-features=
mkdir -p "$(dirname "$OUT")"
cp -f "$CARGO_TARGET_DIR/$T/release/reinit" "$OUT.new"
mv -f "$OUT.new" "$OUT"
echo "musl.sh: $OUT: $(stat -c %s "$OUT") bytes"
