#!/bin/sh
# t_systemd_notify.sh - ternd's readiness notification (the sd_notify
# datagram protocol tern.service's Type=notify relies on), with
# NOTIFY_SOCKET naming a unix datagram socket this test listens on and
# `tern start -f` run as the unit runs it: READY=1 comes only once the
# SMTP listener accepts and answers; SIGHUP gives RELOADING=1 (with
# MONOTONIC_USEC) then READY=1, a failed reload too (with a STATUS=);
# SIGTERM gives STOPPING=1 and ternd exits 0; no service process inherits
# NOTIFY_SOCKET; an abstract socket ("@name") works the same. Without
# NOTIFY_SOCKET nothing changes (t_start_stop).
. "$(dirname "$0")/lib.sh"
need_cmd python3

tern_instance
sock=$TERN_DIR/notify.sock
python3 - "$sock" "$TERN_DIR" "$TERN_PORT" <<'PY' || { show_log; fail "notification protocol"; }
import os, signal, socket, subprocess, sys, time

path, tdir, port = sys.argv[1], sys.argv[2], int(sys.argv[3])

def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)

def greeting():
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    line = s.recv(200).decode(errors="replace")
    s.sendall(b"QUIT\r\n")
    s.close()
    return line

def listening():
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
        return True
    except OSError:
        return False

def children(pid):
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open("/proc/%s/stat" % d) as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                        out.append(int(d))
            except (OSError, IndexError, ValueError):
                pass
    return out

def run(addr, label):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(addr)
    s.settimeout(60)
    env = dict(os.environ, NOTIFY_SOCKET=addr if addr[0] != "\0" else "@" + addr[1:])
    p = subprocess.Popen(["tern", "-c", tdir, "start", "-f"], env=env,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    def recv(what):
        try:
            data, _ = s.recvfrom(4096)
        except socket.timeout:
            p.kill()
            fail("%s: no %s within 60s" % (label, what))
        return data.decode()
    try:
        # Before READY=1 the datagram must not come: it is the first one.
        msg = recv("READY=1")
        if msg != "READY=1":
            fail("%s: first notification %r, not READY=1" % (label, msg))
        # At READY=1 the instance answers at once, greeting included.
        if not greeting().startswith("220"):
            fail("%s: no 220 greeting right after READY=1" % label)
        kids = children(p.pid)
        if not kids:
            fail("%s: ternd has no service process after READY=1" % label)
        master_exe = os.readlink("/proc/%d/exe" % p.pid)
        for k in kids:
            try:
                # A child between fork and exec still shows the master's
                # environment (a loaded machine widens that window).
                for _ in range(100):
                    if os.readlink("/proc/%d/exe" % k) != master_exe:
                        break
                    time.sleep(0.1)
                with open("/proc/%d/environ" % k, "rb") as f:
                    if b"NOTIFY_SOCKET=" in f.read():
                        fail("%s: service process %d inherited NOTIFY_SOCKET" % (label, k))
            except OSError:
                pass
        if label == "path":
            # A reload: RELOADING=1 with the clock, then READY=1.
            p.send_signal(signal.SIGHUP)
            msg = recv("RELOADING=1")
            lines = msg.split("\n")
            if lines[0] != "RELOADING=1" or not lines[1].startswith("MONOTONIC_USEC="):
                fail("reload: got %r, not RELOADING=1 and MONOTONIC_USEC" % msg)
            usec = int(lines[1].split("=", 1)[1])
            now = time.clock_gettime(time.CLOCK_MONOTONIC) * 1e6
            if abs(now - usec) > 30e6:
                fail("reload: MONOTONIC_USEC %d is not the monotonic clock (%d)" % (usec, now))
            msg = recv("READY=1 after the reload")
            if msg.split("\n")[0] != "READY=1":
                fail("reload: got %r, not READY=1" % msg)
            if not listening():
                fail("not listening after the reload")
            # A reload that fails keeps the old configuration: READY=1 again, with why.
            cf = os.path.join(tdir, "master.cf")
            with open(cf) as f:
                good = f.read()
            with open(cf, "a") as f:
                f.write("broken inet 99999 - - - 1 nothing\n")
            p.send_signal(signal.SIGHUP)
            if not recv("RELOADING=1").startswith("RELOADING=1\n"):
                fail("failed reload: no RELOADING=1")
            msg = recv("READY=1 after a failed reload")
            if not msg.startswith("READY=1\nSTATUS=reload failed"):
                fail("failed reload: got %r" % msg)
            with open(cf, "w") as f:
                f.write(good)
            if not listening():
                fail("not listening after a failed reload")
        p.send_signal(signal.SIGTERM)
        msg = recv("STOPPING=1")
        if msg != "STOPPING=1":
            fail("%s: got %r at stop, not STOPPING=1" % (label, msg))
        try:
            rc = p.wait(timeout=60)
        except subprocess.TimeoutExpired:
            p.kill()
            fail("%s: ternd did not exit after SIGTERM" % label)
        if rc != 0:
            fail("%s: ternd exited %d" % (label, rc))
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        s.close()

run(path, "path")
run("\0tern-notify-test-%d" % os.getpid(), "abstract")
PY
tern status >/dev/null && fail "still running after the test"
pass
