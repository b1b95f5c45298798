# meter.py - what tests/bench/run reads from outside the MTAs it measures:
# the CPU time of every process of one MTA instance (a cgroup of its own),
# and the message counter of the smtp-sink an MTA relays to.
#
# Part of the benchmark tool, runs as root (making cgroups and moving
# processes into them needs it; smtp-sink drops to nobody itself).
#
# CPU: one cgroup per MTA instance, made before the instance starts. The
# command that starts the instance's master (`postfix start`, `tern start`)
# moves itself into the group between fork and exec, so the master and
# every process it ever forks are counted, whatever their life span: the
# short-lived processes that a walk of /proc would miss too. The benchmark
# itself, smtp-source, smtp-sink and the milter filter stay where they
# were, outside every group. Two kinds of hierarchy are understood:
#   cgroup v1 with the cpuacct controller (cpuacct.usage, nanoseconds),
#     used where it is mounted (hybrid systems also mount a v2 tree, but
#     their CPU controllers live in v1);
#   cgroup v2 (cpu.stat usage_usec, kept whether or not the cpu controller
#     is enabled), as on a stock Debian 12 system at /sys/fs/cgroup.
import os
import re
import subprocess
import threading
import time

PREFIX = "tern-bench"


class CpuGroups:
    """Where this machine counts CPU per cgroup. Raises OSError or
    RuntimeError, with why, when no group can be made and read here."""

    def __init__(self):
        self.kind, self.base = self.find()
        self.made = 0
        try:
            probe = self.group("probe")
        except OSError as e:
            raise RuntimeError("cannot make a cgroup under %s: %s" % (self.base, e.strerror))
        try:
            subprocess.run(["true"], preexec_fn=probe.enter, check=True)
            probe.usage_ns()
        except subprocess.SubprocessError as e:
            raise RuntimeError("could not start a process in %s: %s" % (probe.path, e))
        finally:
            probe.remove()

    @staticmethod
    def find():
        v1 = v2 = None
        with open("/proc/self/mountinfo") as f:
            for line in f:
                left, right = line.split(" - ", 1)
                fstype, _, options = right.split()[:3]
                where = left.split()[4]
                if fstype == "cgroup" and "cpuacct" in options.split(",") and not v1:
                    v1 = where
                elif fstype == "cgroup2" and not v2:
                    v2 = where
        if v1:
            return "v1", v1
        if v2:
            return "v2", v2
        raise RuntimeError("no cgroup hierarchy with CPU accounting is mounted "
                           "(neither cgroup v1 cpuacct nor cgroup v2)")

    def describe(self):
        return ("cgroup v1 cpuacct under %s (cpuacct.usage)" % self.base if self.kind == "v1"
                else "cgroup v2 under %s (cpu.stat usage_usec)" % self.base)

    def group(self, label):
        """A new, empty group for one MTA instance."""
        self.made += 1
        name = "%s.%d.%d.%s" % (PREFIX, os.getpid(), self.made,
                                re.sub(r"[^A-Za-z0-9_-]", "_", label))
        return CpuGroup(self.kind, os.path.join(self.base, name))


class CpuGroup:
    def __init__(self, kind, path):
        self.kind = kind
        self.path = path
        os.mkdir(path)
        self.gone = False

    def enter(self):
        """preexec_fn: moves the child (between fork and exec) into the group."""
        with open(os.path.join(self.path, "cgroup.procs"), "w") as f:
            f.write(str(os.getpid()))

    def usage_ns(self):
        if self.kind == "v1":
            with open(os.path.join(self.path, "cpuacct.usage")) as f:
                return int(f.read())
        with open(os.path.join(self.path, "cpu.stat")) as f:
            for line in f:
                k, v = line.split()
                if k == "usage_usec":
                    return int(v) * 1000
        raise RuntimeError("%s/cpu.stat has no usage_usec" % self.path)

    def pids(self):
        with open(os.path.join(self.path, "cgroup.procs")) as f:
            return [int(p) for p in f.read().split()]

    def remove(self, secs=15):
        """rmdir once the instance's processes are gone; None, or why not."""
        if self.gone:
            return None
        deadline = time.monotonic() + secs
        try:
            while self.pids() and time.monotonic() < deadline:
                time.sleep(0.1)
            os.rmdir(self.path)
        except OSError as e:
            return "cgroup %s not removed: %s (processes %s)" % (
                self.path, e.strerror, " ".join(map(str, self.pids())) or "none")
        self.gone = True
        return None


class Sink:
    """Postfix's smtp-sink on 127.0.0.1:port, started outside every MTA's
    cgroup; counts the messages it received from its -c counters
    ("sess=N quit=N mesg=N", one line per event ended by CR)."""

    def __init__(self, port):
        self.port = port
        self.count = 0
        self.when = None        # time.monotonic() of the last count
        self.cond = threading.Condition()
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(["smtp-sink", "-c", "-u", "nobody",
                                      "127.0.0.1:%d" % self.port, "256"],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT)
        threading.Thread(target=self.read, daemon=True).start()

    def read(self):
        tail = b""
        fd = self.proc.stdout.fileno()
        while True:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            events = (tail + chunk).replace(b"\n", b"\r").split(b"\r")
            tail = events.pop()
            for line in reversed(events):
                m = re.search(rb"mesg=(\d+)", line)
                if m:
                    with self.cond:
                        self.count = int(m.group(1))
                        self.when = time.monotonic()
                        self.cond.notify_all()
                    break
        with self.cond:
            self.cond.notify_all()

    def wait_for(self, n, deadline):
        """When the n-th message arrived (monotonic), or None at the deadline."""
        with self.cond:
            while self.count < n:
                left = deadline - time.monotonic()
                if left <= 0 or self.proc.poll() is not None:
                    return None
                self.cond.wait(min(left, 1))
            return self.when

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
