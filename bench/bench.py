#!/usr/bin/env python3
"""reinit's benchmark: reinit side by side with Debian's tini, tini-static, catatonit,
busybox init and a minimal C PID 1 (the floor, bench/floor.c), each as PID 1 of its own pid +
mount namespace on this kernel, interleaved with a rotating order.

Figures (see README, Performance):
  start-up      exec of PID 1 -> its first child runs, and PID 1's CPU until then
  storms        N orphans one at a time (serial) and all at once (burst), while the first
                child runs (runcom) and after it ended (multi-user; not for tini and
                catatonit, which exit with their child): PID 1's CPU per orphan, time from
                the last release until none is left, processes left after 2 s, and in a
                separate traced run syscalls per orphan (strace -c)
  idle          wake-ups (context switches) and CPU of PID 1 over IDLE seconds, every PID 1
                idling at the same time
  memory        VmRSS / VmHWM after boot and after each storm
  size          the stripped binary of each, and where reinit's bytes go (nm)

Writes bench/results.json and bench/results.md. Needs root, gcc (static glibc), strace,
tini, catatonit, busybox-static (bench/deps.sh installs them) and a static release build of
reinit (make build).

Usage: bench.py [--reps N] [--orphans N] [--idle SECONDS] [--out DIR] [--smoke]
"""

import argparse
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
TOP = HERE.parent
BUSYBOX = "/bin/busybox"

# name -> (program on the host, argv0, arguments, has a multi-user state)
CANDIDATES = {
    "reinit": (None, "init", [], True),
    "tini": ("/usr/bin/tini", "tini", ["--", "/bin/sh"], False),
    "tini-static": ("/usr/bin/tini-static", "tini", ["--", "/bin/sh"], False),
    "catatonit": ("/usr/bin/catatonit", "catatonit", ["--", "/bin/sh"], False),
    "busybox": (BUSYBOX, "init", [], True),
    "floor": (None, "floor", [], True),
}

STORMS = [
    ("serial", "runcom"),
    ("burst", "runcom"),
    ("serial", "multi-user"),
    ("burst", "multi-user"),
]


def log(msg):
    print(f"bench: {msg}", file=sys.stderr, flush=True)


def build_helpers(work):
    """Compile the C helpers static: the floor PID 1, the launcher, the first child."""
    out = {}
    for name in ["floor", "launch", "stamp"]:
        exe = work / name
        subprocess.run(
            ["gcc", "-O2", "-static", "-Wall", "-Wextra", "-Werror", "-o", str(exe),
             str(HERE / f"{name}.c")],
            check=True,
        )
        out[name] = exe
    return out


def libs_of(program):
    """The loader and libraries a dynamic program needs (ldd), as host paths."""
    r = subprocess.run(["ldd", program], capture_output=True, text=True)
    paths = []
    for line in r.stdout.splitlines():
        for word in line.split():
            if word.startswith("/") and Path(word).exists():
                paths.append(word)
    return paths


def make_root(work, helpers, reinit):
    """One root for every run; each run mounts its own /bench over it in its namespace."""
    root = work / "root"
    for d in ["bin", "sbin", "pid1", "etc", "proc", "dev", "tmp", "var/log", "bench"]:
        (root / d).mkdir(parents=True, exist_ok=True)
    shutil.copy(helpers["stamp"], root / "bin/sh")
    shutil.copy(helpers["floor"], root / "pid1/floor")
    shutil.copy(reinit, root / "pid1/reinit")
    for name, (program, *_rest) in CANDIDATES.items():
        if program:
            shutil.copy(program, root / "pid1" / name)
            for lib in libs_of(program):
                dest = root / lib.lstrip("/")
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(lib, dest)
    (root / "etc/rc").write_text("#!/bin/sh\n")
    (root / "etc/ttys").write_text("")
    (root / "etc/inittab").write_text("::sysinit:/bin/sh\n")
    return root


