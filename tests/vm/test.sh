#!/usr/bin/env bash
# The VM tier: each scenario boots the images of build.sh (run.sh), checks the console for
# the markers of its documented end state, in order, then checks the images on the host
# (check.sh: e2fsck -fn on every image, tokens, no I/O error or panic in the kernel log).
# Writes per-scenario wall time and the reroot phase timings (JSON lines) to
# target/vm/results.jsonl. On failure the transcripts stay in target/vm/runs/NAME/.
# Usage: tests/vm/test.sh [SCENARIO...]    (default: all; VM_TAIL=N lines of a failed
# transcript are printed, default 60)
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${VM_OUT:-$(cd "$here/../.." && pwd)/target/vm}
results=$out/results.jsonl

# name | kernel args | markers that must appear, in this order (;) | markers that must not
# appear (;) | markers that must appear exactly N times (marker=N;) | "check-fails" when the
# host check must fail (negative control)
# The guest's /etc/rc (guest/rc) acts on vm_scenario; root= boots disk.img (/dev/vdb).
scenarios=(
  # 1. reinit as /init of an initramfs; the hook attaches NBD with a carried qemu-nbd.
  "initramfs-to-nbd||vm: first root up on rootfs;reroot: /etc/rc.reroot (prepare);survivor [0-9]* (qemu-nbd via ld-linux;switch: the old root is the initramfs;reroot #1: stage;vm: new root up on /dev/nbd0 (reroot #1);vm: token [0-9a-f-]* in /dev/nbd0:/token.1;vm: survivors: [0-9];shutdown: / remounted read-only;/dev/nbd0 disconnected;reboot: Power down|reroot aborted;single user|reroot #1:=1"
  # 1b. no initial console and no /dev/null (an archive replaces the kernel's /dev/console
  #     node with a directory): PID 1 starts with descriptors 0-2 closed, logs to the init
  #     log until devtmpfs is mounted, then to ttyS0; the reroot goes on as in 1.
  "bare-start|vm_scenario=bare-start vm_initrd=bare|Warning: unable to open an initial console;vm: first root up on rootfs;vm: pid 1 fd 0: /\$;vm: start-up log: .*starting (pid 1);reroot: /etc/rc.reroot (prepare);reroot #1: stage;vm: new root up on /dev/nbd0 (reroot #1);reboot: Power down|reroot aborted;single user;Kernel panic|"
  # 2. reinit as /sbin/init of an ext4 disk; the old root is unmounted after pivot_root.
  "ext4-root|vm_scenario=ext4-root root=/dev/vdb|vm: first root up on /dev/vdb;vm: token [0-9a-f-]* in /dev/vdb:/token.0;reroot: /etc/rc.reroot (prepare);survivor;switch: pivot_root;switch: old root unmounted;reroot #1: stage;vm: new root up on /dev/nbd0 (reroot #1);vm: token [0-9a-f-]* in /dev/nbd0:/token.1;shutdown: / remounted read-only;/dev/nbd0 disconnected;reboot: Power down|reroot aborted;old root held;single user|"
  # 3. disk -> NBD -> disk: the daemon serving the NBD root survives the second reroot.
  "a-b-a|vm_scenario=a-b-a root=/dev/vdb|vm: first root up on /dev/vdb;vm: token [0-9a-f-]* in /dev/vdb:/token.0;reroot #1: stage;vm: new root up on /dev/nbd0 (reroot #1);vm: token [0-9a-f-]* in /dev/nbd0:/token.1;reroot: /etc/rc.reroot (prepare);survivor;switch: old root unmounted;reroot #2: stage;vm: new root up on /dev/vdb (reroot #2);vm: token [0-9a-f-]* in /dev/vdb:/token.2;served both reroots;shutdown: / remounted read-only;/dev/nbd0 disconnected;reboot: Power down|reroot aborted;daemons changed;still on the second root;old root held|reroot: /etc/rc.reroot (prepare)=2"
  # 3b-3d. reroot once (reinit.reroot_confirm=3), disk -> NBD: the NBD root's rc hangs
  #     without confirming (3b) or fails (3c) -> back on the disk, whose hook detaches the
  #     NBD device and whose rc is told; confirmed in time (3d) -> it stays.
  "confirm-none|vm_scenario=confirm-none root=/dev/vdb|vm: first root up on /dev/vdb;the new root has 3 s to confirm;vm: new root up on /dev/nbd0 (reroot #1);vm: not confirming;reroot #1 to ext4:/dev/nbd0 not confirmed within 3 s: falling back to ext4:/dev/vdb;reroot: /etc/rc.reroot (prepare);switch: pivot_root;reroot #2: stage;reroot: /etc/rc.reroot (abort);nbd0: Disconnected due to user request;vm: new root up on /dev/vdb (reroot #2);vm: back on /dev/vdb: REROOT_FALLBACK=1;reboot: Power down|reroot aborted;Enter root password;vm: still on|"
  "confirm-rc-fails|vm_scenario=confirm-rc-fails root=/dev/vdb|vm: first root up on /dev/vdb;vm: new root up on /dev/nbd0 (reroot #1);vm: rc fails without confirming;reroot #1 to ext4:/dev/nbd0 went to single-user mode: falling back to ext4:/dev/vdb;reroot #2: stage;reroot: /etc/rc.reroot (abort);nbd0: Disconnected due to user request;vm: new root up on /dev/vdb (reroot #2);vm: back on /dev/vdb: REROOT_FALLBACK=1;reboot: Power down|reroot aborted;Enter root password|"
  "confirm-ok|vm_scenario=confirm-ok root=/dev/vdb|vm: first root up on /dev/vdb;vm: new root up on /dev/nbd0 (reroot #1);vm: reroot #1 to ext4:/dev/nbd0 confirmed;reroot #1: confirmed;vm: still on /dev/nbd0 after the deadline;shutdown: / remounted read-only;/dev/nbd0 disconnected;reboot: Power down|falling back;reroot #2|"
  # 3e. the new root's init goes missing past the checks -> the trampoline falls back.
  "confirm-no-init|vm_scenario=confirm-no-init root=/dev/vdb|vm: first root up on /dev/vdb;vm: rc.shutdown names /sbin/init.disk;switch: pivot_root;cannot exec init from /sbin/init.disk;went to single-user mode: falling back to ext4:/dev/vdb;reroot #2: stage;reroot: /etc/rc.reroot (abort);nbd0: Disconnected due to user request;vm: new root up on /dev/vdb (reroot #2);vm: back on /dev/vdb: REROOT_FALLBACK=1;reboot: Power down|reroot aborted;Enter root password|"
  # 3f. the fallback itself fails its checks -> single-user mode on the NBD root, no loop.
  "confirm-fallback-fails|vm_scenario=confirm-fallback-fails root=/dev/vdb|vm: new root up on /dev/nbd0 (reroot #1);vm: not confirming;not confirmed within 3 s: falling back to ext4:/dev/vdb;was not confirmed, and the fallback to ext4:/dev/vdb failed: init:;entering single_user;vm: powering off from single-user mode;reboot: Power down|reroot #2;vm: new root up on /dev/vdb|falling back=1"
  # 4. the hook exits non-zero (its store device does not exist).
  "hook-fails|reroot_store=/dev/vdz|reroot: /etc/rc.reroot (prepare);reroot: /etc/rc.reroot (abort);reroot aborted: hook:;vm: still on the first root;still running;reboot: Power down|vm: new root up;point of no return|"
  # 5. the hook hangs: killed after reinit.hook_timeout (2 s here).
  "hook-hangs|vm_scenario=hook-hangs|reroot: /etc/rc.reroot (prepare);reroot: /etc/rc.reroot (abort);reroot aborted: hook: timed out after 2 s;vm: still on the first root;still running;reboot: Power down|vm: new root up;point of no return;left a process behind|"
  # 6. no hook at all: a plain reroot to a disk.
  "no-hook|vm_scenario=no-hook|vm: first root up on rootfs;reroot: no /etc/rc.reroot;reroot #1: stage;vm: new root up on /dev/vdb (reroot #1);vm: survivors: none;reboot: Power down|reroot aborted;rc.reroot (prepare);single user|"
  # 7. the target device never appears (vfs.mountroot.timeout=1).
  "missing-device|vm_scenario=missing-device|reroot aborted: target: /dev/vdq: no such device;vm: still on the first root;still running;reboot: Power down|vm: new root up;point of no return|"
  # 7b. the target's daemon hangs: the probe mount never returns (vfs.mountroot.timeout=2).
  "probe-hangs|vm_scenario=probe-hangs|vm: server [0-9]* of /dev/nbd1 stopped;reroot: no /etc/rc.reroot;reroot aborted: target: ext4:/dev/nbd1: mount /dev/reroot/root: ETIMEDOUT: Connection timed out (no answer in 2.0 s;vm: still on the first root;still running;resumed;reboot: Power down|vm: new root up;point of no return;late probe mount is still there;continuing it|"
  # 7c/7d. real peers: Debian's nbd-server (over loopback) and nbd-client, carried (7c) or run
  #     from the first root with -systemd-mark (7d); power-off on the NBD root, no I/O error.
  "nbd-peer|vm_scenario=nbd-peer|reroot: /etc/rc.reroot (prepare);vm: nbd-server [0-9]* serves newroot.img;survivor [0-9]* (nbd-server via ld-linux;survivor [0-9]* (nbd-client via ld-linux;reroot #1: stage;vm: new root up on /dev/nbd0 (reroot #1);vm: token [0-9a-f-]* in /dev/nbd0:/token.1;shutdown: / remounted read-only;reroot: /etc/rc.reroot (stop);reboot: Power down|reroot aborted;single user;cannot tell|"
  "nbd-peer-at|vm_scenario=nbd-peer-at|reroot: /etc/rc.reroot (prepare);vm: nbd-server [0-9]* serves newroot.img;survivor [0-9]* (nbd-server via ld-linux;survivor [0-9]* (nbd-client): /usr/sbin/nbd-client;reroot #1: stage;vm: new root up on /dev/nbd0 (reroot #1);vm: token [0-9a-f-]* in /dev/nbd0:/token.1;shutdown: / remounted read-only;reroot: /etc/rc.reroot (stop);reboot: Power down|reroot aborted;single user;cannot tell|"
  # 7g. busybox's reboot, halt and poweroff as the clients, with reinit.signals=linux (busybox
  #     reboot sends SIGTERM); started from a background job of rc that outlives rc on ttyS0.
  "bb-reboot|vm_scenario=bb-client vm_client=reboot reinit.signals=linux|rc exits, the client runs in 2 s;entering multi_user;vm: busybox reboot;SIGTERM in multi_user: Death(Reboot(Reboot)) requested;reboot: Restarting system|Enter root password;single user|"
  "bb-halt|vm_scenario=bb-client vm_client=halt reinit.signals=linux|rc exits, the client runs in 2 s;entering multi_user;vm: busybox halt;SIGUSR1 in multi_user: Death(Reboot(Halt)) requested;reboot: System halted|Enter root password;single user|"
  "bb-poweroff|vm_scenario=bb-client vm_client=poweroff reinit.signals=linux|rc exits, the client runs in 2 s;entering multi_user;vm: busybox poweroff;SIGUSR2 in multi_user: Death(Reboot(PowerOff)) requested;reboot: Power down|Enter root password;single user|"
  # 7f. an unprivileged user's look-alike /dev/reroot/sleep (own tmpfs, user + mount namespace)
  #     is no survivor: it is stopped at the reroot.
  "userns-impostor|vm_scenario=userns-impostor|vm: impostor [0-9]* runs /dev/reroot/sleep as uid 65534;reroot: /etc/rc.reroot (prepare);survivor [0-9]* (qemu-nbd via ld-linux;reroot #1: stage;vm: new root up on /dev/nbd0 (reroot #1);vm: impostor gone;reboot: Power down|reroot aborted;impostor [0-9]* still running;survivor [0-9]* (sleep)|"
  # 7e. init 0 while the hook runs: aborted before the point of no return, power-off on
  #     the first root.
  "shutdown-in-hook|vm_scenario=shutdown-in-hook|reroot: /etc/rc.reroot (prepare);vm: asking for a power-off while the hook runs;vm: hook prepare done;reroot: /etc/rc.reroot (abort);reroot aborted: Reboot(PowerOff) requested meanwhile;reboot: Power down|vm: new root up;point of no return|"
  # 8. the new root has no init.
  "no-init|reroot_image=noinit.img|reroot: /etc/rc.reroot (prepare);reroot: /etc/rc.reroot (abort);nbd0: Disconnected due to user request;reroot aborted: init: no executable init;vm: still on the first root;still running;reboot: Power down|vm: new root up;point of no return|"
  # 9. the new root's init is not executable.
  "noexec-init|reroot_image=noexec.img|reroot: /etc/rc.reroot (prepare);reroot: /etc/rc.reroot (abort);nbd0: Disconnected due to user request;reroot aborted: init: /sbin/init: mode 0644: not executable;vm: still on the first root;still running;reboot: Power down|vm: new root up;point of no return|"
  # 10. a survivor keeps a file of the old root open for writing.
  "busy-root|vm_scenario=busy-root root=/dev/vdb|vm: scratch daemon [0-9];survivor;old root held by;old root detached;reroot #1: stage;vm: new root up on /dev/nbd0 (reroot #1);shutdown: / remounted read-only;reroot: /etc/rc.reroot (stop);/dev/nbd0 disconnected;SIGKILL to survivor [0-9]* (qemu-nbd);reboot: Power down|reroot aborted;switch: old root unmounted|"
  # 11. ten reroot requests in about 100 ms: exactly one reroot.
  "storm|vm_scenario=storm|vm: storm: 10 reroot requests;merged into this one;reroot #1: stage;vm: new root up on /dev/nbd0 (reroot #1);reboot: Power down|reroot #2;reroot aborted;requested during shutdown|reroot: /etc/rc.reroot (prepare)=1;reroot #1: stage=1;vm: new root up=1"
  # 12. shutdown of a root on NBD with a writer busy: the daemon hears nothing before / is
  #     read-only, then the hook disconnects it.
  "shutdown-on-nbd|vm_scenario=shutdown-on-nbd|vm: new root up on /dev/nbd0 (reroot #1);vm: writer [0-9]* busy on /dev/nbd0;entering death_single;survivors run from /dev/reroot: stopping them last;shutdown: / remounted read-only;reroot: /etc/rc.reroot (stop);/dev/nbd0 disconnected;power-off;reboot: Power down|reroot aborted;single user mode|"
  # 13. single-user on an insecure console: a wrong password, then the right one.
  "single-user|single|Enter root password;Login incorrect;vm: single-user shell uid 0;reboot: Power down|vm: first root up;entering runcom|Login incorrect=1"
  # 14. getty on the serial line, killed from its own shell: init starts a new one.
  # Negative control of the host checks: the NBD daemon is killed under the mounted root;
  # check.sh must see the kernel's I/O errors (this scenario passes when the check fails).
  "control-daemon-killed|vm_scenario=control-daemon-killed|vm: new root up on /dev/nbd0 (reroot #1);vm: killed the NBD daemon|reroot aborted||check-fails"
  "getty|vm_scenario=getty|vm: getty on ttyS0;started /bin/getty;built-in shell (ash);vm: shell [0-9]* on /dev/ttyS0;started /bin/getty;built-in shell (ash);vm: shell [0-9]* on /dev/ttyS0;reboot: Power down|getty repeating too quickly|started /bin/getty=2"
)

