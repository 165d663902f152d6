#!/usr/bin/env python3
"""A local Golem image registry for tests: the protocol gvmkit-build 0.3.19 and yapapi 0.13.1 speak
(GOLEM.md §2.6 and §9.1), with switches for faults and counters the tests read.

    golem_registry.py STATE_DIR PORT_FILE [--user NAME:TOKEN ...] [--no-file-hash]

--no-file-hash: the image is complete when every chunk is stored (each chunk's SHA-256 is still
checked), without the whole file's SHA3-224 check. For the push benchmark only: the real
registry hashes on its own machine, where this server would charge the client's 2 cores.

Writes the port it listens on (127.0.0.1) to PORT_FILE. Uploads land in STATE_DIR.

Protocol: POST /auth/pat/login, GET /v1/image/descr/<id>, POST /v1/image/push/descr,
POST /v1/image/descr/attach/<id>, POST /v1/image/push/chunk, GET /v1/image/info?tag=|hash=,
GET|HEAD /download/<descriptor id or sha3> (Range supported). Request bodies may be sent with
Transfer-Encoding: chunked (gvmkit-build's reqwest does).

Test controls (not part of the real protocol):
  POST /_test/faults  JSON, any of
      fail_chunks: N        the next N chunk posts answer 503 (after reading the body)
      fail_after_stored: N  once N chunks are stored, every chunk post answers 503 (an outage
                            in the middle of a push); null turns it off
      drop_chunks: N        the next N chunk posts are cut: half the body is read, then the
                            connection is closed without an answer
      never_full: bool      the image is never reported complete
      corrupt_download: bool  downloads have one byte flipped
      cut_downloads: N      the next N downloads stop after half of what they promised
      chunk_delay: seconds  each chunk post waits this long before it is stored
      reject_chunks: N      the next N chunk posts answer 400, as for bytes that do not match
                            the descriptor
  GET  /_test/counters  JSON: requests per endpoint, chunk_posts, chunks_stored, ...
  POST /_test/reset_counters
"""
import hashlib
import json
import os
import re
import socket
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MAGIC = 0x0000000333333334

state_dir = sys.argv[1]
port_file = sys.argv[2]
users = {}
file_hash = True
args = sys.argv[3:]
while args:
    if args[0] == "--user" and len(args) > 1:
        name, token = args[1].split(":", 1)
        users[name] = token
        args = args[2:]
    elif args[0] == "--no-file-hash":
        file_hash = False
        args = args[1:]
    else:
        sys.exit("unknown argument " + args[0])

lock = threading.Lock()
images = {}        # descriptor id -> Image
tags = {}          # "user/repo:tag" -> descriptor id
faults = {"fail_chunks": 0, "fail_after_stored": None, "drop_chunks": 0, "never_full": False, "corrupt_download": False,
          "cut_downloads": 0, "chunk_delay": 0.0, "reject_chunks": 0}
counters = {}


def count(name, n=1):
    with lock:
        counters[name] = counters.get(name, 0) + n


class Image:
    def __init__(self, descriptor):
        if len(descriptor) < 52 or int.from_bytes(descriptor[:8], "big") != MAGIC:
            raise ValueError("not a descriptor (magic)")
        self.size = int.from_bytes(descriptor[8:16], "big")
        self.chunk_size = int.from_bytes(descriptor[16:24], "big")
        if self.chunk_size == 0:
            raise ValueError("chunk size 0")
        self.sha3 = descriptor[24:52].hex()
        n = (self.size + self.chunk_size - 1) // self.chunk_size
        if len(descriptor) != 52 + 32 * n:
            raise ValueError("descriptor length %d, expected %d" % (len(descriptor), 52 + 32 * n))
        self.chunk_hashes = [descriptor[52 + 32 * i:84 + 32 * i].hex() for i in range(n)]
        self.id = hashlib.sha256(descriptor).hexdigest()
        self.present = [0] * n
        self.path = os.path.join(state_dir, self.id + ".gvmi")
        with open(self.path, "wb") as f:
            f.truncate(self.size)
        # SHA3-224 over the prefix of chunks received in order; checked when the prefix is whole.
        self.hasher = hashlib.sha3_224()
        self.hashed = 0
        self.full = False
        self.failed = None
        self.lock = threading.Lock()

    def chunk_range(self, i):
        pos = i * self.chunk_size
        return pos, min(self.chunk_size, self.size - pos)

    def advance_hash(self, stored=None, data=None):
        """Hashes chunks that extend the contiguous prefix (caller holds the image's lock); the
        chunk just stored is hashed from `data` rather than read back."""
        if not file_hash:
            self.full = all(self.present)
            return
        with open(self.path, "rb") as f:
            while self.hashed < len(self.present) and self.present[self.hashed]:
                if self.hashed == stored and data is not None:
                    self.hasher.update(data)
                else:
                    pos, length = self.chunk_range(self.hashed)
                    f.seek(pos)
                    self.hasher.update(f.read(length))
                self.hashed += 1
        if self.hashed == len(self.present) and not self.full:
            if self.hasher.hexdigest() == self.sha3:
                self.full = True
            else:
                self.failed = "the chunks' SHA3-224 is not the descriptor's"


