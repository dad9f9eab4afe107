#!/usr/bin/env bash
# Installs what building and testing need, when it is missing (Debian 12): cmake, ninja, g++,
# clang-16 and its runtime libraries (libclang-rt-16-dev: the sanitizers and libFuzzer),
# clang-format-16 (the layout check),
# GoogleTest, Google Benchmark, pkg-config, OpenSSL (libssl-dev for TLS; the openssl tool, which
# makes the tests' certificates and is their TLS peer), curl and netcat-openbsd (the clients
# that the network examples' tests drive them with), and redis-server and redis-tools (the real
# Redis server and redis-cli that example_resp_server's test compares it with, and
# redis-benchmark). Extra package names may be passed.
set -euo pipefail
need=(cmake ninja-build g++ clang-16 libclang-rt-16-dev clang-format-16 libgtest-dev libgmock-dev libbenchmark-dev pkg-config
      libssl-dev openssl curl netcat-openbsd libdw-dev liburing-dev redis-server redis-tools "$@")
missing=()
for pkg in "${need[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing: ${missing[*]}"
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" > /dev/null
