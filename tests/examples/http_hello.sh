#!/usr/bin/env bash
# CTest example.http_hello: drives example_http_hello with real clients on a free loopback port.
# curl with two URLs must reuse one connection (keep-alive), also with a POST body in each
# request; "Connection: close" must close it; an HTTP/1.0 request is answered and closed; a
# malformed request gets 400; SIGTERM must stop the server with exit status 0.
#   http_hello.sh PATH/TO/example_http_hello
set -euo pipefail
source "$(dirname "$0")/background_server.sh"
require curl nc timeout

start_server "$1" 0 --seconds 60
url=http://127.0.0.1:$port
fetch() { timeout 10 curl --noproxy '*' -sv "$@" 2>&1; }

out=$(fetch "$url/" "$url/again") || fail "curl failed: $out"
grep -q "Re-using existing connection" <<< "$out" || fail "curl did not reuse the connection: $out"
[ "$(grep -c '^Hello, world!$' <<< "$out")" -eq 2 ] || fail "expected two 'Hello, world!': $out"

out=$(fetch --data-binary 'a=1&b=2' "$url/form" "$url/form") || fail "curl POST failed: $out"
grep -q "Re-using existing connection" <<< "$out" || fail "the POST bodies broke keep-alive: $out"
[ "$(grep -c '^Hello, world!$' <<< "$out")" -eq 2 ] || fail "expected two 'Hello, world!' for POST: $out"

out=$(fetch -H 'Connection: close' "$url/" "$url/again") || fail "curl failed: $out"
grep -qi '^< Connection: close' <<< "$out" || fail "no 'Connection: close' in the answer: $out"
grep -q "Re-using existing connection" <<< "$out" && fail "the connection was reused after 'Connection: close': $out"
[ "$(grep -c '^Hello, world!$' <<< "$out")" -eq 2 ] || fail "expected two 'Hello, world!': $out"

# nc returns when the server closes the connection, which it must do after an HTTP/1.0 answer.
out=$(printf 'GET / HTTP/1.0\r\nHost: x\r\n\r\n' | timeout 10 nc 127.0.0.1 "$port") ||
  fail "HTTP/1.0: the server did not close the connection: $out"
grep -q '^Hello, world!$' <<< "$out" || fail "HTTP/1.0: no answer: $out"

out=$(printf 'NONSENSE\r\n\r\n' | timeout 10 nc 127.0.0.1 "$port") || fail "malformed request: no close: $out"
grep -q '^HTTP/1.1 400 Bad Request' <<< "$out" || fail "malformed request: no 400: $out"

stop_server
echo "http_hello ok"