def json_bytes(obj):
    return json.dumps(obj).encode()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes; with Nagle's algorithm the body would wait for the
    # client's delayed ACK (40 ms per request), as no production server makes a client wait.
    disable_nagle_algorithm = True

    def log_message(self, *a):
        pass

    # ---- plumbing ----
    def reply(self, status, body=b"", content_type="application/json", extra=None):
        if isinstance(body, (dict, list)):
            body = json_bytes(body)
        elif isinstance(body, str):
            body = body.encode()
            content_type = "text/plain"
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def read_body(self, cut_half=False):
        """The request body; with cut_half, reads about half and returns None."""
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            parts, total = [], 0
            while True:
                line = self.rfile.readline()
                if not line:
                    raise ConnectionError("body ended early")
                size = int(line.split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                data = self.rfile.read(size)
                self.rfile.readline()
                parts.append(data)
                total += size
                if cut_half and total > 0:
                    return None
            return b"".join(parts)
        length = int(self.headers.get("Content-Length", "0"))
        if cut_half:
            self.rfile.read(length // 2)
            return None
        return self.rfile.read(length)

    def multipart(self, body):
        """Fields (str) and files (memoryviews into body: a 100 MB chunk is not copied)."""
        m = re.search(r'boundary="?([^";]+)"?', self.headers.get("Content-Type", ""))
        if not m:
            raise ValueError("not multipart/form-data")
        boundary = b"--" + m.group(1).encode()
        view = memoryview(body)
        fields, files = {}, {}
        at = body.find(boundary)
        while at >= 0:
            start = at + len(boundary)
            if body[start:start + 2] == b"--":
                break
            end = body.find(boundary, start)
            if end < 0:
                break
            head_end = body.find(b"\r\n\r\n", start, end)
            if head_end >= 0:
                head = bytes(view[start:head_end])
                content_end = end - 2 if body[end - 2:end] == b"\r\n" else end
                content = view[head_end + 4:content_end]
                disposition = re.search(rb'name="([^"]*)"', head)
                if disposition:
                    name = disposition.group(1).decode()
                    if b"filename=" in head:
                        files[name] = content
                    else:
                        fields[name] = bytes(content).decode()
            at = end
        return fields, files

    def drop_connection(self):
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    # ---- routes ----
    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        path = url.path
        if path == "/_test/counters":
            with lock:
                return self.reply(200, dict(counters))
        m = re.fullmatch(r"/v1/image/descr/([0-9a-f]{64})", path)
        if m:
            count("descr_get")
            with lock:
                image = images.get(m.group(1))
                if image is None:
                    return self.reply(404, {"descriptor": "not-found"})
                full = image.full and not faults["never_full"]
                return self.reply(200, {"descriptor": "ok", "version": 0, "status": "full" if full else "partial",
                                        "chunks": list(image.present)})
        if path == "/v1/image/info":
            count("info")
            query = urllib.parse.parse_qs(url.query)
            with lock:
                if "tag" in query:
                    image = images.get(tags.get(query["tag"][0], ""))
                elif "hash" in query:
                    image = next((i for i in images.values() if i.sha3 == query["hash"][0] and i.full), None)
                else:
                    return self.reply(400, "tag or hash is required")
                if image is None or not image.full:
                    return self.reply(404, "image not found")
                base = "http://%s:%d" % self.server.server_address[:2]
                link = base + "/download/" + image.sha3
                return self.reply(200, {"http": link, "https": link, "sha3": image.sha3, "size": image.size})
        m = re.fullmatch(r"/download/([0-9a-f]{56}|[0-9a-f]{64})", path)
        if m:
            return self.download(m.group(1))
        self.reply(404, "no route " + path)

    do_HEAD = do_GET

    def download(self, key):
        count("download")
        with lock:
            image = images.get(key) or next((i for i in images.values() if i.sha3 == key), None)
            if image is None or not image.full:
                return self.reply(404, "image not found")
            corrupt = faults["corrupt_download"]
            cut = faults["cut_downloads"] > 0 and self.command == "GET"
            if cut:
                faults["cut_downloads"] -= 1
        start, end = 0, image.size
        status = 200
        rng = self.headers.get("Range")
        if rng:
            m = re.fullmatch(r"bytes=(\d+)-", rng.strip())
            if not m or int(m.group(1)) > image.size:
                return self.reply(416, "bad range")
            start, status = int(m.group(1)), 206
            count("download_ranged")
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Length", str(end - start))
        if status == 206:
            self.send_header("Content-Range", "bytes %d-%d/%d" % (start, end - 1, image.size))
        self.end_headers()
        if self.command == "HEAD":
            return
        stop = start + (end - start) // 2 if cut else end
        with open(image.path, "rb") as f:
            f.seek(start)
            pos = start
            while pos < stop:
                data = f.read(min(1 << 20, stop - pos))
                if corrupt and pos <= image.size // 2 < pos + len(data):
                    i = image.size // 2 - pos
                    data = data[:i] + bytes([data[i] ^ 0xFF]) + data[i + 1:]
                self.wfile.write(data)
                pos += len(data)
        if cut:
            self.wfile.flush()
            self.drop_connection()

    def do_POST(self):
        path = urllib.parse.urlsplit(self.path).path
        if path == "/_test/faults":
            update = json.loads(self.read_body() or b"{}")
            with lock:
                faults.update(update)
            return self.reply(200, dict(faults))
        if path == "/_test/reset_counters":
            self.read_body()
            with lock:
                counters.clear()
            return self.reply(200, {})
        if path == "/auth/pat/login":
            count("login")
            try:
                creds = json.loads(self.read_body())
            except ValueError:
                return self.reply(400, "bad JSON")
            if users.get(creds.get("username")) == creds.get("password") and creds.get("username") in users:
                return self.reply(200, {"ok": True})
            return self.reply(401, "Invalid username or token")
        if path == "/v1/image/push/descr":
            count("descr_post")
            _, files = self.multipart(self.read_body())
            try:
                image = Image(bytes(files.get("file", b"")))
            except ValueError as e:
                return self.reply(400, "bad descriptor: %s" % e)
            with lock:
                images.setdefault(image.id, image)
            return self.reply(200, {"descriptor": image.id})
        m = re.fullmatch(r"/v1/image/descr/attach/([0-9a-f]{64})", path)
        if m:
            return self.attach(m.group(1))
        if path == "/v1/image/push/chunk":
            return self.chunk()
        self.read_body()
        self.reply(404, "no route " + path)

    def attach(self, descriptor_id):
        fields, _ = self.multipart(self.read_body())
        check = fields.get("check") == "true"
        count("attach_check" if check else "attach")
        login, token = fields.get("login", ""), fields.get("token", "")
        if login not in users or users[login] != token:
            return self.reply(401, "Invalid login or token")
        owner = fields.get("username", "")
        if owner != login:
            return self.reply(403, "user %s cannot push to the repositories of %s" % (login, owner))
        name = "%s/%s:%s" % (owner, fields.get("repository", ""), fields.get("tag", ""))
        with lock:
            image = images.get(descriptor_id)
            if image is None:
                return self.reply(404, "unknown descriptor")
            if check:
                return self.reply(200, "ok")
            if not image.full:
                return self.reply(409, "image is not complete")
            tags[name] = descriptor_id
        return self.reply(200, "Image %s attached" % name)

    def chunk(self):
        count("chunk_posts")
        with lock:
            drop = faults["drop_chunks"] > 0
            if drop:
                faults["drop_chunks"] -= 1
            fail = not drop and faults["fail_chunks"] > 0
            if fail:
                faults["fail_chunks"] -= 1
            outage = faults["fail_after_stored"]
            fail = fail or (not drop and outage is not None and counters.get("chunks_stored", 0) >= outage)
            delay = faults["chunk_delay"]
        if drop:
            count("chunk_dropped")
            self.read_body(cut_half=True)
            return self.drop_connection()
        body = self.read_body()
        if fail:
            count("chunk_503")
            return self.reply(503, "Service Unavailable (test fault)")
        if delay:
            time.sleep(delay)
        fields, files = self.multipart(body)
        data = files.get("file")
        try:
            number, pos, length = int(fields["chunk-no"]), int(fields["chunk-pos"]), int(fields["chunk-len"])
            descriptor_id, claimed = fields["descr-sha256"], fields["chunk-sha256"]
        except (KeyError, ValueError):
            return self.reply(400, "missing chunk fields")
        with lock:
            image = images.get(descriptor_id)
        if image is None:
            return self.reply(404, "unknown descriptor")
        if not 0 <= number < len(image.present) or (pos, length) != image.chunk_range(number) or data is None \
                or len(data) != length:
            return self.reply(400, "chunk %d: position or length does not match the descriptor" % number)
        actual = hashlib.sha256(data).hexdigest()
        with lock:
            reject = faults["reject_chunks"] > 0
            if reject:
                faults["reject_chunks"] -= 1
        if reject or actual != image.chunk_hashes[number] or claimed != actual:
            count("chunk_rejected")
            return self.reply(400, "chunk %d: sha256 does not match the descriptor" % number)
        fd = os.open(image.path, os.O_WRONLY)
        try:
            os.pwrite(fd, data, pos)
        finally:
            os.close(fd)
        with image.lock:
            image.present[number] = 1
            image.advance_hash(number, data)
        count("chunks_stored")
        self.reply(200, {"chunk": number})


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
with open(port_file + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
os.rename(port_file + ".tmp", port_file)
server.serve_forever()
