#!/usr/bin/env bash
# The VM tier: each scenario boots the images of build.sh, checks the console for the
# markers of its documented end state, then checks the images on the host (check.sh).
# Writes per-scenario wall time and the reroot phase timings (JSON lines) to
# target/vm/results.jsonl. On failure the serial transcript stays in target/vm/runs/NAME/.
# Usage: tests/vm/test.sh [SCENARIO...]    (default: all)
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${VM_OUT:-$(cd "$here/../.." && pwd)/target/vm}
results=$out/results.jsonl

# name | kernel args | markers that must appear (;-separated) | markers that must not
scenarios=(
  "initramfs-to-nbd||reroot #1: stage;vm: new root up on /dev/nbd0;survivor;shutdown: / remounted read-only;/dev/nbd0 disconnected|reroot aborted;single user"
  "hook-fails|reroot_store=/dev/vdz|reroot aborted: hook:;vm: still on the first root;still running|vm: new root up"
  "no-init|reroot_image=noinit.img|reroot aborted: init: no executable init;/etc/rc.reroot (abort);vm: still on the first root;still running|vm: new root up"
)

pass=0 failed=()
: > "$results"
for s in "${scenarios[@]}"; do
  IFS='|' read -r name kargs want avoid <<< "$s"
  if [ $# -gt 0 ] && [[ " $* " != *" $name "* ]]; then continue; fi
  t0=$(date +%s%N)
  "$here/run.sh" "$name" $kargs > /dev/null 2>&1
  rc=$?
  log=$out/runs/$name/serial.log
  why=()
  [ "$rc" = 0 ] || why+=("qemu exited $rc")
  IFS=';' read -ra ws <<< "$want"
  for w in "${ws[@]}"; do grep -qF -- "$w" "$log" || why+=("missing: $w"); done
  IFS=';' read -ra as <<< "$avoid"
  for a in "${as[@]}"; do [ -z "$a" ] || ! grep -qF -- "$a" "$log" || why+=("unexpected: $a"); done
  if ! "$here/check.sh" "$name" > "$out/runs/$name/check.txt" 2>&1; then
    why+=("host check: $(grep -v ' clean$\| is in the image$' "$out/runs/$name/check.txt" | head -n 3 | tr '\n' ' ')")
  fi
  ms=$(( ($(date +%s%N) - t0) / 1000000 ))
  timings=$(sed -n 's/.*reroot #[0-9]*: //p' "$log" | head -n 1 |
    awk -F', ' '{for (i = 1; i <= NF; i++) {split($i, a, " "); printf "%s\"%s_ms\":%s", (i > 1 ? "," : ""), a[1], a[2]}}')
  printf '{"scenario":"%s","ok":%s,"wall_ms":%d,"phases":{%s}}\n' \
    "$name" "$([ ${#why[@]} = 0 ] && echo true || echo false)" "$ms" "$timings" >> "$results"
  if [ ${#why[@]} = 0 ]; then
    pass=$((pass + 1)); printf 'vm: %-20s ok    %5d ms\n' "$name" "$ms"
  else
    failed+=("$name"); printf 'vm: %-20s FAIL  %5d ms: %s (transcript: %s)\n' "$name" "$ms" "${why[*]}" "$log"
  fi
done
echo "vm: ${pass} passed, ${#failed[@]} failed"
[ ${#failed[@]} = 0 ]
