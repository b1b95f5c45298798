# spf_policy.py PORTFILE CONF - Debian's postfix-policyd-spf-python as a
# policy server on a loopback TCP port, for the tests. In Postfix it runs
# under spawn(8) with the connection as stdin/stdout; here each accepted
# connection gets a forked child that does the same. Its DNS is replaced
# (spf.DNSLookup) by the fixed records below, so that the test never asks
# a real name server (the tests cannot reach the Internet):
#   pass.test  v=spf1 ip4:127.0.0.1 -all      (127.0.0.1 is allowed)
#   fail.test  v=spf1 ip4:192.0.2.1 -all      (127.0.0.1 is not)
#   none.test  no TXT record at all
import os, signal, socket, sys

import spf
from spf_engine import policyd_spf

RECORDS = {
    "pass.test": "v=spf1 ip4:127.0.0.1 -all",
    "fail.test": "v=spf1 ip4:192.0.2.1 -all",
}

def fake_lookup(name, qtype, *args, **kwargs):
    name = name.rstrip(".").lower()
    if qtype == "TXT" and name in RECORDS:
        return [((name, "TXT"), [RECORDS[name].encode()])]
    return []

spf.DNSLookup = fake_lookup

portfile, conf = sys.argv[1], sys.argv[2]
srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", 0))
srv.listen(16)
signal.signal(signal.SIGCHLD, signal.SIG_IGN)
with open(portfile + ".tmp", "w") as f:
    f.write("%d\n" % srv.getsockname()[1])
os.rename(portfile + ".tmp", portfile)
while True:
    c, _ = srv.accept()
    if os.fork() == 0:
        srv.close()
        os.dup2(c.fileno(), 0)
        os.dup2(c.fileno(), 1)
        c.close()
        sys.stdin = open(0, "r", closefd=False)
        sys.stdout = open(1, "w", buffering=1, closefd=False)
        sys.argv = ["policyd-spf", conf]
        try:
            policyd_spf.main()
        finally:
            sys.stdout.flush()
            os._exit(0)
    c.close()
