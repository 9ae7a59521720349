#!/usr/bin/env bash
# Install what the VM tier needs on Debian (as root): QEMU (system + qemu-nbd from the same
# release), the distribution kernel with its modules, busybox-static, e2fsprogs, cpio, and
# Debian's nbd-server and nbd-client (the real NBD peers of two scenarios).
set -euo pipefail
need=()
for p in qemu-system-x86 qemu-utils linux-image-amd64 busybox-static e2fsprogs cpio nbd-server nbd-client; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || need+=("$p")
done
# qemu-utils must come from the same release as qemu-system-x86 (they share qemu-system-common).
if ! qemu-nbd --version 2>/dev/null | grep -q "$(dpkg-query -W -f='${Version}' qemu-system-x86 2>/dev/null | sed 's/^1://; s/+.*//')"; then
  need+=(qemu-utils)
fi
[ "${#need[@]}" -eq 0 ] && exit 0
sudo=; [ "$(id -u)" = 0 ] || sudo=sudo
for i in 1 2 3 4 5; do
  # A newer qemu-utils (backports) may already be installed: ask for qemu-system-x86's
  # version of it explicitly, downgrading if need be.
  if $sudo apt-get -o DPkg::Lock::Timeout=120 update -qq &&
     v=$(apt-cache policy qemu-system-x86 | sed -n 's/^ *Candidate: //p') && [ -n "$v" ] &&
     DEBIAN_FRONTEND=noninteractive $sudo apt-get -o DPkg::Lock::Timeout=120 install -y -qq \
       --no-install-recommends --allow-downgrades \
       "qemu-system-x86=$v" "qemu-system-common=$v" "qemu-utils=$v" \
       linux-image-amd64 busybox-static e2fsprogs cpio nbd-server nbd-client; then exit 0; fi
  echo "vm/deps: apt failed; retry $i/5" >&2; sleep 15
done
exit 1
