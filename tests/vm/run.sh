#!/usr/bin/env bash
# One VM run: boot the images of tests/vm/build.sh under QEMU (TCG, no network), with the
# serial console on stdout prefixed by host seconds, and kept in target/vm/runs/NAME/
# (serial.log: timestamped lines; console.raw: the bytes as they came, prompts included).
# Disks: store.img is /dev/vda, disk.img is /dev/vdb (both copied per run). A root= in the
# kernel arguments boots that disk through boot.cpio; vm_initrd=bare boots
# initramfs-bare.cpio; otherwise initramfs.cpio is the root.
# VM_INPUT=FILE types into the serial console: each line is "N<TAB>MARKER<TAB>TEXT", sent
# (with a carriage return) once MARKER has appeared N times on the console.
# Exit status: QEMU's (timeout: 124).
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
cp --sparse=always "$vm/disk.img" "$dir/disk.img"
initrd=$vm/initramfs.cpio
case " $kargs " in *" root="*) initrd=$vm/boot.cpio ;; esac
case " $kargs " in *" vm_initrd=bare "*) initrd=$vm/initramfs-bare.cpio ;; esac
start=$(date +%s%N)
since() { echo $(( ($(date +%s%N) - start) / 1000000 )) | awk '{printf "%d.%03d", $1 / 1000, $1 % 1000}'; }

input=/dev/null feeder=
if [ -n "${VM_INPUT:-}" ]; then
  input=$dir/console.in
  mkfifo "$input"
  (
    exec 3> "$input"
    while IFS=$'\t' read -r n marker text; do
      until [ "$(grep -caF -- "$marker" "$dir/console.raw" 2>/dev/null)" -ge "$n" ]; do sleep 0.2; done
      sleep 0.3
      printf '%s\r' "$text" >&3
    done < "$VM_INPUT"
    exec sleep "${VM_TIMEOUT:-120}"   # keeps the FIFO open; killed when QEMU is done
  ) &
  feeder=$!
fi

set +e
timeout "${VM_TIMEOUT:-120}" qemu-system-x86_64 -accel tcg -machine pc -m 512 -smp 1 \
  -nodefaults -nic none -display none -no-reboot \
  -chardev "stdio,id=con,signal=off,logfile=$dir/console.raw" -serial chardev:con \
  -device virtio-rng-pci \
  -kernel "$vm/vmlinuz" -initrd "$initrd" \
  -drive "file=$dir/store.img,format=raw,if=virtio" \
  -drive "file=$dir/disk.img,format=raw,if=virtio" \
  -append "console=ttyS0 panic=-1 printk.devkmsg=on reroot_store=/dev/vda $kargs" \
  < "$input" 2>"$dir/qemu.stderr" |
  while IFS= read -r line; do
    line=${line%$'\r'}
    printf '%7s %s\n' "$(since)" "$line"
  done | tee "$dir/serial.log"
rc=${PIPESTATUS[0]}
set -e
[ -z "$feeder" ] || kill "$feeder" 2>/dev/null || true
echo "vm/run: $name: qemu exited $rc after $(since) s" | tee -a "$dir/serial.log"
exit "$rc"
