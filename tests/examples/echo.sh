#!/usr/bin/env bash
# CTest example.echo: example_echo_server (--once, on a free loopback port) with
# example_echo_client, then with nc; each time the reply must be the message and the server must
# print it, then exit by itself with status 0.
#   echo.sh PATH/TO/example_echo_server PATH/TO/example_echo_client
set -euo pipefail
source "$(dirname "$0")/background_server.sh"
require nc timeout
server=$1 client=$2

start_server "$server" 0 --once
out=$(timeout 10 "$client" "$port" 'Hello World!') || fail "echo_client failed: $out"
grep -qx "Received: 'Hello World!'" <<< "$out" || fail "echo_client got no echo: $out"
wait_server_exit
grep -q "^Received 'Hello World!' from 127\.0\.0\.1:[0-9]*$" "$server_out" || fail "the server printed no message"

start_server "$server" 0 --once
out=$(printf 'hello from nc\n' | timeout 10 nc -N 127.0.0.1 "$port") || fail "nc failed: $out"
[ "$out" = "hello from nc" ] || fail "nc got '$out' back"
wait_server_exit
grep -q "^Received 'hello from nc\\\\n' from 127\.0\.0\.1:" "$server_out" || fail "the server printed no message"
echo "echo ok"
