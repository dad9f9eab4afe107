#!/usr/bin/env bash
# CTest example.sendfile_server: example_sendfile_server (--once, on a free loopback port) serves
# a 20 MB file of random bytes; curl's copy must be identical, and the server must say it sent
# every byte, then exit by itself with status 0.
#   sendfile_server.sh PATH/TO/example_sendfile_server
set -euo pipefail
source "$(dirname "$0")/background_server.sh"
require curl cmp timeout
dir=$(mktemp -d)
trap '[ -n "$server_pid" ] && kill -KILL "$server_pid" 2>/dev/null; rm -rf "$dir" "$server_out"' EXIT
head -c 20000000 /dev/urandom > "$dir/file"

start_server "$1" "$dir/file" 0 --once
timeout 30 curl --noproxy '*' -sf -o "$dir/copy" "http://127.0.0.1:$port/" || fail "curl failed"
cmp -s "$dir/file" "$dir/copy" || fail "the copy differs from the file"
wait_server_exit
grep -qx "Sent 20000000 bytes" "$server_out" || fail "the server did not report every byte sent"
echo "sendfile_server ok"
