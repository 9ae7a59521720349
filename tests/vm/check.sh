#!/usr/bin/env bash
# After a VM run: every image fsck-clean (e2fsck -fn), and the token the new root wrote is
# in the NBD image. Usage: tests/vm/check.sh NAME
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
dir=${VM_OUT:-$top/target/vm}/runs/${1:?usage: check.sh NAME}
fail=0
fsck() {
  if e2fsck -fn "$1" > "$dir/fsck.$2.log" 2>&1; then echo "vm/check: $2 clean"
  else echo "vm/check: $2 NOT clean:"; sed 's/^/    /' "$dir/fsck.$2.log"; fail=1; fi
}
fsck "$dir/store.img" store
debugfs -R "dump /newroot.img $dir/newroot.img" "$dir/store.img" > /dev/null 2>&1
fsck "$dir/newroot.img" newroot
token=$(sed -n 's/.*vm: token \([^ ]*\) read back.*/\1/p' "$dir/serial.log" | tail -n 1)
if [ -n "$token" ]; then
  got=$(debugfs -R "cat /token" "$dir/newroot.img" 2>/dev/null)
  if [ "$got" = "$token" ]; then echo "vm/check: token $token is in the image"
  else echo "vm/check: token in the image is '$got', console said '$token'"; fail=1; fi
fi
if grep -q "I/O error\|Kernel panic\|Receive control failed" "$dir/serial.log"; then
  echo "vm/check: the kernel log has errors:"; grep "I/O error\|Kernel panic\|Receive control failed" "$dir/serial.log"; fail=1
fi
exit $fail
