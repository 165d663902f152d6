#!/usr/bin/env python3
"""A Docker-style token server for the registry's `auth: token` mode (as Docker Hub's
auth.docker.io): GET /token?service=...&scope=... returns {"token": JWT}, an RS256 JWT whose x5c
header carries the self-signed certificate the registry trusts.

usage: token_server.py PORT KEY.pem CERT.pem ISSUER [USER:PASSWORD [REFRESH_TOKEN]]
With USER:PASSWORD, requests must carry that basic auth (wrong credentials get 401); without it,
anonymous requests get tokens. A token grants the actions its scope asks for (as Docker Hub's: a
pull token is refused on a push). With REFRESH_TOKEN, POST /token with the OAuth2 form
grant_type=refresh_token&refresh_token=REFRESH_TOKEN&service=...&scope=... (what Docker does with
an identitytoken) also gets a token. Writes a line per token request to stdout.
"""
import base64, json, sys, time, uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlparse, parse_qs
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

port, key_path, cert_path, issuer = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
required = sys.argv[5] if len(sys.argv) > 5 else None
refresh = sys.argv[6] if len(sys.argv) > 6 else None
key = serialization.load_pem_private_key(open(key_path, "rb").read(), password=None)
cert = x509.load_pem_x509_certificate(open(cert_path, "rb").read())
x5c = base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_POST(self):
        url = urlparse(self.path)
        form = parse_qs(self.rfile.read(int(self.headers.get("Content-Length", "0"))).decode())
        if url.path != "/token" or not refresh or form.get("grant_type") != ["refresh_token"] \
                or form.get("refresh_token") != [refresh]:
            self.send_response(401)
            self.end_headers()
            return
        self.issue(form, "refresh")

    def do_GET(self):
        url = urlparse(self.path)
        q = parse_qs(url.query)
        if url.path != "/token":
            self.send_error(404)
            return
        if required:
            auth = self.headers.get("Authorization", "")
            if auth != "Basic " + base64.b64encode(required.encode()).decode():
                self.send_response(401)
                self.end_headers()
                return
        self.issue(q, self.headers.get("Authorization", "anonymous").split(" ")[0])

    def issue(self, q, how):
        access = []
        for scope in q.get("scope", []):
            parts = scope.split(":")
            if len(parts) == 3:
                access.append({"type": parts[0], "name": parts[1], "actions": parts[2].split(",")})
        now = int(time.time())
        claims = {"iss": issuer, "sub": "gvmc-test", "aud": q.get("service", [""])[0], "exp": now + 600,
                  "nbf": now - 10, "iat": now, "jti": str(uuid.uuid4()), "access": access}
        header = {"typ": "JWT", "alg": "RS256", "x5c": [x5c]}
        signing_input = b64(json.dumps(header).encode()) + "." + b64(json.dumps(claims).encode())
        signature = key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        body = json.dumps({"token": signing_input + "." + b64(signature), "expires_in": 600}).encode()
        print("token", how, " ".join(q.get("scope", [""])), flush=True)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
