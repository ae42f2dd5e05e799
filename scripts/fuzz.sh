#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz (clang, -fsanitize=fuzzer,address,undefined, in
# ./build-fuzz) and runs each for SECONDS (default 60), starting from its saved corpus
# tests/fuzz/corpus/<target>/. Then merges what was found into that corpus, minimized with
# libFuzzer's -merge=1 (the coverage-preserving minimum of old and new inputs), unless --no-merge
# is given. Exits 1 if any target found a crash, a leak, an out-of-memory or a broken invariant;
# the input is kept as build-fuzz/artifacts/<target>-<kind>-<sha1> and the command that reproduces
# it is printed. More: docs/testing.md.
#
#   scripts/fuzz.sh [--no-merge] [SECONDS] [TARGET...]   explore: a random seed, SECONDS each
#   scripts/fuzz.sh --ci [TARGET...]                      as scripts/test runs it: no merge, the
#                      fixed seed PUPPY_FUZZ_SEED (1) and PUPPY_FUZZ_RUNS (100000) executions per
#                      target (capped at 120 s), so a commit's CI result does not depend on luck
set -euo pipefail
cd "$(dirname "$0")/.."

merge=1
budget=()  # libFuzzer options that bound a run besides its time
if [ "${1:-}" = --ci ]; then
  merge=0
  shift
  seconds=120
  budget=(-seed="${PUPPY_FUZZ_SEED:-1}" -runs="${PUPPY_FUZZ_RUNS:-100000}")
else
  if [ "${1:-}" = --no-merge ]; then
    merge=0
    shift
  fi
  seconds=${1:-60}
  [ $# -gt 0 ] && shift
fi
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
  echo "fuzz: $t for ${seconds}s ${budget[*]-}"
  status=0
  "$build_dir/tests/fuzz/fuzz_$t" -max_total_time="$seconds" ${budget[@]+"${budget[@]}"} \
    -max_len=4096 -timeout=10 \
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
    for f in "$build_dir/artifacts/$t"-*-*; do echo "  $build_dir/tests/fuzz/fuzz_$t $f"; done
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
