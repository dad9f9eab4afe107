#!/usr/bin/env bash
# CTest example.graceful_shutdown: example_graceful_shutdown on a free loopback port, with nc as
# its clients. SIGTERM comes while a request is in flight (the server works 2 s on each): a new
# connection must then be refused, the request in flight must still get its reply, and the
# server must exit with status 0. Then SIGINT with a deadline shorter than the work: the request
# in flight must be aborted (no reply), and the server must exit with status 0 at the deadline.
#   graceful_shutdown.sh PATH/TO/example_graceful_shutdown
set -euo pipefail
source "$(dirname "$0")/background_server.sh"
require nc timeout
server=$1

# send_request: one request on a connection of its own (nc shuts down its sending side after
# it), in the background; the reply is read from fd 3. Returns once the server has the request.
send_request() {
  exec 3< <(printf 'request\n' | timeout 30 nc -N 127.0.0.1 "$port")
  wait_server_line "received 'request"
}

start_server "$server" 0 --work 2 --grace 10
send_request
kill -TERM "$server_pid"
wait_server_line '^SIGTERM: stopped accepting; waiting up to 10 s for 1 connection(s)$'
if timeout 5 nc -z 127.0.0.1 "$port"; then
  fail "a new connection was accepted after SIGTERM"
fi
reply=$(cat <&3)
exec 3<&-
[ "$reply" = request ] || fail "the request in flight got '$reply' back instead of its reply"
wait_server_exit
grep -q '^all connections finished$' "$server_out" || fail "the server did not wait for its connection"

start_server "$server" 0 --work 30 --grace 0.5
send_request
kill -INT "$server_pid"
wait_server_exit
reply=$(cat <&3)
exec 3<&-
[ -z "$reply" ] || fail "the request in flight got '$reply' after the deadline"
grep -q '^deadline passed: 1 connection(s) aborted$' "$server_out" || fail "no connection was aborted"
echo "graceful_shutdown ok"
