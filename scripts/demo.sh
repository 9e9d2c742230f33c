#!/usr/bin/env bash
# make demo: nfd in a throw-away namespace sandbox. A client, a firewall
# running nfd on deploy/examples/demo.nft, and a server, joined by veth;
# a little traffic through all five hooks; live per-hook counters. Nothing
# touches the host's own firewall or routes. Ends after DEMO_SECONDS
# (default 40) or on Ctrl-C, and cleans up either way.
set -euo pipefail
export GOTOOLCHAIN=${GOTOOLCHAIN:-go1.26.10} # see Makefile
cd "$(dirname "$0")/.."
if [ "$(id -u)" != 0 ]; then
	echo "make demo needs root (it creates network namespaces): sudo make demo" >&2
	exit 1
fi
NFD=${NFD:-bin/nfd}
RULES=${RULES:-deploy/examples/demo.nft}
SECS=${DEMO_SECONDS:-40}
P=nfd-demo-$$
C=$P-cli F=$P-fw S=$P-srv
SOCK=/tmp/$P.sock
LOG=/tmp/$P.log
TMP=$(mktemp -d /tmp/$P.XXXX)
pids=()
cleanup() {
	for p in "${pids[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	for n in "$C" "$F" "$S"; do ip netns del "$n" 2>/dev/null || true; done
	rm -rf "$SOCK" "$TMP"
	echo "demo: cleaned up (namespaces removed; nfd's log is in $LOG)"
}
trap cleanup EXIT INT TERM

for n in "$C" "$F" "$S"; do ip netns add "$n"; ip -n "$n" link set lo up; done
ip link add c0 netns "$C" type veth peer name f0 netns "$F"
ip link add f1 netns "$F" type veth peer name s0 netns "$S"
for x in "$C c0" "$F f0" "$F f1" "$S s0"; do set -- $x; ip netns exec "$1" sysctl -qw "net.ipv6.conf.$2.accept_dad=0"; done
ip -n "$C" addr add 10.10.1.2/24 dev c0; ip -n "$F" addr add 10.10.1.1/24 dev f0
ip -n "$F" addr add 10.10.2.1/24 dev f1; ip -n "$S" addr add 10.10.2.2/24 dev s0
for x in "$C c0" "$F f0" "$F f1" "$S s0"; do set -- $x; ip -n "$1" link set "$2" up; done
ip netns exec "$F" sysctl -qw net.ipv4.ip_forward=1
ip -n "$C" route add default via 10.10.1.1
ip -n "$S" route add default via 10.10.2.1

"$NFD" check "$RULES"
ip netns exec "$F" "$NFD" run --rules "$RULES" --socket "$SOCK" --metrics-addr "" --queues 1 >"$LOG" 2>&1 &
pids+=($!)
for _ in $(seq 50); do ip netns exec "$F" "$NFD" status --socket "$SOCK" >/dev/null 2>&1 && break; sleep 0.1; done
ip netns exec "$F" "$NFD" status --socket "$SOCK" | head -8

# Servers: web on 80 and 23 in the server namespace, ssh-like on 22 on the firewall.
ip netns exec "$S" sh -c 'while :; do echo hello | nc -l -p 80 -q 1 >/dev/null 2>&1; done' & pids+=($!)
ip netns exec "$S" sh -c 'while :; do echo telnet | nc -l -p 23 -q 1 >/dev/null 2>&1; done' & pids+=($!)
ip netns exec "$F" sh -c 'while :; do echo ssh | nc -l -p 22 -q 1 >/dev/null 2>&1; done' & pids+=($!)
# TLS on 443 (self-signed): nfd reads the name in each ClientHello.
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=www.example -keyout "$TMP/key.pem" -out "$TMP/cert.pem" >/dev/null 2>&1
# One thread per connection: a connection nfd resets stays half-open on the
# server's side (as with nft's own reject), and must not block the next.
cat > "$TMP/tls.py" <<'PY'
import http.server, ssl, sys
class Hello(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.end_headers(); self.wfile.write(b"hello over TLS\n")
    def log_message(self, *a): pass
srv = http.server.ThreadingHTTPServer(("0.0.0.0", 443), Hello)
srv.daemon_threads = True
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(sys.argv[1] + "/cert.pem", sys.argv[1] + "/key.pem")
srv.socket = ctx.wrap_socket(srv.socket, server_side=True, do_handshake_on_connect=False)
srv.serve_forever()
PY
ip netns exec "$S" python3 "$TMP/tls.py" "$TMP" >/dev/null 2>&1 & pids+=($!)
tls() { ip netns exec "$C" curl -sk --max-time 2 --resolve "$1:443:10.10.2.2" "https://$1/"; }

try() { if "$@" >/dev/null 2>&1; then echo ok; else echo "refused/dropped"; fi; }
end=$((SECONDS + SECS))
while [ $SECONDS -lt $end ]; do
	clear 2>/dev/null || true
	echo "nfd demo — $((end - SECONDS))s left (Ctrl-C to stop)   rules: $RULES"
	echo
	echo "client -> server:80 (forward, accepted):   $(try ip netns exec "$C" nc -w 1 10.10.2.2 80 </dev/null)"
	echo "client -> server:23 (forward, reset):      $(try ip netns exec "$C" nc -w 1 10.10.2.2 23 </dev/null)"
	echo "client -> server:8080 (forward, dropped):  $(try ip netns exec "$C" nc -w 1 10.10.2.2 8080 </dev/null)"
	echo "client -> https://www.example (forward, name allowed by nfd): $(try tls www.example)"
	echo "client -> https://ads.example (forward, name reset by nfd):   $(try tls ads.example)"
	echo "client -> firewall:22 (input, accepted):   $(try ip netns exec "$C" nc -w 1 10.10.1.1 22 </dev/null)"
	echo "client -> firewall:25 (input, dropped):    $(try ip netns exec "$C" nc -w 1 10.10.1.1 25 </dev/null)"
	echo "ping client -> server (forward):           $(try ip netns exec "$C" ping -c1 -W1 10.10.2.2)"
	echo "ping firewall -> server (output):          $(try ip netns exec "$F" ping -c1 -W1 10.10.2.2)"
	echo
	ip netns exec "$F" "$NFD" status --socket "$SOCK" | sed -n '/^hooks:/,$p'
	sleep 2
done
