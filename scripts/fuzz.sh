#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz (clang, -fsanitize=fuzzer,address,undefined, in
# ./build-fuzz) and runs each for SECONDS (default 60), starting from its saved corpus
# tests/fuzz/corpus/<target>/. Then merges what was found into that corpus, minimized with
# libFuzzer's -merge=1 (the coverage-preserving minimum of old and new inputs), unless --no-merge
# is given (as scripts/test does: CI leaves the tree alone). Exits 1 if any target found a crash
# or broke an invariant; the input is kept as build-fuzz/artifacts/<target>-crash-* and the
# command that reproduces it is printed. More: docs/testing.md.
#
#   scripts/fuzz.sh [--no-merge] [SECONDS] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/.."

merge=1
if [ "${1:-}" = --no-merge ]; then
  merge=0
  shift
fi
seconds=${1:-60}
[ $# -gt 0 ] && shift
targets=("$@")
[ ${#targets[@]} -gt 0 ] ||
  targets=(request_framer reply_scanner memcached_response inline_split memcached_translate)

build_dir=build-fuzz
if [ ! -f "$build_dir/CMakeCache.txt" ]; then
  CC=clang CXX=clang++ cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DPUPPY_FUZZ=ON -DPUPPY_SANITIZE=address,undefined \
    "-DCMAKE_CXX_FLAGS=-fsanitize=fuzzer-no-link -fno-sanitize-recover=all" >/dev/null
fi
cmake --build "$build_dir" -j"$(nproc)" --target fuzz_replay "${targets[@]/#/fuzz_}"

mkdir -p "$build_dir/artifacts"
work=$(mktemp -d /tmp/puppy-fuzz-XXXXXX)
trap 'rm -rf "$work"' EXIT
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:halt_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
failed=()
for t in "${targets[@]}"; do
  corpus=tests/fuzz/corpus/$t
  mkdir -p "$corpus" "$work/$t-new"
  echo "fuzz: $t for ${seconds}s"
  status=0
  "$build_dir/tests/fuzz/fuzz_$t" -max_total_time="$seconds" -max_len=4096 -timeout=10 \
    -dict=tests/fuzz/resp.dict -print_final_stats=1 \
    -artifact_prefix="$build_dir/artifacts/$t-" "$work/$t-new" "$corpus" \
    >"$work/$t.log" 2>&1 || status=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/$t.log")
  echo "fuzz: $t: ${execs:-?} executions, $(ls "$work/$t-new" | wc -l) new inputs, exit $status"
  if [ "$status" -ne 0 ]; then
    failed+=("$t")
    grep -E 'invariant failed|ERROR:|runtime error:|SUMMARY|Test unit written' "$work/$t.log" |
      head -20 || true
    cp "$work/$t.log" "$build_dir/artifacts/$t.log"
    echo "fuzz: full log $build_dir/artifacts/$t.log; reproduce with"
    echo "  $build_dir/tests/fuzz/fuzz_$t $build_dir/artifacts/$t-crash-*"
    continue
  fi
  if [ "$merge" = 1 ]; then
    mkdir -p "$work/$t-merged"
    "$build_dir/tests/fuzz/fuzz_$t" -merge=1 -max_len=4096 -timeout=10 \
      "$work/$t-merged" "$corpus" "$work/$t-new" >"$work/$t-merge.log" 2>&1
    if [ -n "$(ls "$work/$t-merged")" ]; then
      rm -f "$corpus"/*
      cp "$work/$t-merged"/* "$corpus"/
    fi
    echo "fuzz: $t: saved corpus now $(ls "$corpus" | wc -l) files"
  fi
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: FAILED: ${failed[*]}" >&2
  exit 1
fi
