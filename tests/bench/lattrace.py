#!/usr/bin/env python3
# lattrace.py - where the slow end-of-data replies at one client spend
# their time: latency.py's client, traced with the kernel's tracefs.
#
# Benchmark helper (not a test), runs as root (tracefs). Used by hand
# beside tests/bench/run's "latency" scenario, on a running instance:
#
#   lattrace.py PORT COUNT [COMMS]
#
# COMMS (default smtpd,qmgr,local,pickup,ternd) are the process names
# traced. A tracefs instance of its own ("lattrace", removed afterwards)
# records the scheduler's switches and wake-ups of those processes, their
# fsync/fdatasync/syncfs calls, every block request of the machine, and a
# mark the client writes before each dot and after each 250. Per message
# it then splits the time of smtpd's threads into waiting for a CPU
# (woken or preempted, not yet running), waiting for I/O (D state) and
# running, and says which task had the CPU before smtpd got it back, and
# how the messages that overlapped a syncfs or fsync of local compare
# with the others. Prints means for the fastest half, p90-p99 and the
# slowest 1%, and for the same groups what the machine's CPUs did in the
# message's window (idle, the MTA, this client, kernel threads, anything
# else) and how much of smtpd's wait for a CPU passed while some CPU sat
# idle (the scheduler left smtpd queued behind another task instead of
# moving it). Nothing here is timed against a limit. Processes of the
# same names in other instances on the machine are traced too: run it
# where the instance measured is the only one.
import bisect
import collections
import os
import re
import statistics
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True
import latency  # noqa: E402

TRACEFS = "/sys/kernel/tracing"
NR_FSYNC, NR_FDATASYNC, NR_SYNCFS = 74, 75, 306   # x86-64
LINE = re.compile(r'^\s*(\S+)-(\d+)\s+\[(\d+)\]\s+\S+\s+([\d.]+):\s+(\S+?):?\s(.*)$')
SWITCH = re.compile(r'prev_comm=(\S+) prev_pid=(\d+) .*prev_state=(\S+) ==> '
                    r'next_comm=(\S+) next_pid=(\d+)')


def put(path, text):
    with open(path, "w") as f:
        f.write(text)


def trace_on(inst, comms):
    os.makedirs(inst, exist_ok=True)
    put(inst + "/tracing_on", "0")
    put(inst + "/buffer_size_kb", "65536")
    who = " || ".join('comm == "%s"' % c for c in comms)
    for ev, flt in (("raw_syscalls/sys_enter", who), ("raw_syscalls/sys_exit", who),
                    ("sched/sched_wakeup", who), ("sched/sched_switch", None),
                    ("block/block_rq_issue", None)):
        if flt:
            put("%s/events/%s/filter" % (inst, ev), flt)
        put("%s/events/%s/enable" % (inst, ev), "1")
    put(inst + "/tracing_on", "1")


def run_client(port, count, marker):
    c = latency.Client(port)
    c.command(None, "220")
    c.command(b"EHLO bench.invalid\r\n", "250")
    data = latency.message(4096, "bench@localhost", "keep@localhost")
    with open(marker, "w", buffering=1) as mark:
        for i in range(count):
            c.command(b"MAIL FROM:<bench@localhost>\r\n", "250")
            c.command(b"RCPT TO:<keep@localhost>\r\n", "250")
            c.command(b"DATA\r\n", "354")
            c.sock.sendall(data)
            mark.write("DOT %d\n" % i)
            c.sock.sendall(b".\r\n")
            c.command(None, "250")
            mark.write("ACK %d\n" % i)
    c.command(b"QUIT\r\n", "221")


def parse(lines):
    ev = []
    for line in lines:
        m = LINE.match(line)
        if m:
            comm, tid, cpu, ts, name, rest = m.groups()
            ev.append((float(ts), comm, int(tid), name, rest, int(cpu)))
    return ev


