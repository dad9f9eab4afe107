#!/usr/bin/env bash
# Builds the examples (release) and runs them: the seed programs of Python's asyncio in C++ and
# the subprocess examples, then the echo server with the echo client, the HTTP hello server with
# curl, the HTTPS hello server with curl (a certificate made with openssl), and the graceful
# shutdown server, sent SIGTERM while the echo client waits for its
# reply; each server on a free loopback port. Extra arguments (e.g. --fast) are passed to every
# example but the network ones.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/deps.sh"
build="$root/build/demo"
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DASYNCIO_BUILD_TESTS=OFF \
  -DASYNCIO_BUILD_BENCHMARKS=OFF > /dev/null
cmake --build "$build" -j "$(nproc)" > /dev/null
for example in factorial done_callback run_until_complete gather call_soon generators async_generator to_thread \
               producer_consumer worker_pool subprocess; do
  echo "=== examples/$example.cpp ==="
  "$build/examples/example_$example" "$@"
  echo
done

source "$root/tests/examples/background_server.sh"  # start_server, wait_server_line, wait_server_exit, stop_server

echo "=== examples/echo_server.cpp --once, and examples/echo_client.cpp ==="
start_server "$build/examples/example_echo_server" 0 --once
timeout 10 "$build/examples/example_echo_client" "$port" "Hello World!" | sed 's/^/client: /'
wait_server_exit
sed 's/^/server: /' "$server_out"
echo

echo "=== examples/http_hello.cpp, and curl with two URLs (one connection) ==="
start_server "$build/examples/example_http_hello" 0 --seconds 10
timeout 10 curl --noproxy '*' -s "http://127.0.0.1:$port/" "http://127.0.0.1:$port/again"
stop_server
echo

echo "=== examples/https_hello.cpp with a certificate made here, and curl --cacert ==="
certs=$(mktemp -d)
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=localhost \
  -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" -keyout "$certs/key.pem" -out "$certs/cert.pem" 2> /dev/null
start_server "$build/examples/example_https_hello" "$certs/cert.pem" "$certs/key.pem" 0 --seconds 10
timeout 10 curl --noproxy '*' -s --cacert "$certs/cert.pem" --resolve "localhost:$port:127.0.0.1" \
  "https://localhost:$port/" "https://localhost:$port/again"
stop_server
rm -rf "$certs"
echo

echo "=== examples/graceful_shutdown.cpp: SIGTERM while examples/echo_client.cpp waits for its reply ==="
start_server "$build/examples/example_graceful_shutdown" 0 --work 1
exec 3< <(timeout 10 "$build/examples/example_echo_client" "$port" "Hello World!" 2>&1)
wait_server_line "received 'Hello World!'"
kill -TERM "$server_pid"
echo "(SIGTERM sent to the server)"
sed 's/^/client: /' <&3
exec 3<&-
wait_server_exit
sed 's/^/server: /' "$server_out"
