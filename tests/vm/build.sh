#!/usr/bin/env bash
# Build the VM tier's images from the host's Debian kernel, busybox-static, qemu-nbd and the
# static reinit binary:
#   initramfs.cpio  first root: reinit as /init, busybox, qemu-nbd with its libraries, the
#                   kernel modules (virtio, ext4, nbd, virtio-rng), /etc/rc, /etc/rc.reroot
#                   (the shipped etc/rc.reroot.linux)
#   store.img       ext4 disk holding newroot.img (ext4: busybox, reinit as /sbin/init, /etc/rc)
#                   and noinit.img (the same without /sbin/init)
# Usage: tests/vm/build.sh [OUT]     (default target/vm)
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
out=${1:-$top/target/vm}
bin=${REINIT_BIN:-$top/target/x86_64-unknown-linux-gnu/release/reinit}
kver=${KVER:-$(ls /lib/modules | sort -V | tail -n 1)}
die() { echo "vm/build: $*" >&2; exit 1; }
[ -x "$bin" ] || die "$bin missing: run make build"
[ -f "/boot/vmlinuz-$kver" ] || die "/boot/vmlinuz-$kver missing: apt-get install linux-image-amd64"
[ -x /bin/busybox ] || die "busybox-static missing"
command -v qemu-nbd >/dev/null || die "qemu-nbd missing (qemu-utils)"

rm -rf "$out/tree" && mkdir -p "$out/tree"
cp "/boot/vmlinuz-$kver" "$out/vmlinuz"

# Modules: the closure of what the VM needs, dependencies first (modules.dep), and
# crc32c_generic, which ext4 needs through a softdep that modules.dep does not list.
moddir=/lib/modules/$kver
declare -A seen=()
order=()
modpath() { sed -n "s#^\(\(kernel/\)\?[^:]*/$1\.ko[^:]*\):.*#\1#p" "$moddir/modules.dep" | head -n 1; }
add_mod() {
  local name=${1//-/_} p deps d
  [ -n "${seen[$name]:-}" ] && return
  seen[$name]=1
  p=$(modpath "$name"); [ -n "$p" ] || p=$(modpath "${1//_/-}")
  [ -n "$p" ] || { echo "vm/build: module $1 is built in or missing; skipped" >&2; return; }
  deps=$(sed -n "s#^$p: *##p" "$moddir/modules.dep")
  for d in $deps; do d=${d##*/}; add_mod "${d%%.ko*}"; done
  order+=("$p")
}
for m in virtio_pci virtio_blk virtio_rng crc32c_generic ext4 nbd; do add_mod "$m"; done

root() {  # root DIR: busybox userland + reinit
  local r=$1
  mkdir -p "$r"/{bin,sbin,etc,dev,proc,sys,run,tmp,root,var/log,lib/modules}
  cp /bin/busybox "$r/bin/busybox"
  for a in $(/bin/busybox --list); do
    [ "$a" = busybox ] || [ "$a" = init ] || ln -sf busybox "$r/bin/$a"
  done
  cp "$bin" "$r/sbin/init"
  ln -sf /sbin/init "$r/bin/reinit"
}

# ---- first root: the initramfs
A=$out/tree/initramfs
root "$A"
ln -sf /sbin/init "$A/init"
: > "$A/etc/modules"
for p in "${order[@]}"; do
  f=${p##*/}
  case "$f" in
    *.ko.xz)  xz -dc "$moddir/$p" > "$A/lib/modules/${f%.xz}"; f=${f%.xz} ;;
    *.ko.zst) zstd -qdc "$moddir/$p" > "$A/lib/modules/${f%.zst}"; f=${f%.zst} ;;
    *.ko.gz)  gzip -dc "$moddir/$p" > "$A/lib/modules/${f%.gz}"; f=${f%.gz} ;;
    *)        cp "$moddir/$p" "$A/lib/modules/$f" ;;
  esac
  echo "$f" >> "$A/etc/modules"
done
# qemu-nbd at its own path with its loader and libraries at theirs, as on a Debian root.
nbd=$(command -v qemu-nbd)
mkdir -p "$A$(dirname "$nbd")" && cp "$nbd" "$A$nbd"
for lib in $(ldd "$nbd" | awk '/=> \//{print $3} /^\t\/[^ ]+ \(/{print $1}'); do
  mkdir -p "$A$(dirname "$lib")" && cp -L "$lib" "$A$lib"
done
mkdir -p "$A/etc/ld.so.conf.d"
cp /etc/ld.so.conf "$A/etc/" 2>/dev/null || true
cp /etc/ld.so.conf.d/*.conf "$A/etc/ld.so.conf.d/" 2>/dev/null || true
install -m 755 "$top/tests/vm/guest/rc.first" "$A/etc/rc"
install -m 755 "$top/etc/rc.reroot.linux" "$A/etc/rc.reroot"
(cd "$A" && find . | LC_ALL=C sort | cpio -o -H newc --quiet) > "$out/initramfs.cpio"

# ---- the new root, inside the store disk
N=$out/tree/newroot
root "$N"
install -m 755 "$top/tests/vm/guest/rc.new" "$N/etc/rc"
install -m 755 "$top/etc/rc.reroot.linux" "$N/etc/rc.reroot"
mkdir -p "$out/tree/store"
rm -f "$out/tree/store/newroot.img"
mke2fs -q -F -t ext4 -L newroot -d "$N" "$out/tree/store/newroot.img" 64M
# The same root without an init, for the fault scenarios.
rm -f "$N/sbin/init"
rm -f "$out/tree/store/noinit.img"
mke2fs -q -F -t ext4 -L noinit -d "$N" "$out/tree/store/noinit.img" 64M
rm -f "$out/store.img"
mke2fs -q -F -t ext4 -L store -d "$out/tree/store" "$out/store.img" 192M
echo "vm/build: kernel $kver; $(wc -l < "$A/etc/modules") modules; initramfs $(du -h "$out/initramfs.cpio" | cut -f1); store.img $(du -h --apparent-size "$out/store.img" | cut -f1)"
