#!/usr/bin/env python3
"""An HTTP server on loopback that misbehaves the ways real servers and proxies do, for the
download tests. usage: misbehaving_http.py BLOB_FILE PORT_FILE LOG_FILE
  GET /v2/                            200 (a registry's ping)
  GET /v2/norange/blobs/<digest>      first request: Content-Length of the whole blob, half of
                                      it, then the connection drops; afterwards Range is ignored
                                      (200 with the whole body)
  GET /v2/short/blobs/<digest>        first request: 200 with half the blob and a Content-Length
                                      that says half; afterwards Range is honoured (206)
  GET /forever                        200 without a length, zeros streamed until the client goes
  GET /stall                          200, Content-Length 10 MB, 64 KiB sent, then nothing
  GET /v2/multi/blobs/<digest>        401 with two WWW-Authenticate headers (Bearer, then
                                      Negotiate) until asked with "Bearer tok"; then the blob
  GET /token                          {"token": "tok"}
  GET /endless.git/info/refs          a smart-HTTP advertisement of one branch
  POST /endless.git/git-upload-pack   NAK, then side-band pack data until the client goes
Each request is logged as "PATH RANGE" to LOG_FILE.
"""
import sys, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

blob_file, port_file, log_file = sys.argv[1], sys.argv[2], sys.argv[3]
blob = open(blob_file, "rb").read()
counts, lock = {}, threading.Lock()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def head(self, status, length=None, extra=()):
        self.send_response(status)
        if length is not None:
            self.send_header("Content-Length", str(length))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()

    def do_GET(self):
        rng = self.headers.get("Range", "-")
        with lock:
            counts[self.path] = counts.get(self.path, 0) + 1
            n = counts[self.path]
            with open(log_file, "a") as f:
                f.write("%s %s\n" % (self.path, rng))
        half = len(blob) // 2
        try:
            if self.path == "/v2/":
                self.head(200, 2)
                self.wfile.write(b"{}")
            elif self.path.startswith("/v2/norange/blobs/"):
                self.head(200, len(blob))
                if n == 1:
                    self.wfile.write(blob[:half])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(blob)
            elif self.path.startswith("/v2/short/blobs/"):
                if n == 1:
                    self.head(200, half)
                    self.wfile.write(blob[:half])
                    return
                start = int(rng.split("=")[1].split("-")[0]) if rng.startswith("bytes=") else 0
                self.head(206, len(blob) - start, [("Content-Range", "bytes %d-%d/%d" % (start, len(blob) - 1, len(blob)))])
                self.wfile.write(blob[start:])
            elif self.path.startswith("/v2/multi/blobs/"):
                if self.headers.get("Authorization") != "Bearer tok":
                    realm = "http://127.0.0.1:%d/token" % self.server.server_address[1]
                    self.head(401, 0, [("WWW-Authenticate", 'Bearer realm="%s",service="test"' % realm),
                                       ("WWW-Authenticate", "Negotiate")])
                    return
                self.head(200, len(blob))
                self.wfile.write(blob)
            elif self.path.startswith("/token"):
                self.head(200, 15)
                self.wfile.write(b'{"token":"tok"}')
            elif self.path == "/forever":
                self.send_response(200)
                self.send_header("Connection", "close")
                self.end_headers()
                self.close_connection = True
                zeros = b"\0" * (1 << 20)
                while True:
                    self.wfile.write(zeros)
            elif self.path == "/stall":
                self.head(200, 10 << 20)
                self.wfile.write(b"x" * 65536)
                self.wfile.flush()
                time.sleep(3600)
            elif self.path.startswith("/endless.git/info/refs"):
                lines = [b"# service=git-upload-pack\n", None,
                         b"1" * 40 + b" HEAD\0side-band-64k ofs-delta shallow symref=HEAD:refs/heads/main\n",
                         b"1" * 40 + b" refs/heads/main\n", None]
                body = b"".join(b"0000" if l is None else b"%04x" % (len(l) + 4) + l for l in lines)
                self.head(200, len(body), [("Content-Type", "application/x-git-upload-pack-advertisement")])
                self.wfile.write(body)
            else:
                self.head(404, 0)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        with open(log_file, "a") as f:
            f.write("%s -\n" % self.path)
        if not self.path.startswith("/endless.git/git-upload-pack"):
            self.head(404, 0)
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/x-git-upload-pack-result")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        packet = b"%04x" % (65520) + b"\1" + b"\0" * (65520 - 5)
        try:
            self.wfile.write(b"0008NAK\n" + b"%04x" % (4 + 1 + 12) + b"\1PACK\0\0\0\2\0\0\0\1")
            while True:
                self.wfile.write(packet * 16)
        except (BrokenPipeError, ConnectionResetError):
            pass


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
with open(port_file + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
import os
os.rename(port_file + ".tmp", port_file)
server.serve_forever()
