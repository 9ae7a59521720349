#!/usr/bin/env bash
# Install what `make bench` needs on Debian (as root): the PID 1s it compares (tini,
# tini-static, catatonit, busybox-static), gcc with static glibc for the floor and the
# helpers, strace for the syscall counts, binutils for strip and nm.
set -euo pipefail
need=()
for p in tini catatonit busybox-static gcc libc6-dev strace binutils util-linux; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || need+=("$p")
done
[ "${#need[@]}" -eq 0 ] && exit 0
sudo=; [ "$(id -u)" = 0 ] || sudo=sudo
for i in 1 2 3 4 5; do
  if $sudo apt-get -o DPkg::Lock::Timeout=120 update -qq &&
     DEBIAN_FRONTEND=noninteractive $sudo apt-get -o DPkg::Lock::Timeout=120 install -y -qq \
       --no-install-recommends "${need[@]}"; then exit 0; fi
  echo "bench/deps: apt failed; retry $i/5" >&2; sleep 15
done
exit 1