class Run:
    """One PID 1 in its own pid + mount namespace over the bench root."""

    def __init__(self, work, root, helpers, name, mode):
        self.dir = Path(tempfile.mkdtemp(prefix=f"{name}.", dir=work))
        (self.dir / "out").mkdir()
        (self.dir / "mode").write_text(mode + "\n")
        _, argv0, args, _ = CANDIDATES[name]
        script = f"""set -e
R='{root}'
mount -t tmpfs -o mode=0755 tmpfs "$R/dev"
touch "$R/dev/null" "$R/dev/console"
mount --bind /dev/null "$R/dev/null"
mount --bind /dev/null "$R/dev/console"
mount --bind '{self.dir}' "$R/bench"
mount -t proc proc "$R/proc"
exec '{helpers["launch"]}' "$R" /bench/out/t0 /pid1/{name} {argv0} {' '.join(args)}
"""
        self.proc = subprocess.Popen(
            ["unshare", "--pid", "--mount", "--fork", "--kill-child", "--propagation",
             "private", BUSYBOX, "sh", "-c", script],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        self.pid1 = None

    def out(self, name):
        p = self.dir / "out" / name
        return p.read_text() if p.exists() else None

    def wait_for(self, name, timeout):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            t = self.out(name)
            if t:
                return t
            time.sleep(0.005)
        raise TimeoutError(f"{self.dir.name}: no {name} within {timeout} s")

    def host_pid1(self):
        if self.pid1 is None:
            p = self.proc.pid
            kids = Path(f"/proc/{p}/task/{p}/children").read_text().split()
            self.pid1 = int(kids[0])
        return self.pid1

    def status(self):
        """VmRSS, VmHWM (kB) and context switches of PID 1."""
        st = {}
        for line in Path(f"/proc/{self.host_pid1()}/status").read_text().splitlines():
            k, _, v = line.partition(":")
            st[k] = v.split()[0] if v.split() else ""
        return {
            "rss_kb": int(st["VmRSS"]),
            "hwm_kb": int(st["VmHWM"]),
            "switches": int(st["voluntary_ctxt_switches"])
            + int(st["nonvoluntary_ctxt_switches"]),
        }

    def cpu_ns(self):
        return int(Path(f"/proc/{self.host_pid1()}/schedstat").read_text().split()[0])

    def go(self):
        (self.dir / "go").write_text("")

    def stop(self):
        try:
            os.kill(self.host_pid1(), signal.SIGKILL)
        except (ProcessLookupError, IndexError, FileNotFoundError):
            pass
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


def boot(run):
    """Start-up figures of a run whose PID 1 has started its first child."""
    t0, cpu0 = (int(x) for x in run.wait_for("t0", 30).split())
    t1, cpu = (int(x) for x in run.wait_for("stamp", 30).split())
    return {"startup_us": (t1 - t0) / 1000, "startup_cpu_us": (cpu - cpu0) / 1000}


def storm(work, root, helpers, name, kind, state, orphans, traced):
    mode = f"{kind} {orphans}" + (" multi" if state == "multi-user" else "")
    run = Run(work, root, helpers, name, mode)
    strace = None
    try:
        boot(run)
        # Let PID 1 settle in its state (reinit: multi-user once rc has ended).
        time.sleep(0.3)
        if traced:
            strace = subprocess.Popen(
                ["strace", "-c", "-o", str(run.dir / "strace"), "-p", str(run.host_pid1())],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE, text=True,
            )
            strace.stderr.readline()  # "strace: Process N attached"
        run.go()
        figures = dict(
            line.split() for line in run.wait_for("storm", 300).splitlines()
        )
        n = int(figures["orphans"])
        if strace:
            strace.send_signal(signal.SIGINT)
            strace.wait(timeout=30)
            total = [l for l in (run.dir / "strace").read_text().splitlines()
                     if l.strip().endswith("total")]
            calls = int(total[0].split()[3]) if total else 0
            return {"syscalls_per_orphan": calls / n}
        st = run.status()
        return {
            "cpu_per_orphan_us": int(figures["pid1_cpu_ns"]) / n / 1000,
            "drain_ms": int(figures["drain_ns"]) / 1e6,
            "left_after_2s": int(figures["left_2s"]),
            "rss_kb": st["rss_kb"],
            "hwm_kb": st["hwm_kb"],
        }
    finally:
        if strace and strace.poll() is None:
            strace.kill()
        run.stop()


def idle_all(work, root, helpers, names, seconds):
    """Every PID 1 idling at once: start-up, memory after boot, wake-ups and CPU."""
    runs = {n: Run(work, root, helpers, n, "idle") for n in names}
    try:
        res = {n: boot(r) for n, r in runs.items()}
        time.sleep(0.5)
        before = {n: (r.status(), r.cpu_ns()) for n, r in runs.items()}
        time.sleep(seconds)
        for n, r in runs.items():
            st, cpu = r.status(), r.cpu_ns()
            res[n].update({
                "boot_rss_kb": before[n][0]["rss_kb"],
                "boot_hwm_kb": before[n][0]["hwm_kb"],
                "idle_wakeups_per_min": (st["switches"] - before[n][0]["switches"])
                * 60 / seconds,
                "idle_cpu_us": (cpu - before[n][1]) / 1000,
            })
        return res
    finally:
        for r in runs.values():
            r.stop()


def startup_alone(work, root, helpers, name):
    run = Run(work, root, helpers, name, "idle")
    try:
        return boot(run)
    finally:
        run.stop()


def build_with_symbols():
    """The release profile strips: the same build (.ci/musl.sh) with its symbols, for nm."""
    out = TOP / "target/bench-symbols/reinit"
    env = dict(os.environ, CARGO_PROFILE_RELEASE_STRIP="false",
               CARGO_TARGET_DIR=str(TOP / "target/bench-symbols"))
    subprocess.run(["bash", ".ci/musl.sh", str(out)],
                   cwd=TOP, env=env, check=True, stdout=subprocess.DEVNULL)
    return out


def sizes(work, helpers, reinit, symbols):
    """Stripped size of each PID 1, and where reinit's bytes go (nm, by crate)."""
    out = {}
    for name, (program, *_rest) in CANDIDATES.items():
        src = {"reinit": reinit, "floor": helpers["floor"]}.get(name, program)
        dst = work / f"{name}.stripped"
        shutil.copy(src, dst)
        subprocess.run(["strip", str(dst)], check=True)
        out[name] = dst.stat().st_size
    nm = subprocess.run(["nm", "-C", "--size-sort", "-S", str(symbols)],
                        capture_output=True, text=True).stdout
    groups = {}
    for line in nm.splitlines():
        parts = line.split(None, 3)
        if len(parts) < 4 or parts[2] not in "tTrRdDbB":
            continue
        size, sym = int(parts[1], 16), parts[3]
        for prefix in ("<", "_<"):
            sym = sym[len(prefix):] if sym.startswith(prefix) else sym
        head = sym.split("::", 1)[0] if "::" in sym else "C (libc, libcrypt, …)"
        groups[head] = groups.get(head, 0) + size
    top = sorted(groups.items(), key=lambda kv: -kv[1])[:12]
    return out, {k: v for k, v in top}


VM_SCENARIOS = [("with hook", "bench-hook", []), ("no hook", "bench-nohook", ["vm_scenario=no-hook"])]


def vm_reroot(name, kargs):
    """One reroot in the VM tier (tests/vm: QEMU under TCG, Debian's kernel): the phases
    reinit logs, and request -> the new root's init from the console's host timestamps."""
    r = subprocess.run(["bash", str(TOP / "tests/vm/run.sh"), name, *kargs],
                       cwd=TOP, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    log_path = TOP / "target/vm/runs" / name / "serial.log"
    lines = log_path.read_text(errors="replace").splitlines() if log_path.exists() else []

    def stamp(line):
        try:
            return float(line.split()[0])
        except (IndexError, ValueError):
            return None

    req = new = None
    phases = {}
    two = False
    for line in lines:
        if req is None and "reroot requested" in line:
            req = stamp(line)
        elif "reroot phase two" in line:
            two = True
        elif two and new is None and "starting (pid 1)" in line:
            new = stamp(line)
        if "reroot #1: stage" in line:
            for part in line.split("reroot #1: ", 1)[1].split(","):
                words = part.split()
                if len(words) == 3 and words[2] == "ms":
                    phases[f"vm_{words[0]}_ms"] = float(words[1])
    if req is None or new is None or not phases:
        raise RuntimeError(f"vm {name}: no reroot seen (qemu exit {r.returncode}); see {log_path}")
    total = (new - req) * 1000
    return {"vm_request_to_new_init_ms": total,
            "vm_minus_hook_ms": total - phases.get("vm_hook_ms", 0), **phases}


def summarize(samples):
    """name -> metric -> [values] into median, min, max."""
    out = {}
    for name, metrics in samples.items():
        out[name] = {}
        for m, vals in metrics.items():
            vals = [v for v in vals if v is not None]
            if vals:
                out[name][m] = {"median": statistics.median(vals), "min": min(vals),
                                "max": max(vals), "n": len(vals)}
    return out


def fmt(v):
    if v >= 100:
        return f"{v:,.0f}"
    if v >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


def table(summary, sizes_, bytes_, machine, params):
    names = list(CANDIDATES)
    rows = [
        ("start-up, exec → first child (µs)", "startup_us"),
        ("PID 1 CPU until then (µs)", "startup_cpu_us"),
        ("VmRSS after boot (kB)", "boot_rss_kb"),
        ("VmHWM after boot (kB)", "boot_hwm_kb"),
        (f"idle wake-ups / min ({params['idle']} s)", "idle_wakeups_per_min"),
        (f"idle CPU (µs in {params['idle']} s)", "idle_cpu_us"),
    ]
    for kind, state in STORMS:
        p = f"{kind}, {state}"
        rows += [
            (f"{p}: PID 1 CPU per orphan (µs)", f"{kind}/{state}/cpu_per_orphan_us"),
            (f"{p}: syscalls per orphan", f"{kind}/{state}/syscalls_per_orphan"),
            (f"{p}: last release → none left (ms)", f"{kind}/{state}/drain_ms"),
            (f"{p}: left after 2 s", f"{kind}/{state}/left_after_2s"),
            (f"{p}: VmRSS after (kB)", f"{kind}/{state}/rss_kb"),
            (f"{p}: VmHWM after (kB)", f"{kind}/{state}/hwm_kb"),
        ]
    lines = [
        f"Machine: {machine['cpu']}, {machine['cores']} cores, Linux {machine['kernel']}; "
        f"{params['reps']} repetitions interleaved, {params['orphans']} orphans per storm. "
        "Median [min–max]; ×: the median over reinit's.",
        "",
        "| figure | " + " | ".join(names) + " |",
        "|---|" + "---|" * len(names),
    ]
    for label, key in rows:
        cells = []
        base = summary.get("reinit", {}).get(key)
        for n in names:
            s = summary.get(n, {}).get(key)
            if not s:
                cells.append("—")
                continue
            c = fmt(s["median"])
            if s["n"] > 1:
                c += f" [{fmt(s['min'])}–{fmt(s['max'])}]"
            if n != "reinit" and base and base["median"]:
                c += f" ×{s['median'] / base['median']:.2f}"
            cells.append(c)
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    vm_rows = [(f"VM reroot ({label}): {what}", f"vm {label}/{key}")
               for label, _, _ in VM_SCENARIOS
               for what, key in [("request → new init (ms)", "vm_request_to_new_init_ms"),
                                 ("the same minus the hook (ms)", "vm_minus_hook_ms"),
                                 ("stage (ms)", "vm_stage_ms"), ("hook (ms)", "vm_hook_ms"),
                                 ("probe (ms)", "vm_probe_ms"), ("shutdown (ms)", "vm_shutdown_ms"),
                                 ("kill (ms)", "vm_kill_ms"), ("switch (ms)", "vm_switch_ms")]]
    for label, key in vm_rows:
        s = summary.get("reinit", {}).get(key)
        if s:
            c = fmt(s["median"]) + (f" [{fmt(s['min'])}–{fmt(s['max'])}]" if s["n"] > 1 else "")
            lines.append(f"| {label} | {c} |" + " — |" * (len(names) - 1))
    lines.append("| stripped binary (bytes) | " + " | ".join(
        f"{sizes_[n]:,}" + ("" if n == "reinit" else f" ×{sizes_[n] / sizes_['reinit']:.2f}")
        for n in names) + " |")
    lines += ["", "Where reinit's bytes go (nm, symbol sizes by crate, unstripped):", "",
              "| crate | bytes |", "|---|---|"]
    lines += [f"| {k} | {v:,} |" for k, v in bytes_.items()]
    lines.append("")
    return "\n".join(lines)


def machine_facts():
    cpu = "?"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    return {"cpu": cpu, "cores": os.cpu_count(), "kernel": platform.release(),
            "date": time.strftime("%Y-%m-%d")}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--orphans", type=int, default=10000)
    ap.add_argument("--idle", type=float, default=60)
    ap.add_argument("--out", default=str(HERE))
    ap.add_argument("--reinit", help="the reinit binary to measure (default: the release build, target/reinit)")
    ap.add_argument("--only",
                    help="comma-separated figures: startup,idle,storms,vm (default all)")
    ap.add_argument("--smoke", action="store_true",
                    help="one repetition, 300 orphans, 2 s idle: checks that it runs")
    a = ap.parse_args()
    if a.smoke:
        a.reps, a.orphans, a.idle = 1, 300, 2
    if os.geteuid() != 0:
        sys.exit("bench: needs root (namespaces, mounts)")
    reinit = Path(a.reinit) if a.reinit else TOP / "target/reinit"
    only = set(a.only.split(",")) if a.only else {"startup", "idle", "storms", "size", "vm"}
    if not reinit.exists():
        sys.exit(f"bench: {reinit} missing: run make build first")
    names = list(CANDIDATES)
    samples = {n: {} for n in names}

    def add(name, figures, prefix=""):
        for k, v in figures.items():
            samples[name].setdefault(prefix + k, []).append(v)

    with tempfile.TemporaryDirectory(prefix="reinit-bench.") as w:
        work = Path(w)
        helpers = build_helpers(work)
        # Copies taken now: a build during the runs changes nothing measured.
        shutil.copy(reinit, work / "reinit")
        reinit = work / "reinit"
        symbols = work / "reinit.symbols"
        shutil.copy(build_with_symbols(), symbols)
        root = make_root(work, helpers, reinit)
        for rep in range(a.reps):
            order = names[rep % len(names):] + names[:rep % len(names)]
            log(f"repetition {rep + 1}/{a.reps}: order {' '.join(order)}")
            # Start-up alone, one at a time (the idle runs start together).
            for n in order if "startup" in only else []:
                add(n, startup_alone(work, root, helpers, n))
            if "idle" in only:
                for n, figures in idle_all(work, root, helpers, order, a.idle).items():
                    figures.pop("startup_us")
                    figures.pop("startup_cpu_us")
                    add(n, figures)
            for kind, state in STORMS if "storms" in only else []:
                for n in order:
                    if state == "multi-user" and not CANDIDATES[n][3]:
                        continue
                    add(n, storm(work, root, helpers, n, kind, state, a.orphans, False),
                        f"{kind}/{state}/")
            for label, name, kargs in VM_SCENARIOS if "vm" in only else []:
                add("reinit", vm_reroot(name, kargs), f"vm {label}/")
        # Syscall counts: one traced run each (tracing slows PID 1: not a timing run).
        log("syscall counts (strace -c)")
        for kind, state in STORMS if "storms" in only else []:
            for n in names:
                if state == "multi-user" and not CANDIDATES[n][3]:
                    continue
                add(n, storm(work, root, helpers, n, kind, state, min(a.orphans, 2000), True),
                    f"{kind}/{state}/")
        size, where = sizes(work, helpers, reinit, symbols)
    machine = machine_facts()
    params = {"reps": a.reps, "orphans": a.orphans, "idle": a.idle}
    summary = summarize(samples)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(
        {"machine": machine, "params": params, "summary": summary, "samples": samples,
         "stripped_bytes": size, "reinit_bytes_by_crate": where}, indent=1) + "\n")
    md = table(summary, size, where, machine, params)
    (out / "results.md").write_text(md)
    print(md)
    # A run that measured nothing is a failed run.
    missing = [n for n in names if "startup" in only and not summary[n].get("startup_us")]
    if missing:
        sys.exit(f"bench: no start-up figure for {missing}")
    leftovers = [(n, k) for n in names for k, s in summary[n].items()
                 if k.endswith("left_after_2s") and s["max"] > 0]
    if leftovers:
        log(f"processes left 2 s after a storm: {leftovers}")


if __name__ == "__main__":
    main()