# Console input (run.sh VM_INPUT): N <TAB> marker <TAB> text, typed once marker appeared N times.
declare -A input=(
  [single-user]=$'1\tPassword:\twrong-password\n2\tPassword:\treinit-vm\n1\t# \techo "vm: single-user shell uid $(id -u)"; /sbin/init 0'
  [getty]=$'1\tbuilt-in shell (ash)\techo "vm: shell $$ on $(tty)"; kill -9 $$\n2\tbuilt-in shell (ash)\techo "vm: shell $$ on $(tty)"; /sbin/init 0'
)

# A halted guest does not end QEMU: these scenarios stop at a shorter timeout, and that
# timeout (124) is their expected exit status.
declare -A vm_timeout=([bb-halt]=30)

# Scenario checks beyond markers.
extra() {
  case "$1" in
    getty)  # two shells, two pids: the second getty is a new process
      local pids; pids=$(sed -n 's/.*vm: shell \([0-9]*\) on .*/\1/p' "$2" | sort -u | wc -l)
      [ "$pids" = 2 ] || echo "expected 2 distinct getty shells, saw $pids" ;;
  esac
}

pass=0 failed=() ran=()
: > "$results"
for s in "${scenarios[@]}"; do
  IFS='|' read -r name kargs want avoid counts expect <<< "$s"
  if [ $# -gt 0 ] && [[ " $* " != *" $name "* ]]; then continue; fi
  ran+=("$name")
  t0=$(date +%s%N)
  inp=
  if [ -n "${input[$name]:-}" ]; then
    inp=$out/$name.input
    printf '%s\n' "${input[$name]}" > "$inp"
  fi
  VM_INPUT=$inp VM_TIMEOUT=${vm_timeout[$name]:-120} "$here/run.sh" "$name" $kargs > /dev/null 2>&1
  rc=$?
  log=$out/runs/$name/serial.log
  why=()
  want_rc=0; [ -z "${vm_timeout[$name]:-}" ] || want_rc=124
  [ "$rc" = "$want_rc" ] || why+=("qemu exited $rc")
  # Markers in order: each must appear on a line after the previous one's.
  IFS=';' read -ra ws <<< "$want"
  at=0
  for w in "${ws[@]}"; do
    n=$(tail -n +"$((at + 1))" "$log" | grep -n -- "$w" | head -n 1 | cut -d: -f1)
    if [ -z "$n" ]; then
      if grep -q -- "$w" "$log"; then why+=("out of order: $w"); else why+=("missing: $w"); fi
    else
      at=$((at + n))
    fi
  done
  IFS=';' read -ra as <<< "$avoid"
  for a in "${as[@]}"; do [ -z "$a" ] || ! grep -q -- "$a" "$log" || why+=("unexpected: $a"); done
  IFS=';' read -ra cs <<< "$counts"
  for c in "${cs[@]}"; do
    [ -n "$c" ] || continue
    got=$(grep -c -- "${c%=*}" "$log")
    [ "$got" = "${c##*=}" ] || why+=("'${c%=*}' seen $got times, want ${c##*=}")
  done
  e=$(extra "$name" "$log"); [ -z "$e" ] || why+=("$e")
  if "$here/check.sh" "$name" > "$out/runs/$name/check.txt" 2>&1; then
    [ "$expect" != check-fails ] || why+=("host check passed; it must catch the killed daemon")
  elif [ "$expect" != check-fails ]; then
    why+=("host check: $(grep -v ' clean$\| is in [a-z]*\.img:' "$out/runs/$name/check.txt" | head -n 3 | tr '\n' ' ')")
  fi
  ms=$(( ($(date +%s%N) - t0) / 1000000 ))
  timings=$(sed -n 's/.*reroot #[0-9]*: //p' "$log" | head -n 1 |
    awk -F', ' '{for (i = 1; i <= NF; i++) {split($i, a, " "); printf "%s\"%s_ms\":%s", (i > 1 ? "," : ""), a[1], a[2]}}')
  printf '{"scenario":"%s","ok":%s,"wall_ms":%d,"phases":{%s}}\n' \
    "$name" "$([ ${#why[@]} = 0 ] && echo true || echo false)" "$ms" "$timings" >> "$results"
  if [ ${#why[@]} = 0 ]; then
    pass=$((pass + 1)); printf 'vm: %-18s ok    %6d ms\n' "$name" "$ms"
  else
    failed+=("$name"); printf 'vm: %-18s FAIL  %6d ms: %s (transcript: %s)\n' "$name" "$ms" "${why[*]}" "$log"
    # The end of the transcript, for a CI log that is all there is to read.
    tail -n "${VM_TAIL:-60}" "$log" | sed "s/^/    $name| /"
  fi
done
# Negative controls of check.sh without a VM, on a copy of the first scenario's run: a
# token the image does not hold, and an image with its root directory's inode cleared,
# must each fail the check.
if [[ " ${ran[*]} " == *" initramfs-to-nbd "* ]]; then
  for fault in token fsck; do
    c=$out/runs/control-$fault
    rm -rf "$c" && cp -a --sparse=always "$out/runs/initramfs-to-nbd" "$c"
    case $fault in
      token) sed -i 's/\(vm: token \)[0-9a-f]\{8\}/\100000000/' "$c/serial.log" ;;
      fsck) debugfs -w -R "clri <2>" "$c/disk.img" > /dev/null 2>&1 ;;
    esac
    if "$here/check.sh" "control-$fault" > "$c/check.txt" 2>&1; then
      failed+=("control-$fault"); echo "vm: control-$fault     FAIL: check.sh did not catch the fault"
    else
      pass=$((pass + 1)); echo "vm: control-$fault     ok    (check.sh caught it: $(grep -m1 'NOT clean\|holds' "$c/check.txt"))"
    fi
  done
fi
echo "vm: ${pass} passed, ${#failed[@]} failed"
[ ${#failed[@]} = 0 ]
