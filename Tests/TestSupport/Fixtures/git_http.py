"""A git smart-HTTP server for tests: `git http-backend` (git's own server side) behind a small
HTTP server on 127.0.0.1. Usage: git_http.py PROJECT_ROOT PORT_FILE. Serves every repository
under PROJECT_ROOT; writes the port it listens on to PORT_FILE."""
import base64
import http.server
import os
import subprocess
import sys

root, port_file = sys.argv[1], sys.argv[2]
# Repositories under /private/ need `Authorization: basic base64(x-access-token:<token>)`
# (the scheme case-insensitive), the token taken from GIT_TEST_TOKEN.
token = os.environ.get("GIT_TEST_TOKEN", "")


# Each request is logged as "PATH AUTHORIZATION-OR-DASH" to GIT_TEST_LOG when it is set.
log_file = os.environ.get("GIT_TEST_LOG", "")


class Handler(http.server.BaseHTTPRequestHandler):
    def handle_one(self):
        path, _, query = self.path.partition("?")
        if log_file:
            with open(log_file, "a") as f:
                f.write("%s %s\n" % (path, self.headers.get("Authorization", "-")))
        if path.startswith("/private/"):
            scheme, _, value = self.headers.get("Authorization", "").partition(" ")
            expected = base64.b64encode(("x-access-token:" + token).encode()).decode()
            if not token or scheme.lower() != "basic" or value != expected:
                self.send_response(401)
                self.send_header("WWW-Authenticate", 'Basic realm="git"')
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        env = {"GIT_PROJECT_ROOT": root, "GIT_HTTP_EXPORT_ALL": "1", "PATH_INFO": path, "QUERY_STRING": query,
               "REQUEST_METHOD": self.command, "CONTENT_TYPE": self.headers.get("Content-Type", ""),
               "CONTENT_LENGTH": str(length), "REMOTE_ADDR": "127.0.0.1", "PATH": os.environ.get("PATH", "/usr/bin:/bin")}
        if self.headers.get("Git-Protocol"):
            env["GIT_PROTOCOL"] = self.headers["Git-Protocol"]
        out = subprocess.run(["git", "http-backend"], input=body, env=env, capture_output=True).stdout
        sep = out.find(b"\r\n\r\n")
        head, rest = (out[:sep], out[sep + 4:]) if sep >= 0 else out.split(b"\n\n", 1)
        status, headers = 200, []
        for line in head.replace(b"\r", b"").split(b"\n"):
            if b":" not in line:
                continue
            k, v = line.split(b":", 1)
            if k.lower() == b"status":
                status = int(v.split()[0])
            else:
                headers.append((k.decode(), v.strip().decode()))
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(rest)))
        self.end_headers()
        self.wfile.write(rest)

    do_GET = do_POST = handle_one

    def log_message(self, *args):
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
with open(port_file + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
os.rename(port_file + ".tmp", port_file)
server.serve_forever()
