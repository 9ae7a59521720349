#!/usr/bin/env bash
# FreeBSD gate, run from a Debian host with registry packages only:
#   x86_64-unknown-freebsd:  check, clippy -D warnings, release build (link), test binaries link
#   aarch64-unknown-freebsd: check
#   verify: the x86_64 binary is a FreeBSD ELF whose only NEEDED entries are libc/libthr.
#
# Usage: bash .ci/freebsd.sh [check|clippy|build|test-build|verify|all]   (default: all)
#
# How: Debian's rustc-web 1.96 ships the std source, so -Zbuild-std can build std for FreeBSD
# (RUSTC_BOOTSTRAP=1); zig (PyPI ziglang) links against its FreeBSD 14 libc stubs. Zig cannot
# link FreeBSD statically, so this binary is dynamic; a static one is built on FreeBSD itself.
# Tools live outside the repository ($REINIT_FREEBSD_TOOLS); rustup's toolchain is untouched
# (Debian's cargo is put first on PATH only inside this script).
set -euo pipefail

MODE="${1:-all}"
TOOLS="${REINIT_FREEBSD_TOOLS:-$HOME/.cache/reinit-freebsd}"
ZIGLANG_VERSION=0.17.1
BIN="${FREEBSD_BIN:-reinit}"

die() { echo "freebsd.sh: $*" >&2; exit 1; }

# ---- 1. Debian Rust with std source (same archive snapshot as rustc)
need=()
for p in rustc-web cargo-web rust-web-src rust-web-clippy python3-venv; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || need+=("$p")
done
if [ "${#need[@]}" -gt 0 ]; then
  for i in 1 2 3 4 5 6; do
    if (apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends "${need[@]}"); then break; fi
    [ "$i" = 6 ] && die "apt-get install ${need[*]} failed"
    echo "apt busy or failed; retry $i" >&2; sleep 20
  done
fi
[ -f /usr/lib/rustlib/src/rust/library/std/Cargo.toml ] || die "rust-web-src is missing"
mkdir -p "$TOOLS/bin"
for t in cargo rustc rustdoc cargo-clippy clippy-driver; do ln -sfn "/usr/bin/$t" "$TOOLS/bin/$t"; done

# ---- 2. zig as the linker
[ -x "$TOOLS/venv/bin/python" ] || python3 -m venv "$TOOLS/venv"
"$TOOLS/venv/bin/python" -m pip show ziglang 2>/dev/null | grep -qx "Version: $ZIGLANG_VERSION" \
  || "$TOOLS/venv/bin/python" -m pip install -q "ziglang==$ZIGLANG_VERSION"
ZIG="$("$TOOLS/venv/bin/python" -c 'import os,ziglang;print(os.path.join(os.path.dirname(ziglang.__file__),"zig"))')"

# One wrapper; the zig target comes from the name it is called by.
cat > "$TOOLS/bin/zigcc-freebsd" <<WRAP
#!/usr/bin/env bash
set -eu
case "\${0##*/}" in
  x86_64-unknown-freebsd-zigcc)  zt=x86_64-freebsd.14.0 ;;
  aarch64-unknown-freebsd-zigcc) zt=aarch64-freebsd.14.0 ;;
  *) echo "zigcc-freebsd: unknown name \${0##*/}" >&2; exit 2 ;;
esac
fix() { case "\$1" in
  -m64|-lkvm|-lmemstat|-lprocstat|-ldevstat) ;;  # no zig stubs; nothing here calls them
  -lgcc_s) echo -lunwind ;;                      # LLVM libunwind, linked statically
  *) printf '%s\n' "\$1" ;; esac; }
args=()
for a in "\$@"; do
  if [ "\${a#@}" != "\$a" ] && [ -f "\${a#@}" ]; then   # rustc @response file
    t=\$(mktemp); while IFS= read -r l; do fix "\$l"; done < "\${a#@}" > "\$t"; args+=("@\$t")
  else
    r=\$(fix "\$a"); [ -n "\$r" ] && args+=("\$r")
  fi
done
exec "$ZIG" cc -target "\$zt" "\${args[@]}"
WRAP
chmod +x "$TOOLS/bin/zigcc-freebsd"
for tr in x86_64-unknown-freebsd aarch64-unknown-freebsd; do ln -sfn zigcc-freebsd "$TOOLS/bin/$tr-zigcc"; done

# ---- 3. environment, only for this script
export PATH="$TOOLS/bin:$PATH" RUSTC_BOOTSTRAP=1
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target/freebsd}"
export CARGO_TARGET_X86_64_UNKNOWN_FREEBSD_LINKER="$TOOLS/bin/x86_64-unknown-freebsd-zigcc"
export CARGO_TARGET_AARCH64_UNKNOWN_FREEBSD_LINKER="$TOOLS/bin/aarch64-unknown-freebsd-zigcc"
unset RUSTC RUSTDOC RUSTC_WRAPPER RUSTFLAGS 2>/dev/null || true
BS=(-Zbuild-std=std,panic_abort)   # one crate list for every command on a target dir
X=x86_64-unknown-freebsd
A=aarch64-unknown-freebsd
OUT="$CARGO_TARGET_DIR/$X/release/$BIN"
echo "cargo: $(cargo -V); zig: $("$ZIG" version)"

verify() {
  [ -f "$OUT" ] || die "$OUT not built"
  # zig's crt1 leaves EI_OSABI as SYSV; brand it FreeBSD (9) as brandelf -t FreeBSD does.
  printf '\x09' | dd of="$OUT" bs=1 seek=7 conv=notrunc status=none
  local f needed
  f=$(file "$OUT"); echo "$f"
  case "$f" in *"ELF 64-bit"*"x86-64"*"FreeBSD"*) ;; *) die "not a FreeBSD x86-64 ELF: $f" ;; esac
  readelf -h "$OUT" | grep -q 'UNIX - FreeBSD' || die "OS/ABI is not FreeBSD"
  readelf -n "$OUT" | grep -qi 'FreeBSD' || die "no FreeBSD ABI note"
  needed=$(readelf -d "$OUT" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | sort | tr '\n' ' ')
  for n in $needed; do
    case "$n" in libc.so.7|libthr.so.3) ;; *) die "unexpected NEEDED entry: $n" ;; esac
  done
  echo "freebsd verify: ok: NEEDED = ${needed}size = $(stat -c %s "$OUT") bytes"
}

case "$MODE" in check|all) cargo check "${BS[@]}" --target "$X" --locked --all-targets -Zpanic-abort-tests ;; esac
case "$MODE" in clippy|all) cargo clippy "${BS[@]}" --target "$X" --locked --all-targets -Zpanic-abort-tests -- -D warnings ;; esac
case "$MODE" in build|all) cargo build "${BS[@]}" --target "$X" --locked --release ;; esac
case "$MODE" in test-build|all) cargo test --no-run "${BS[@]}" -Zpanic-abort-tests --target "$X" --locked ;; esac
case "$MODE" in verify|all) verify ;; esac
case "$MODE" in check|all) cargo check "${BS[@]}" --target "$A" --locked ;; esac
