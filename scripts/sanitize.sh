#!/usr/bin/env bash
# The sanitizer runs (docs/testing.md). Only what runs sanitized is built sanitized, in its own
# build dir: the proxy binary, and for ASan the in-process tests (unit tests, fuzz corpus replay).
# The integration, client and PGET tests are the ordinary build's, pointed at the sanitized proxy
# with PUPPY_TEST_PROXY_BINARY, so no test code is compiled twice.
#   scripts/sanitize.sh asan [CTEST ARGS...]  AddressSanitizer + UBSan (fatal), ./build-asan:
#                                             unit_tests, fuzz_replay and net_tests (the TLS
#                                             transport) sanitized, then every
#                                             other CTest test against the sanitized proxy
#   scripts/sanitize.sh tsan [CTEST ARGS...]  ThreadSanitizer, ./build-tsan: the proxy runs with
#                                             --threads 2; by default the integration, pget,
#                                             memcached and sentinel tests (PUPPY_TSAN_TESTS, a
#                                             ctest -R regex)
# Every sanitizer report is fatal (halt_on_error) and fails the test that provoked it: in a test
# binary through its exit code, in the proxy through the test support, which fails the test when
# the proxy's log holds a report (tests/integration/support/servers.cpp).
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-}
# -fno-sanitize-recover=all: UBSan stops at its first report instead of printing and going on.
flags=-fno-sanitize-recover=all
[ $# -gt 0 ] && shift
plain=${PUPPY_BUILD_DIR:-build}
case "$mode" in
  asan)
    dir=build-asan
    sanitize=address,undefined
    targets=(puppy-proxy unit_tests fuzz_replay net_tests)
    # gcc 12 with ASan reports -Wmaybe-uninitialized inside libstdc++'s <regex> and
    # std::function (an error under -Werror): known false positives of the instrumented build.
    flags="$flags -Wno-maybe-uninitialized"
    export ASAN_OPTIONS=${ASAN_OPTIONS:-halt_on_error=1:detect_leaks=1:check_initialization_order=1}
    export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
    ;;
  tsan)
    dir=build-tsan
    sanitize=thread
    targets=(puppy-proxy)
    # gcc 12 warns (-Wtsan, an error under -Werror) that TSan does not model
    # std::atomic_thread_fence, which Boost.Asio's handler completion (executor_op,
    # reactive_wait_op) uses: third-party code, and the warning is about TSan's coverage.
    flags="$flags -Wno-tsan"
    export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1}
    # One worker thread would leave nothing to race: give every test proxy two. Tests that set
    # PUPPY_TEST_PROXY_ARGS themselves (the *_pinned runs) keep theirs.
    export PUPPY_TEST_PROXY_ARGS=${PUPPY_TEST_PROXY_ARGS:---threads 2}
    # Without ctest arguments: the tests whose proxies run threads (the client and *_pinned runs
    # add little over integration/pget and cost minutes under TSan).
    [ $# -gt 0 ] || set -- -R "${PUPPY_TSAN_TESTS:-^(integration|pget|memcached|sentinel)\$}"
    ;;
  *)
    echo "usage: scripts/sanitize.sh asan|tsan [ctest args...]" >&2
    exit 2
    ;;
esac
[ -f "$plain/CMakeCache.txt" ] || ./scripts/build.sh  # the tests that drive the proxy
# Build type "Sanitize", flags -O1 -g1: a sanitizer's usual optimisation, and line tables only
# (reports still name file and line), which compiles far faster than RelWithDebInfo's -O2 -g.
# (An empty build type would not do: CMakeLists.txt makes that RelWithDebInfo.) Configured on
# every run, so a change here reaches an existing build dir.
cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=Sanitize "-DCMAKE_CXX_FLAGS_SANITIZE=-O1 -g1" \
  -DPUPPY_SANITIZE=$sanitize "-DCMAKE_CXX_FLAGS=$flags" >/dev/null
cmake --build "$dir" -j"$(nproc)" --target "${targets[@]}"
if [ "$mode" = asan ]; then
  "$dir/tests/unit_tests"
  "$dir/tests/fuzz/fuzz_replay" tests/fuzz/corpus
  tests/tls/make_certs.sh "$dir/tests/tls-pki" && "$dir/tests/net_tests"  # with its test PKI
  [ $# -gt 0 ] || set -- -E '^(unit|fuzz_replay|net)$'  # just run, sanitized
fi
export PUPPY_TEST_PROXY_BINARY=$PWD/$dir/puppy-proxy
cd "$plain"
ctest --output-on-failure -j2 "$@"
