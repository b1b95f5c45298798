#!/usr/bin/env python3
# sts_server.py - the MTA-STS policy server of t_sts_fetch.sh: HTTPS on
# ADDR:PORT with CERT and KEY, answering every GET as DIR/behaviour says
# (read at each request, so the test changes it without a restart):
#   ok        200, text/plain, the body of DIR/policy
#   redirect  301 to https://mta-sts.example.test/elsewhere
#   html      200, text/html, the policy
#   big       200, text/plain, 70000 bytes (over RFC 8461's 64 KiB)
#   bigstream the same without Content-Length (the end is the close)
#   missing   404
# Each request's path is appended to DIR/requests. Writes DIR/ready once
# listening; runs until killed.
#   sts_server.py ADDR PORT CERT KEY DIR
import http.server
import os
import ssl
import sys

addr, port, cert, key, d = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, fmt, *args):
        pass

    def do_GET(self):
        with open(os.path.join(d, "requests"), "a") as f:
            f.write(self.path + "\n")
        with open(os.path.join(d, "behaviour")) as f:
            how = f.read().strip()
        with open(os.path.join(d, "policy"), "rb") as f:
            policy = f.read()
        if how == "redirect":
            self.send_response(301)
            self.send_header("Location", "https://mta-sts.example.test/elsewhere")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if how == "missing":
            self.send_error(404)
            return
        ctype = "text/html" if how == "html" else "text/plain; charset=utf-8"
        body = b"x" * 70000 if how in ("big", "bigstream") else policy
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        if how != "bigstream":
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


srv = http.server.HTTPServer((addr, port), Handler)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
open(os.path.join(d, "ready"), "w").close()
srv.serve_forever()
