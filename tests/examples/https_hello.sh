#!/usr/bin/env bash
# CTest example.https_hello: makes a certificate for localhost with the openssl tool, runs
# example_https_hello with it on a free loopback port, and fetches two pages over one connection
# with curl --cacert (TLS verified, ALPN http/1.1, keep-alive); then example_tls_echo_client
# against openssl s_server with the same certificate, and refused against a name the
# certificate does not carry; SIGTERM must stop the server with exit status 0.
#   https_hello.sh PATH/TO/example_https_hello PATH/TO/example_tls_echo_client
set -euo pipefail
source "$(dirname "$0")/background_server.sh"
require curl openssl timeout

certs=$(mktemp -d)
trap '[ -n "$server_pid" ] && kill -KILL "$server_pid" 2>/dev/null; rm -f "$server_out"; rm -rf "$certs"' EXIT
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=localhost \
  -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" -keyout "$certs/key.pem" -out "$certs/cert.pem" 2> /dev/null

start_server "$1" "$certs/cert.pem" "$certs/key.pem" 0 --seconds 60
fetch() { timeout 10 curl --noproxy '*' -sv --cacert "$certs/cert.pem" --resolve "localhost:$port:127.0.0.1" "$@" 2>&1; }
out=$(fetch "https://localhost:$port/" "https://localhost:$port/again") || fail "curl failed: $out"
grep -q "SSL certificate verify ok" <<< "$out" || fail "curl did not verify the certificate: $out"
grep -q "ALPN: server accepted http/1.1\|ALPN, server accepted to use http/1.1" <<< "$out" || fail "no ALPN http/1.1: $out"
grep -q "Re-using existing connection" <<< "$out" || fail "curl did not reuse the connection: $out"
[ "$(grep -c '^Hello, world!$' <<< "$out")" -eq 2 ] || fail "expected two 'Hello, world!': $out"
out=$(timeout 10 curl --noproxy '*' -sv "https://127.0.0.1:$port/" 2>&1) && fail "curl trusted an unknown CA: $out"
stop_server

# The client against openssl s_server, which prints what it receives and sends its stdin back.
s_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
s_out=$certs/s_server.out
(echo "hello from s_server"; sleep 3) | timeout 20 openssl s_server -accept "127.0.0.1:$s_port" \
  -cert "$certs/cert.pem" -key "$certs/key.pem" -naccept 2 > "$s_out" 2>&1 &
for _ in $(seq 100); do grep -q ACCEPT "$s_out" && break; sleep 0.1; done
out=$(timeout 10 "$2" localhost "$s_port" "ping over TLS" --cafile "$certs/cert.pem" 2>&1) || fail "tls_echo_client failed: $out"
grep -q "^Connected: TLSv1.3" <<< "$out" || fail "no TLS 1.3 session: $out"
grep -q "^Received: 'hello from s_server" <<< "$out" || fail "no reply: $out"
grep -q "ping over TLS" "$s_out" || fail "s_server did not get the message: $(cat "$s_out")"
out=$(timeout 10 "$2" 127.0.0.1 "$s_port" x --cafile "$certs/cert.pem" --servername wrong.example 2>&1) &&
  fail "a wrong name was accepted: $out"
grep -q "Hostname mismatch" <<< "$out" || fail "no host name error: $out"
echo "https_hello ok"
