#!/usr/bin/env bash
# Builds and runs the consumer program against the library one of three ways:
#   run.sh subdirectory SOURCE_DIR WORK_DIR CXX "FLAGS"
#   run.sh find_package BUILD_DIR   WORK_DIR CXX "FLAGS"   (installs BUILD_DIR into WORK_DIR/prefix)
#   run.sh pkg_config   BUILD_DIR   WORK_DIR CXX "FLAGS"
set -euo pipefail
mode=$1 tree=$2 work=$3 cxx=$4 flags=${5:-}
here=$(cd "$(dirname "$0")" && pwd)
rm -rf "$work" && mkdir -p "$work"
install_prefix() {
  cmake --install "$tree" --prefix "$work/prefix" > "$work/install.log"
}
case $mode in
  subdirectory)
    cmake -S "$here/consumer" -B "$work/build" -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_CXX_FLAGS="$flags" \
      -DCMAKE_EXE_LINKER_FLAGS="$flags" -DASYNCIO_SOURCE_DIR="$tree" > "$work/configure.log"
    cmake --build "$work/build" --target consumer --parallel "$(nproc)" > "$work/build.log"
    "$work/build/consumer" ;;
  find_package)
    install_prefix
    cmake -S "$here/consumer" -B "$work/build" -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_CXX_FLAGS="$flags" \
      -DCMAKE_EXE_LINKER_FLAGS="$flags" -DCMAKE_PREFIX_PATH="$work/prefix" > "$work/configure.log"
    cmake --build "$work/build" > "$work/build.log"
    "$work/build/consumer" ;;
  pkg_config)
    install_prefix
    libdir=$(ls -d "$work"/prefix/lib*/pkgconfig | head -n 1)
    # shellcheck disable=SC2046,SC2086
    "$cxx" $flags "$here/consumer/main.cpp" -o "$work/consumer" \
      $(PKG_CONFIG_PATH="$libdir" pkg-config --cflags --libs asyncio)
    "$work/consumer" ;;
  *) echo "unknown mode $mode" >&2; exit 2 ;;
esac
