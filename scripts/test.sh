#!/usr/bin/env bash
# Builds and runs the whole test suite in each configuration CI checks:
#   gcc-release   g++ 12, optimised (benchmarks are built here too)
#   clang-asan    clang++-16, AddressSanitizer + UndefinedBehaviorSanitizer
#   gcc-asan-O0   g++ 12 at -O0 with AddressSanitizer + UBSan (where g++ emits no tail calls)
#   gcc-tsan      g++ 12 with ThreadSanitizer; builds everything, runs the tests that use threads
# Each runs its tests once per selector backend (ASYNCIO_SELECTOR=epoll, poll, select).
# Pass configuration names to run only those. Warnings are errors in every one.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/deps.sh"
configs=("$@")
[ ${#configs[@]} -eq 0 ] && configs=(gcc-release clang-asan gcc-asan-O0 gcc-tsan)
jobs=$(nproc)
for config in "${configs[@]}"; do
  filter=()
  case $config in
    gcc-release) args=(-DCMAKE_CXX_COMPILER=g++ -DCMAKE_BUILD_TYPE=Release) ;;
    clang-asan) args=(-DCMAKE_CXX_COMPILER=clang++-16 -DCMAKE_BUILD_TYPE=RelWithDebInfo
                      -DASYNCIO_SANITIZE=address,undefined -DASYNCIO_BUILD_BENCHMARKS=OFF) ;;
    gcc-asan-O0) args=(-DCMAKE_CXX_COMPILER=g++ -DCMAKE_BUILD_TYPE=Debug -DASYNCIO_SANITIZE=address,undefined
                       -DASYNCIO_BUILD_BENCHMARKS=OFF) ;;
    gcc-tsan) args=(-DCMAKE_CXX_COMPILER=g++ -DCMAKE_BUILD_TYPE=RelWithDebInfo -DASYNCIO_SANITIZE=thread
                    -DASYNCIO_BUILD_BENCHMARKS=OFF)
              filter=(-R '^(CallSoonThreadsafe|ConcurrentFuture|Executor|Threads)Test[.]|^Backends/SelectorTest[.]|^ServerTest[.]OpenConnectionResolvesNames$') ;;
    *) echo "unknown configuration: $config" >&2; exit 2 ;;
  esac
  build="$root/build/$config"
  echo "=== $config ==="
  cmake -S "$root" -B "$build" -G Ninja -DASYNCIO_WERROR=ON -DASYNCIO_BUILD_TESTS=ON "${args[@]}" > /dev/null
  cmake --build "$build" -j "$jobs"
  # The tests once per selector backend.
  for selector in epoll poll select; do
    echo "--- $config, ASYNCIO_SELECTOR=$selector"
    (cd "$build" && ASYNCIO_SELECTOR=$selector ctest -j "$jobs" --output-on-failure --timeout 300 "${filter[@]}")
  done
done
