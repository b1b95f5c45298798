#!/usr/bin/env python3
# pair.py - two builds of Tern against each other on loopback: where does
# a change in server CPU per message come from?
#
# Benchmark tool (not a test), runs as root like tests/bench/run (whose
# Tern instance, cgroup meter and smtp-source call it reuses), with perf
# for the counts. Each run is a fresh `tern init` instance of one build
# (TOP: a built tree, stage/ made), in a cgroup of its own, warmed up
# with 300 messages, then fed by smtp-source (4 KiB messages to one
# local Maildir recipient, one connection per message) until its queue
# is empty again. The two builds alternate (A B, B A, ...), and the
# figure per build is the median over its runs. Each instance is made
# apart from the one before on disk, as run makes them (instance_dir
# there), so that no run pays for the files the one before removed.
#
#   tests/bench/pair.py [--clients N] [--messages N] [--pairs N] [--counts]
#                       TOP_A TOP_B
#
# Per message, per run: the instance's CPU (cgroup, as tests/bench/run
# measures it), the disk's cache flushes (whole disk), and with --counts
# (`perf stat --per-thread` on the instance's processes and their later
# children: a little CPU of its own) the task-clock, context switches and
# system calls of smtpd's event loop thread, its other threads, qmgr and
# local, and who called fsync and syncfs: smtpd's loop thread syncs only
# for a commit of a session alone (smtpd_conn.c, commit), its commit
# threads for every other; messages per smtpd sync is how many commits
# each shared sync covered. CPU and flushes move with the machine's
# load and with batching, the counts of calls much less.
import importlib.machinery
import importlib.util
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True
_loader = importlib.machinery.SourceFileLoader("bench_run", os.path.join(HERE, "run"))
_spec = importlib.util.spec_from_loader("bench_run", _loader)
bench = importlib.util.module_from_spec(_spec)
_loader.exec_module(bench)

EVENTS = ["task-clock", "context-switches", "raw_syscalls:sys_enter",
          "syscalls:sys_enter_fsync", "syscalls:sys_enter_syncfs"]
WARM_UP = 300


def perf_by_process(path, loop_tids, messages):
    """perf stat -x, --per-thread output: {process: {event: per message}};
    smtpd split into its loop thread(s) and the others."""
    out = {}
    with open(path) as f:
        for line in f:
            fields = line.strip().split(",")
            if line.startswith("#") or len(fields) < 4 or "-" not in fields[0]:
                continue
            comm, tid = fields[0].rsplit("-", 1)
            try:
                value = float(fields[1])
            except ValueError:
                continue
            if comm == "smtpd":
                comm = "smtpd loop" if int(tid) in loop_tids else "smtpd threads"
            ev = out.setdefault(comm, {})
            ev[fields[3]] = ev.get(fields[3], 0) + value / messages
    return out


def one_run(top, label, clients, messages, counts):
    bench.TOP = top
    tern = bench.Tern()
    tern.label = label
    perf = None
    try:
        tern.start()
        bench.smtp_source(tern, clients, 4096, WARM_UP, bench.RECIPIENT)
        bench.wait_empty(tern, time.monotonic() + bench.RUN_TIMEOUT)
        pids = tern.cg.pids()
        if counts:
            fd, perf_out = tempfile.mkstemp(prefix="pair-perf.")
            os.close(fd)
            perf = subprocess.Popen(["perf", "stat", "-x,", "-o", perf_out, "--per-thread",
                                     "-p", ",".join(map(str, pids)), "-e", ",".join(EVENTS)],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(1)       # attached before the first message
        r = bench.accept_rate(tern, clients, 4096, messages)
        if perf:
            perf.send_signal(2)
            perf.wait()
            r["perf"] = perf_by_process(perf_out, set(pids), messages)
            os.unlink(perf_out)
        return r
    finally:
        if perf and perf.poll() is None:
            perf.kill()
        tern.stop()
        shutil.rmtree(tern.dir, ignore_errors=True)


def rows(runs):
    """(name, function of one run) for every figure the runs have."""
    out = [("CPU/msg (ms, cgroup)", lambda r: r["cpu"]),
           ("disk flushes/msg", lambda r: r["flushes"])]
    procs = sorted({p for rs in runs.values() for r in rs for p in r.get("perf", {})})
    for p in procs:
        if p not in ("smtpd loop", "smtpd threads", "qmgr", "local"):
            continue
        for e in EVENTS:
            out.append(("%s %s" % (p, e.split(":")[-1].replace("sys_enter_", "")),
                        lambda r, p=p, e=e: r["perf"][p][e]))

    def per_sync(r):
        syncs = sum(r["perf"][p][e] for p in ("smtpd loop", "smtpd threads")
                    for e in EVENTS[3:] if p in r["perf"])
        return 1 / syncs if syncs else None
    if procs:
        out.append(("smtpd messages per sync call", per_sync))
    return out


def main(argv):
    opts = {"clients": 10, "messages": 5000, "pairs": 3, "counts": False}
    tops = []
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == "--counts":
            opts["counts"] = True
        elif a in ("--clients", "--messages", "--pairs") and i + 1 < len(argv):
            opts[a[2:]] = int(argv[i + 1])
            i += 1
        elif not a.startswith("-"):
            tops.append(os.path.abspath(a))
        else:
            tops = []
            break
        i += 1
    if len(tops) != 2:
        sys.stderr.write("usage: pair.py [--clients N] [--messages N] [--pairs N] [--counts] "
                         "TOP_A TOP_B\n")
        return 64
    if os.geteuid() != 0:
        sys.stderr.write("pair.py: must run as root (cgroups, perf on the daemons)\n")
        return 77
    bench.CPU = bench.CpuGroups()
    labels = {tops[0]: "A", tops[1]: "B"}
    runs = {t: [] for t in tops}
    for n in range(opts["pairs"]):
        for top in (tops if n % 2 == 0 else tops[::-1]):
            r = one_run(top, "Tern-" + labels[top], opts["clients"], opts["messages"],
                        opts["counts"])
            runs[top].append(r)
            print("run %d %s: CPU %.3f ms/msg, flushes %.3f/msg"
                  % (n + 1, labels[top], r["cpu"], r["flushes"] or 0))
            sys.stdout.flush()
    print("\n%d clients, %d messages of 4 KiB per run, %d pairs; medians (and each run)"
          % (opts["clients"], opts["messages"], opts["pairs"]))
    for t in tops:
        print("  %s: %s" % (labels[t], t))
    for name, fn in rows(runs):
        cols = []
        for t in tops:
            vals = []
            for r in runs[t]:
                try:
                    v = fn(r)
                except KeyError:
                    v = None
                if v is not None:
                    vals.append(v)
            cols.append("%9.3f (%s)" % (statistics.median(vals), " ".join("%.3f" % v for v in vals))
                        if vals else "%9s" % "-")
        print("%-36s A %s  B %s" % (name, cols[0], cols[1]))
    return 0


if __name__ == "__main__":
    try:
        rc = main(sys.argv[1:])
    finally:
        bench.remove_work_dir()    # each run's instance was in it (run's instance_dir)
    sys.exit(rc)