def windows(ev):
    start, out = {}, []
    for i, e in enumerate(ev):
        if e[3] == "tracing_mark_write":
            w = e[4].split()
            if w[0] == "DOT":
                start[int(w[1])] = i
            elif w[0] == "ACK" and int(w[1]) in start:
                a = start.pop(int(w[1]))
                out.append((a, i, (e[0] - ev[a][0]) * 1e6))
    return out


KERNEL_THREADS = ("kworker", "ksoftirqd", "rcu_", "migration", "kthreadd", "irq/", "jbd2",
                  "kswapd", "khugepaged", "kcompactd", "kdamond", "cpuhp", "idle_inject")


class Cpus:
    """What each CPU ran, from every sched_switch: spans per CPU by kind,
    and the spans in which at least one CPU was idle."""

    def __init__(self, ev, comms, client_pid):
        per, cur = collections.defaultdict(list), {}
        for t, comm, tid, name, rest, cpu in ev:
            if name != "sched_switch":
                continue
            m = SWITCH.search(rest)
            if cpu in cur:
                per[cpu].append((cur[cpu][0], t, cur[cpu][1]))
            nc, pid = m.group(4), int(m.group(5))
            kind = ("idle" if pid == 0 else "MTA" if nc in comms else "client" if pid == client_pid
                    else "kernel" if nc.startswith(KERNEL_THREADS) else "other")
            cur[cpu] = (t, kind)
        self.spans = {c: (v, [e for s, e, k in v]) for c, v in per.items()}
        # At least one CPU idle: the union of every CPU's idle spans.
        idle = sorted((s, e) for v in per.values() for s, e, k in v if k == "idle")
        merged = []
        for s, e in idle:
            if merged and s <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], e)
            else:
                merged.append([s, e])
        self.idle = merged
        self.idle_ends = [e for s, e in merged]

    def kinds(self, t0, t1):
        """CPU time of each kind, all CPUs, within [t0, t1]."""
        out = collections.Counter()
        for spans, ends in self.spans.values():
            for s, e, k in spans[bisect.bisect_right(ends, t0):]:
                if s >= t1:
                    break
                out[k] += min(e, t1) - max(s, t0)
        return out

    def idle_within(self, t0, t1):
        """How long within [t0, t1] at least one CPU was idle."""
        n = 0.0
        for s, e in self.idle[bisect.bisect_right(self.idle_ends, t0):]:
            if s >= t1:
                break
            n += min(e, t1) - max(s, t0)
        return n


def split(ev, a, b, holders, cpus):
    """Time of smtpd's threads in [a, b] by state (and of their waits for a
    CPU, the part in which some CPU was idle); who held the CPU."""
    state, acc = {}, collections.Counter()

    def flip(tid, new, t):
        if tid in state:
            old, since = state[tid]
            acc[old] += t - since
            if old == "R":
                acc["R idle"] += cpus.idle_within(since, t)
        state[tid] = (new, t)
    for t, comm, tid, name, rest, cpu in ev[a:b + 1]:
        if name == "sched_wakeup" and "comm=smtpd" in rest:
            flip(int(re.search(r" pid=(\d+)", rest).group(1)), "R", t)
        elif name == "sched_switch":
            m = SWITCH.search(rest)
            if m.group(1) == "smtpd":
                s = m.group(3)
                flip(int(m.group(2)), "R" if s.startswith("R") else "D" if s.startswith("D") else "S", t)
            if m.group(4) == "smtpd":
                tid = int(m.group(5))
                if tid in state and state[tid][0] == "R":
                    holders[m.group(1).split("/")[0]] += t - state[tid][1]
                flip(tid, "run", t)
    return acc["R"] * 1e6, acc["D"] * 1e6, acc["run"] * 1e6, acc["R idle"] * 1e6


