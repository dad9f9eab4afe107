#!/usr/bin/env bash
# CTest example.echo_protocol: example_echo_protocol and example_echo_buffered (--once, on a free
# loopback port) against example_echo_client and nc: the reply must be the message, the server
# must print what it did, then exit by itself with status 0.
#   echo_protocol.sh PATH/TO/example_echo_protocol PATH/TO/example_echo_buffered PATH/TO/example_echo_client
set -euo pipefail
source "$(dirname "$0")/background_server.sh"
require nc timeout
protocol_server=$1 buffered_server=$2 client=$3

start_server "$protocol_server" 0 --once
out=$(timeout 10 "$client" "$port" 'Hello World!') || fail "echo_client failed: $out"
grep -qx "Received: 'Hello World!'" <<< "$out" || fail "echo_client got no echo: $out"
wait_server_exit
grep -q "^Connection from 127\.0\.0\.1:[0-9]*$" "$server_out" || fail "the server printed no connection"
grep -qx "Data received: 'Hello World!'" "$server_out" || fail "the server printed no data"
grep -qx "Close the client socket" "$server_out" || fail "the server did not close"

start_server "$buffered_server" 0 --once
payload=$(head -c 300000 /dev/zero | tr '\0' 'x')
out=$(printf '%s' "$payload" | timeout 10 nc -N 127.0.0.1 "$port") || fail "nc failed"
[ "$out" = "$payload" ] || fail "nc got ${#out} bytes back, not ${#payload}"
wait_server_exit
grep -qx "Echoed 300000 bytes" "$server_out" || fail "the server did not echo every byte"
echo "echo_protocol ok"
