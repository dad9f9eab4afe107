#!/usr/bin/env bash
# Builds the examples (release) and runs them: the seed programs of Python's asyncio in C++.
# Extra arguments (e.g. --fast) are passed to every example.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/deps.sh"
build="$root/build/demo"
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DASYNCIO_BUILD_TESTS=OFF \
  -DASYNCIO_BUILD_BENCHMARKS=OFF > /dev/null
cmake --build "$build" -j "$(nproc)" > /dev/null
for example in factorial done_callback run_until_complete gather call_soon generators async_generator to_thread; do
  echo "=== examples/$example.cpp ==="
  "$build/examples/example_$example" "$@"
  echo
done
