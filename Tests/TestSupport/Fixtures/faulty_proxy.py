#!/usr/bin/env python3
"""A registry proxy on loopback that injects faults, for the client's retry and verification
tests. The fault is chosen by the first two repository path components:
  /v2/f/<mode>-<nonce>/<repo...>/...  is forwarded to UPSTREAM as /v2/<repo...>/...
Modes (per nonce, counted per request path):
  ok        forward unchanged
  reset     blobs: the first response sends half the body, then the connection is dropped
  e500      every path: the first two requests get HTTP 500
  e429      every path: the first request gets 429 with Retry-After: 0
  wrong     blobs: one byte of every body is flipped (the digest cannot match)
  truncate  blobs: every response sends half the body, then the connection is dropped
  redirect  blobs: 307 to /direct/<upstream path> on this proxy (as registries redirect to storage)
  html      manifests: 200 with an HTML page (a captive portal or a misconfigured proxy)
  patchdrop uploads: the second PATCH is cut off halfway, before the registry sees any of it
  patchlost uploads: the second PATCH reaches the registry, but its answer is lost
  slow      blobs: sent in 16 KiB pieces 20 ms apart (a slow link, for progress displays)
Uploads (POST, PATCH, PUT) are forwarded with their bodies; an upload Location the registry
returns is rewritten to a path on this proxy under the same /v2/f/<mode>-<nonce>/ prefix.
usage: faulty_proxy.py PORT UPSTREAM_PORT LOGFILE
Each request is logged as "METHOD PATH RANGE" to LOGFILE (RANGE: Range, or an upload's
Content-Range).
"""
import sys, threading, time, urllib.request, urllib.error
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

port, upstream, logfile = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
counts, lock = {}, threading.Lock()


def log(line):
    with lock, open(logfile, "a") as f:
        f.write(line + "\n")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def fetch(self, path, body=None, prefix="/v2/"):
        headers = {k: v for k, v in self.headers.items()
                   if k.lower() in ("accept", "range", "authorization", "content-type", "content-range")}
        req = urllib.request.Request("http://127.0.0.1:%d%s" % (upstream, path), data=body, headers=headers, method=self.command)
        try:
            r = urllib.request.urlopen(req)
            status, headers, body = r.status, dict(r.headers), r.read()
        except urllib.error.HTTPError as e:
            status, headers, body = e.code, dict(e.headers), e.read()
        for k, v in headers.items():
            if k.lower() == "location" and v.startswith("http://127.0.0.1:%d/v2/" % upstream):
                headers[k] = prefix + v[len("http://127.0.0.1:%d/v2/" % upstream):]
        return status, headers, body

    def body(self):
        n = int(self.headers.get("Content-Length", "0"))
        return self.rfile.read(n) if self.command in ("POST", "PATCH", "PUT") else None

    def reply(self, status, headers, body, send=None, pace=False):
        self.send_response(status)
        for k, v in headers.items():
            if k.lower() not in ("content-length", "connection", "transfer-encoding", "date", "server"):
                self.send_header(k, v)
        # A HEAD's Content-Length is the size of the body it does not send.
        self.send_header("Content-Length", headers.get("Content-Length", "0") if self.command == "HEAD" else str(len(body)))
        self.end_headers()
        if self.command != "HEAD" and pace:
            # A slow link: 16 KiB every 20 ms (about 800 KB/s).
            for i in range(0, len(body), 16384):
                self.wfile.write(body[i:i + 16384])
                self.wfile.flush()
                time.sleep(0.02)
        elif self.command != "HEAD":
            self.wfile.write(body if send is None else body[:send])
        if send is not None:
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(2)

    def handle_one(self):
        log("%s %s %s" % (self.command, self.path, self.headers.get("Range", self.headers.get("Content-Range", "-"))))
        if self.path.startswith("/direct/"):
            status, headers, body = self.fetch(self.path[len("/direct"):])
            return self.reply(status, headers, body)
        parts = self.path.split("/")
        if len(parts) < 5 or parts[1] != "v2" or parts[2] != "f":
            status, headers, body = self.fetch(self.path, self.body())
            return self.reply(status, headers, body)
        mode = parts[3].split("-")[0]
        real = "/".join(parts[:2] + parts[4:])
        if self.command == "PATCH" and mode in ("patchdrop", "patchlost"):
            with lock:
                counts[parts[3] + " PATCH"] = counts.get(parts[3] + " PATCH", 0) + 1
                patches = counts[parts[3] + " PATCH"]
            if patches == 2:
                length = int(self.headers.get("Content-Length", "0"))
                if mode == "patchdrop":
                    self.rfile.read(length // 2)
                else:
                    self.fetch(real, self.rfile.read(length))
                self.close_connection = True
                self.connection.shutdown(2)
                return
        data = self.body()
        with lock:
            key = parts[3] + real
            counts[key] = counts.get(key, 0) + 1
            n = counts[key]
        is_blob = "/blobs/" in real
        if mode == "e500" and n <= 2:
            return self.reply(500, {"Content-Type": "application/json"}, b'{"errors":[{"code":"UNKNOWN","message":"injected"}]}')
        if mode == "e429" and n <= 1:
            return self.reply(429, {"Retry-After": "0"}, b"")
        if mode == "html" and "/manifests/" in real:
            return self.reply(200, {"Content-Type": "text/html"}, b"<html>\n<body>Please log in to the proxy</body></html>")
        if mode == "redirect" and is_blob:
            return self.reply(307, {"Location": "http://127.0.0.1:%d/direct%s" % (port, real)}, b"")
        status, headers, body = self.fetch(real, data, "/".join(parts[:4]) + "/")
        if is_blob and status in (200, 206) and len(body) > 1:
            if mode == "wrong":
                body = body[:-1] + bytes([body[-1] ^ 0xFF])
            elif (mode == "reset" and n == 1) or mode == "truncate":
                return self.reply(status, headers, body, send=len(body) // 2)
        self.reply(status, headers, body, pace=is_blob and mode == "slow")

    do_GET = handle_one
    do_HEAD = handle_one
    do_POST = handle_one
    do_PATCH = handle_one
    do_PUT = handle_one


ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
