#!/usr/bin/env bash
# Configures (once) and builds puppy-proxy and its tests in ./build. Extra arguments go to cmake's
# configure step, e.g. scripts/build.sh -DPUPPY_SANITIZE=address,undefined
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${PUPPY_BUILD_DIR:-build}
if [ ! -f "$build_dir/CMakeCache.txt" ] || [ $# -gt 0 ]; then
  cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
fi
cmake --build "$build_dir" -j"$(nproc)"
