# slow_policy.py PORTFILE DELAY - a policy server (Postfix's policy
# delegation protocol) for the tests: answers DUNNO, after DELAY seconds
# when the recipient starts with "slow". Each connection is served by a
# thread; PORTFILE.stats gets "connections requests" after every answer.
import socket, sys, threading, time

portfile, delay = sys.argv[1], float(sys.argv[2])
lock = threading.Lock()
stats = {"connections": 0, "requests": 0}

def write_stats():
    with open(portfile + ".stats.tmp", "w") as f:
        f.write("%d %d\n" % (stats["connections"], stats["requests"]))
    import os
    os.replace(portfile + ".stats.tmp", portfile + ".stats")

def serve(c):
    data = b""
    while True:
        chunk = c.recv(4096)
        if not chunk:
            break
        data += chunk
        while b"\n\n" in data:
            req, data = data.split(b"\n\n", 1)
            attrs = dict(l.split("=", 1) for l in req.decode().split("\n") if "=" in l)
            if attrs.get("recipient", "").startswith("slow"):
                time.sleep(delay)
            with lock:
                stats["requests"] += 1
                write_stats()
            c.sendall(b"action=DUNNO\n\n")
    c.close()

srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", 0))
srv.listen(16)
with open(portfile + ".tmp", "w") as f:
    f.write("%d\n" % srv.getsockname()[1])
import os
os.rename(portfile + ".tmp", portfile)
while True:
    c, _ = srv.accept()
    with lock:
        stats["connections"] += 1
    threading.Thread(target=serve, args=(c,), daemon=True).start()
