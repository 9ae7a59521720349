#!/usr/bin/env bash
# One VM run: boot the images of tests/vm/build.sh under QEMU (TCG, no network), with the
# serial console on stdout prefixed by host seconds, and the console kept in
# target/vm/runs/NAME/serial.log. Exit status: QEMU's (timeout: 124).
# Usage: tests/vm/run.sh NAME [EXTRA KERNEL ARGS]
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
vm=${VM_OUT:-$top/target/vm}
name=${1:?usage: run.sh NAME [KARGS]}
shift
kargs="$*"
dir=$vm/runs/$name
rm -rf "$dir" && mkdir -p "$dir"
cp --sparse=always "$vm/store.img" "$dir/store.img"
start=$(date +%s%N)
since() { echo $(( ($(date +%s%N) - start) / 1000000 )) | awk '{printf "%d.%03d", $1 / 1000, $1 % 1000}'; }
set +e
timeout "${VM_TIMEOUT:-180}" qemu-system-x86_64 -accel tcg -machine pc -m 512 -smp 1 \
  -nodefaults -nic none -display none -no-reboot -serial stdio \
  -device virtio-rng-pci \
  -kernel "$vm/vmlinuz" -initrd "$vm/initramfs.cpio" \
  -drive "file=$dir/store.img,format=raw,if=virtio" \
  -append "console=ttyS0 panic=-1 printk.devkmsg=on reroot_store=/dev/vda $kargs" \
  < /dev/null 2>"$dir/qemu.stderr" |
  while IFS= read -r line; do
    line=${line%$'\r'}
    printf '%7s %s\n' "$(since)" "$line"
  done | tee "$dir/serial.log"
rc=${PIPESTATUS[0]}
set -e
echo "vm/run: $name: qemu exited $rc after $(since) s" | tee -a "$dir/serial.log"
exit "$rc"
