# Sourced by the network examples' tests and by scripts/demo.sh: start_server runs a server example in the background
# on a free port (it is given port 0 and prints "Serving on ...:PORT"), wait_server_line waits
# for a line of its output, stop_server and wait_server_exit end it, and an EXIT trap kills it
# if a test fails half-way. Only the process started here is ever signalled, by its PID.
server_pid=
server_out=$(mktemp)
trap '[ -n "$server_pid" ] && kill -KILL "$server_pid" 2>/dev/null; rm -f "$server_out"' EXIT

fail() {
  echo "FAIL: $*" >&2
  [ -s "$server_out" ] && sed 's/^/  server: /' "$server_out" >&2
  exit 1
}

# Every tool the test needs, or exit 77 (CTest's SKIP_RETURN_CODE).
require() {
  for tool in "$@"; do
    command -v "$tool" > /dev/null || { echo "SKIP: $tool is not installed" >&2; exit 77; }
  done
}

# start_server COMMAND ARGS...: runs it with its output in $server_out; sets server_pid and port.
start_server() {
  : > "$server_out"
  "$@" > "$server_out" 2>&1 &
  server_pid=$!
  port=
  for _ in $(seq 100); do  # 10 s at most
    port=$(sed -n 's|^Serving on [a-z:/]*127\.0\.0\.1:\([0-9]*\).*|\1|p' "$server_out")
    [ -n "$port" ] && return 0
    kill -0 "$server_pid" 2>/dev/null || fail "the server exited before serving"
    sleep 0.1
  done
  fail "the server printed no 'Serving on' line within 10 s"
}

# wait_server_line REGEX: waits up to 10 s for a line of the server's output matching REGEX
# (grep's basic syntax).
wait_server_line() {
  for _ in $(seq 100); do
    grep -q -- "$1" "$server_out" && return 0
    sleep 0.1
  done
  fail "the server printed no line matching '$1' within 10 s"
}

# wait_server_exit: waits up to 10 s for the server to exit by itself; fails unless it exits
# with status 0.
wait_server_exit() {
  for _ in $(seq 100); do
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -0 "$server_pid" 2>/dev/null && fail "the server did not exit within 10 s"
  local status=0
  wait "$server_pid" || status=$?
  server_pid=
  [ "$status" -eq 0 ] || fail "the server exited with status $status"
}

# stop_server: SIGTERM, then wait_server_exit.
stop_server() {
  kill -TERM "$server_pid"
  wait_server_exit
}
