#!/usr/bin/env bash
# Build the VM tier's images from the host's Debian kernel, busybox-static, qemu-nbd and the
# static reinit binary:
#   initramfs.cpio  first root: reinit as /init, busybox, qemu-nbd with its libraries, the
#                   kernel modules (virtio, ext4, nbd, virtio-rng), /etc/rc (guest/rc),
#                   /etc/rc.reroot (the shipped etc/rc.reroot.linux), root's password
#                   "reinit-vm", an insecure console
#   initramfs-bare.cpio  the same, with /dev/console a directory (no initial console)
#   disk.img        the same system on an ext4 disk (/dev/vdb), reinit as /sbin/init
#   boot.cpio       a minimal initramfs that loads the modules and switch_roots to root=
#                   (Debian's kernel has virtio and ext4 as modules)
#   store.img       ext4 disk (/dev/vda) holding the images served over NBD: newroot.img
#                   (busybox, reinit as /sbin/init, guest/rc), noinit.img (no /sbin/init) and
#                   noexec.img (/sbin/init mode 0644)
# Usage: tests/vm/build.sh [OUT]     (default target/vm)
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
out=${1:-$top/target/vm}
bin=${REINIT_BIN:-$top/target/reinit}
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

# root's password in every root: "reinit-vm" (the single-user scenario types it).
hash='$6$reinitvm$grFBYbBkRXckIv0fVKZNaghLr4RRjmMSt7beszKpji/kqNSSz3rN7o/sb9X8ZiiJSBiejHJBQ.pSurStoIF001'

root() {  # root DIR: busybox userland + reinit + the guest's /etc
  local r=$1
  mkdir -p "$r"/{bin,sbin,etc,dev,proc,sys,run,tmp,root,var/log,lib/modules}
  cp /bin/busybox "$r/bin/busybox"
  for a in $(/bin/busybox --list); do
    [ "$a" = busybox ] || [ "$a" = init ] || ln -sf busybox "$r/bin/$a"
  done
  cp "$bin" "$r/sbin/init"
  ln -sf /sbin/init "$r/bin/reinit"
  install -m 755 "$top/tests/vm/guest/rc" "$r/etc/rc"
  install -m 755 "$top/etc/rc.reroot.linux" "$r/etc/rc.reroot"
  echo "root:x:0:0:root:/root:/bin/sh" > "$r/etc/passwd"
  echo "root:$hash:20000:0:99999:7:::" > "$r/etc/shadow"
  chmod 600 "$r/etc/shadow"
  echo 'console none unknown off insecure' > "$r/etc/ttys"
}

unpack_mod() {  # unpack_mod PATH DIR: the module, decompressed, into DIR; prints its name
  local f=${1##*/}
  case "$f" in
    *.ko.xz)  xz -dc "$moddir/$1" > "$2/${f%.xz}"; echo "${f%.xz}" ;;
    *.ko.zst) zstd -qdc "$moddir/$1" > "$2/${f%.zst}"; echo "${f%.zst}" ;;
    *.ko.gz)  gzip -dc "$moddir/$1" > "$2/${f%.gz}"; echo "${f%.gz}" ;;
    *)        cp "$moddir/$1" "$2/$f"; echo "$f" ;;
  esac
}

# ---- first root: the initramfs
A=$out/tree/initramfs
root "$A"
ln -sf /sbin/init "$A/init"
: > "$A/etc/modules"
for p in "${order[@]}"; do unpack_mod "$p" "$A/lib/modules" >> "$A/etc/modules"; done
# qemu-nbd, and Debian's nbd-server and nbd-client (the real NBD peers), each at its own
# path with its loader and libraries at theirs, as on a Debian root.
for prog in qemu-nbd nbd-server nbd-client; do
  p=$(command -v "$prog") || die "$prog missing (tests/vm/deps.sh installs it)"
  mkdir -p "$A$(dirname "$p")" && cp "$p" "$A$p"
  for lib in $(ldd "$p" | awk '/=> \//{print $3} /^\t\/[^ ]+ \(/{print $1}'); do
    mkdir -p "$A$(dirname "$lib")" && cp -L "$lib" "$A$lib"
  done
done
mkdir -p "$A/etc/ld.so.conf.d"
cp /etc/ld.so.conf "$A/etc/" 2>/dev/null || true
cp /etc/ld.so.conf.d/*.conf "$A/etc/ld.so.conf.d/" 2>/dev/null || true
(cd "$A" && find . | LC_ALL=C sort | cpio -o -H newc --quiet) > "$out/initramfs.cpio"
# The same initramfs with /dev/console a directory: an archive appended to it replaces the
# kernel's built-in /dev/console node, so the kernel cannot open an initial console and starts
# /init with no descriptors 0-2 (and there is no /dev/null).
C=$out/tree/bare
rm -rf "$C" && mkdir -p "$C/dev/console"
(cd "$C" && find dev/console | cpio -o -H newc --quiet) | cat "$out/initramfs.cpio" - > "$out/initramfs-bare.cpio"

# ---- the same system on a disk, booted through boot.cpio
rm -f "$out/disk.img"
mke2fs -q -F -t ext4 -L disk -d "$A" "$out/disk.img" 128M
B=$out/tree/boot
mkdir -p "$B"/{bin,dev,proc,newroot,lib/modules,etc}
cp /bin/busybox "$B/bin/busybox"
cp "$A/etc/modules" "$B/etc/modules"
cp "$A"/lib/modules/*.ko "$B/lib/modules/"
cat > "$B/init" <<'INIT'
#!/bin/busybox sh
# Minimal initramfs: load the modules, mount root= read-only, switch_root to its /sbin/init.
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t devtmpfs -o mode=0755 devtmpfs /dev
while read -r m; do insmod "/lib/modules/$m"; done < /etc/modules
root=$(sed -n 's/.*\broot=\([^ ]*\).*/\1/p' /proc/cmdline)
i=0
while [ ! -b "$root" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
mount -t ext4 -o ro "$root" /newroot || { echo "boot: cannot mount $root"; exec sh; }
mount --move /dev /newroot/dev
umount /proc
exec switch_root /newroot /sbin/init "$@"
INIT
chmod 755 "$B/init"
(cd "$B" && find . | LC_ALL=C sort | cpio -o -H newc --quiet) > "$out/boot.cpio"

# ---- the new roots, inside the store disk
N=$out/tree/newroot
root "$N"
mkdir -p "$out/tree/store"
rm -f "$out/tree/store"/*.img
mke2fs -q -F -t ext4 -L newroot -d "$N" "$out/tree/store/newroot.img" 64M
# The same root with an init that is not executable, then without one.
chmod 644 "$N/sbin/init"
mke2fs -q -F -t ext4 -L noexec -d "$N" "$out/tree/store/noexec.img" 64M
rm -f "$N/sbin/init"
mke2fs -q -F -t ext4 -L noinit -d "$N" "$out/tree/store/noinit.img" 64M
rm -f "$out/store.img"
mke2fs -q -F -t ext4 -L store -d "$out/tree/store" "$out/store.img" 256M
echo "vm/build: kernel $kver; $(wc -l < "$A/etc/modules") modules; initramfs $(du -h "$out/initramfs.cpio" | cut -f1); boot.cpio $(du -h "$out/boot.cpio" | cut -f1); disk.img $(du -h "$out/disk.img" | cut -f1); store.img $(du -h --apparent-size "$out/store.img" | cut -f1)"
