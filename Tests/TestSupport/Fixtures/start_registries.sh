#!/bin/bash
# Starts the real parts the registry tests talk to, all on 127.0.0.1 with free ports:
#   plain      the CNCF distribution registry (Debian's docker-registry), no auth
#   basic      the same with htpasswd basic auth (user gvmc / password s3cret)
#   token      the same with `auth: token`, signed by token_server.py (anonymous pull/push)
#   tokenauth  `auth: token` whose token server wants basic auth (gvmc / s3cret) or, posted,
#              the refresh token gvmc-refresh (a docker config's identitytoken)
#   proxy      faulty_proxy.py in front of `plain`
# and pushes the fixture images (oci_fixtures.py) with skopeo. Writes WORKDIR/env (shell
# variables) when ready. Everything is killed when PARENT_PID exits (with SIGKILL: a test process
# may hand its children a mask that blocks SIGTERM, which Python servers then never see).
# usage: start_registries.sh WORKDIR PARENT_PID
set -euo pipefail
W=$1; PARENT=$2
# The servers outlive this script: they must not inherit the caller's descriptors (Foundation's
# Process watches a socket the child inherits to learn that the child exited).
for fd in /proc/$$/fd/*; do fd=${fd##*/}; [ "$fd" -gt 2 ] && eval "exec $fd>&-" 2>/dev/null || true; done
HERE=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$W"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

python3 "$HERE/oci_fixtures.py" "$W/layout" "$(command -v busybox)"

registry() {  # name port extra-yaml
    cat > "$W/$1.yml" <<YML
version: 0.1
log: {level: error}
storage: {filesystem: {rootdirectory: $W/$1-data}, delete: {enabled: true}}
http: {addr: 127.0.0.1:$2, secret: gvmc-test}
$3
YML
    docker-registry serve "$W/$1.yml" > "$W/$1.log" 2>&1 &
    PIDS+=($!)
}
PLAIN=$(free_port); BASIC=$(free_port); TOKEN=$(free_port); TOKSRV=$(free_port); PROXY=$(free_port)
TOKAUTH=$(free_port); TOKAUTHSRV=$(free_port)
htpasswd -Bbn gvmc s3cret > "$W/htpasswd"
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$W/token.key" -out "$W/token.crt" -days 2 -subj /CN=gvmc-token >/dev/null 2>&1
registry plain "$PLAIN" ""
registry basic "$BASIC" "auth: {htpasswd: {realm: gvmc-test, path: $W/htpasswd}}"
registry token "$TOKEN" "auth: {token: {realm: 'http://127.0.0.1:$TOKSRV/token', service: gvmc-registry, issuer: gvmc-issuer, rootcertbundle: $W/token.crt}}"
python3 "$HERE/token_server.py" "$TOKSRV" "$W/token.key" "$W/token.crt" gvmc-issuer > "$W/token-server.log" 2>&1 &
PIDS+=($!)
registry tokenauth "$TOKAUTH" "auth: {token: {realm: 'http://127.0.0.1:$TOKAUTHSRV/token', service: gvmc-registry, issuer: gvmc-issuer, rootcertbundle: $W/token.crt}}"
python3 "$HERE/token_server.py" "$TOKAUTHSRV" "$W/token.key" "$W/token.crt" gvmc-issuer gvmc:s3cret gvmc-refresh > "$W/tokenauth-server.log" 2>&1 &
PIDS+=($!)
python3 "$HERE/faulty_proxy.py" "$PROXY" "$PLAIN" "$W/proxy.log" > "$W/proxy.out" 2>&1 &
PIDS+=($!)
for port in $PLAIN $BASIC $TOKEN $TOKSRV $PROXY $TOKAUTH $TOKAUTHSRV; do
    for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done
done

push() { skopeo copy -q --dest-tls-verify=false "$@"; }
for tag in multi zstd user baduser; do push "oci:$W/layout:$tag" "docker://127.0.0.1:$PLAIN/test/$tag:v1"; done
push --multi-arch all "oci:$W/layout:multiarch" "docker://127.0.0.1:$PLAIN/test/multiarch:v1"
push --format v2s2 "oci:$W/layout:multi" "docker://127.0.0.1:$PLAIN/test/schema2:v1"
push --dest-creds gvmc:s3cret "oci:$W/layout:multi" "docker://127.0.0.1:$BASIC/test/multi:v1"
push "oci:$W/layout:multi" "docker://127.0.0.1:$TOKEN/test/multi:v1"
push --dest-creds gvmc:s3cret "oci:$W/layout:multi" "docker://127.0.0.1:$TOKAUTH/test/multi:v1"

cat > "$W/env.tmp" <<ENV
PLAIN=$PLAIN
BASIC=$BASIC
TOKEN=$TOKEN
PROXY=$PROXY
TOKAUTH=$TOKAUTH
ENV
mv "$W/env.tmp" "$W/env"
trap - EXIT
# Watchdog: the servers live as long as the test process.
( while kill -0 "$PARENT" 2>/dev/null; do sleep 1; done; for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done; rm -rf "$W" ) >/dev/null 2>&1 &
disown
