#!/usr/bin/env bash
# After a VM run: every image fsck-clean (e2fsck -fn: store.img, disk.img and the images
# inside the store), each token a root wrote (before or after a switch) is in its image,
# and the kernel log has no I/O error, ext4 error, panic or receive failure on nbd0 (the NBD root; the busy-root scenario's
# scratch device nbd1 backs nothing mounted and its daemon is stopped without a disconnect).
# Usage: tests/vm/check.sh NAME
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
dir=${VM_OUT:-$top/target/vm}/runs/${1:?usage: check.sh NAME}
fail=0
fsck() {
  if e2fsck -fn "$1" > "$dir/fsck.$2.log" 2>&1; then echo "vm/check: $2 clean"
  else echo "vm/check: $2 NOT clean:"; sed 's/^/    /' "$dir/fsck.$2.log"; fail=1; fi
}
fsck "$dir/store.img" store
fsck "$dir/disk.img" disk
for img in newroot noinit noexec; do
  debugfs -R "dump /$img.img $dir/$img.img" "$dir/store.img" > /dev/null 2>&1
  fsck "$dir/$img.img" "$img"
done
# "vm: token T in DEV:FILE read back T" (written before or after a switch): DEV names the
# image, the token must be in FILE there.
sed -n 's/.*vm: token \([^ ]*\) in \([^ :]*\):\([^ ]*\) read back.*/\1 \2 \3/p' "$dir/serial.log" |
while read -r token dev file; do
  case "$dev" in
    /dev/nbd0) img=$dir/newroot.img ;;
    /dev/vdb)  img=$dir/disk.img ;;
    *) echo "vm/check: token on unknown device $dev"; exit 1 ;;
  esac
  got=$(debugfs -R "cat $file" "$img" 2>/dev/null)
  if [ "$got" = "$token" ]; then echo "vm/check: token $token is in ${img##*/}:$file"
  else echo "vm/check: ${img##*/}:$file holds '$got', the console said '$token'"; exit 1; fi
done || fail=1
errors='I/O error\|Kernel panic\|nbd0: Receive control failed\|EXT4-fs error'
if grep -q "$errors" "$dir/serial.log"; then
  echo "vm/check: the kernel log has errors:"
  grep "$errors" "$dir/serial.log"; fail=1
fi
exit $fail
