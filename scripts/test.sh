#!/usr/bin/env bash
# Checks that the sources follow .clang-format, then builds and runs the whole test suite in
# each configuration CI checks:
#   gcc-release   g++ 12, optimised (benchmarks are built here too)
#   clang-asan    clang++-16, AddressSanitizer + UndefinedBehaviorSanitizer
#   gcc-asan-O0   g++ 12 at -O0 with AddressSanitizer + UBSan (where g++ emits no tail calls)
#   gcc-tsan      g++ 12 with ThreadSanitizer
#   clang-fuzz    clang++-16, libFuzzer + ASan + UBSan; builds fuzz/fuzz_stream_reader,
#                 fuzz/fuzz_tls_server and fuzz/fuzz_resp and runs each from its seed corpus for a
#                 fixed number of inputs with a fixed seed
# Each of the others runs its tests once per I/O backend (ASYNCIO_SELECTOR): gcc-release and
# clang-asan on all four (epoll, poll, select, io_uring); gcc-asan-O0 and gcc-tsan on epoll and
# io_uring, since poll and select share all of the loop's code with epoll but the selector
# class, which every run tests directly. The package tests (building a program against the
# installed library) run in the first pass only: they do not depend on the backend. Pass
# configuration names to run only those. Warnings are errors in every one.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/deps.sh"
configs=("$@")
[ ${#configs[@]} -eq 0 ] && configs=(gcc-release clang-asan gcc-asan-O0 gcc-tsan clang-fuzz)
jobs=$(nproc)
# The layout (clang-format-16, .clang-format): the tree must be formatted already.
echo "=== format ==="
(cd "$root" && find include src tests bench fuzz examples -name '*.cpp' -o -name '*.hpp' | sort |
   xargs clang-format-16 --dry-run --Werror)
fuzz_runs=100000  # 1 to 2 minutes on 2 cores for the stream reader, 20 s for TLS, 15 s for RESP
for config in "${configs[@]}"; do
  case $config in
    gcc-release) args=(-DCMAKE_CXX_COMPILER=g++ -DCMAKE_BUILD_TYPE=Release) ;;
    clang-asan) args=(-DCMAKE_CXX_COMPILER=clang++-16 -DCMAKE_BUILD_TYPE=RelWithDebInfo
                      -DASYNCIO_SANITIZE=address,undefined -DASYNCIO_BUILD_BENCHMARKS=OFF) ;;
    gcc-asan-O0) args=(-DCMAKE_CXX_COMPILER=g++ -DCMAKE_BUILD_TYPE=Debug -DASYNCIO_SANITIZE=address,undefined
                       -DASYNCIO_BUILD_BENCHMARKS=OFF) ;;
    gcc-tsan) args=(-DCMAKE_CXX_COMPILER=g++ -DCMAKE_BUILD_TYPE=RelWithDebInfo -DASYNCIO_SANITIZE=thread
                    -DASYNCIO_BUILD_BENCHMARKS=OFF) ;;
    clang-fuzz) args=(-DCMAKE_CXX_COMPILER=clang++-16 -DCMAKE_BUILD_TYPE=RelWithDebInfo
                      -DASYNCIO_SANITIZE=address,undefined -DASYNCIO_BUILD_FUZZERS=ON -DASYNCIO_BUILD_TESTS=OFF
                      -DASYNCIO_BUILD_EXAMPLES=OFF -DASYNCIO_BUILD_BENCHMARKS=OFF) ;;
    *) echo "unknown configuration: $config" >&2; exit 2 ;;
  esac
  build="$root/build/$config"
  echo "=== $config ==="
  if [ "$config" = clang-fuzz ]; then
    cmake -S "$root" -B "$build" -G Ninja -DASYNCIO_WERROR=ON "${args[@]}" > /dev/null
    cmake --build "$build" -j "$jobs" --target fuzz_stream_reader fuzz_tls_server fuzz_resp
    for fuzzer in stream_reader tls_server resp; do
      max_len=1024
      [ "$fuzzer" = tls_server ] && max_len=2048  # a ClientHello with its extensions is ~500 bytes
      # New inputs go to a fresh scratch corpus, so every run starts from the committed seeds alone.
      rm -rf "$build/fuzz-corpus-$fuzzer" && mkdir -p "$build/fuzz-corpus-$fuzzer"
      if ! "$build/fuzz/fuzz_$fuzzer" -runs=$fuzz_runs -seed=1 -max_len=$max_len -timeout=10 \
           -artifact_prefix="$build/" "$build/fuzz-corpus-$fuzzer" "$root/fuzz/corpus/$fuzzer" 2> "$build/fuzz-$fuzzer.log"; then
        tail -n 60 "$build/fuzz-$fuzzer.log"
        echo "fuzz_$fuzzer failed: the input is in $build/ (crash-* or timeout-*), the log in $build/fuzz-$fuzzer.log" >&2
        exit 1
      fi
      echo "fuzz_$fuzzer: $(grep '^Done' "$build/fuzz-$fuzzer.log")"
    done
    continue
  fi
  cmake -S "$root" -B "$build" -G Ninja -DASYNCIO_WERROR=ON -DASYNCIO_BUILD_TESTS=ON "${args[@]}" > /dev/null
  cmake --build "$build" -j "$jobs"
  # The tests once per backend.
  backends=(epoll io_uring)
  case $config in gcc-release | clang-asan) backends=(epoll io_uring poll select) ;; esac
  skip=()
  for backend in "${backends[@]}"; do
    echo "--- $config, ASYNCIO_SELECTOR=$backend"
    (cd "$build" && ASYNCIO_SELECTOR=$backend ctest -j "$jobs" --output-on-failure --timeout 300 "${skip[@]}")
    skip=(-E '^package\.')
  done
done