def report(ev, comms, client_pid):
    wins = windows(ev)
    syncs, open_ = [], {}
    cpus = Cpus(ev, comms, client_pid)
    for t, comm, tid, name, rest, cpu in ev:
        if comm == "local" and name == "sys_enter":
            nr = int(re.search(r"NR (\d+)", rest).group(1))
            if nr in (NR_FSYNC, NR_FDATASYNC, NR_SYNCFS):
                open_[tid] = (t, nr)
        elif comm == "local" and name == "sys_exit" and tid in open_:
            s, nr = open_.pop(tid)
            syncs.append((s, t, nr))
    rows = []
    for a, b, lat in wins:
        holders = collections.Counter()
        r, d, run, r_idle = split(ev, a, b, holders, cpus)
        t0, t1 = ev[a][0], ev[b][0]
        kinds = {nr for s, e, nr in syncs if s < t1 and e > t0}
        rows.append((lat, r, d, run, holders,
                     "local syncfs" if NR_SYNCFS in kinds else "local fsync" if kinds else "neither",
                     r_idle, cpus.kinds(t0, t1)))
    rows.sort(key=lambda r: r[0])
    n = len(rows)
    if n < 100:
        print("lattrace: only %d messages traced" % n)
        return
    print("per message, means in us, summed over smtpd's threads:")
    for label, g in (("fastest 50%", rows[:n // 2]), ("p90-p99", rows[n * 9 // 10:n * 99 // 100]),
                     ("slowest 1%", rows[n * 99 // 100:])):
        print("  %-12s n %4d  latency %7.0f  waiting for a CPU %7.0f  for I/O %6.0f  running %5.0f"
              % (label, len(g), *(statistics.mean(r[k] for r in g) for k in range(4))))
    print("the same messages: of smtpd's wait for a CPU, the part in which some CPU sat idle;"
          " what all CPUs did in the window (us):")
    for label, g in (("fastest 50%", rows[:n // 2]), ("p90-p99", rows[n * 9 // 10:n * 99 // 100]),
                     ("slowest 1%", rows[n * 99 // 100:])):
        did = collections.Counter()
        for r in g:
            did.update(r[7])
        print("  %-12s waiting with a CPU idle %6.0f  |  %s" % (
            label, statistics.mean(r[6] for r in g),
            "  ".join("%s %.0f" % (k, did[k] * 1e6 / len(g))
                      for k in ("idle", "MTA", "client", "kernel", "other"))))
    slow = rows[n * 9 // 10:]
    held = collections.Counter()
    for r in slow:
        held.update(r[4])
    print("  slowest 10%%: the CPU smtpd waited for was held by (ms per message): %s"
          % ", ".join("%s %.2f" % (k, v * 1e3 / len(slow)) for k, v in held.most_common(8)))
    print("overlap with local's syncs (latency in ms):")
    for k in ("local syncfs", "local fsync", "neither"):
        v = [r[0] for r in rows if r[5] == k]
        if v:
            print("  %-13s n %4d  p50 %.2f p90 %.2f p99 %.2f  (of the slowest 10%%: %d)"
                  % (k, len(v), *(latency.percentile(v, q) / 1e3 for q in (50, 90, 99)),
                     sum(1 for r in slow if r[5] == k)))


def main(args):
    if len(args) < 2:
        sys.stderr.write("usage: lattrace.py PORT COUNT [COMMS]\n")
        return 64
    port, count = int(args[0]), int(args[1])
    comms = (args[2] if len(args) > 2 else "smtpd,qmgr,local,pickup,ternd").split(",")
    inst = TRACEFS + "/instances/lattrace"
    if not os.path.isdir(TRACEFS + "/instances"):
        sys.stderr.write("lattrace: no tracefs at %s (root? mounted?)\n" % TRACEFS)
        return 1
    try:
        trace_on(inst, comms)
        run_client(port, count, inst + "/trace_marker")
        put(inst + "/tracing_on", "0")
        with open(inst + "/trace") as f:
            ev = parse(f)
    finally:
        if os.path.isdir(inst):
            put(inst + "/tracing_on", "0")
            os.rmdir(inst)
    report(ev, comms, os.getpid())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
