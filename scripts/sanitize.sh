#!/usr/bin/env bash
# Builds puppy-proxy and its tests with sanitizers in their own build dir and runs the CTest
# suite there, so the integration tests drive the sanitized proxy binary:
#   scripts/sanitize.sh asan [CTEST ARGS...]  AddressSanitizer + UBSan (fatal), ./build-asan
#   scripts/sanitize.sh tsan [CTEST ARGS...]  ThreadSanitizer, ./build-tsan; the proxies the
#                                             tests start run with --threads 2; by default only
#                                             the integration, pget and memcached tests
# Every sanitizer report is fatal (halt_on_error) and fails the test that provoked it: in a test
# binary through its exit code, in the proxy through the test support, which fails the test when
# the proxy's log holds a report (tests/integration/support/servers.cpp). docs/testing.md.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-}
# -fno-sanitize-recover=all: UBSan stops at its first report instead of printing and going on.
flags=-fno-sanitize-recover=all
[ $# -gt 0 ] && shift
case "$mode" in
  asan)
    dir=build-asan
    sanitize=address,undefined
    # gcc 12 with ASan reports -Wmaybe-uninitialized inside libstdc++'s <regex> and
    # std::function (an error under -Werror): known false positives of the instrumented build.
    flags="$flags -Wno-maybe-uninitialized"
    export ASAN_OPTIONS=${ASAN_OPTIONS:-halt_on_error=1:detect_leaks=1:check_initialization_order=1}
    export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
    ;;
  tsan)
    dir=build-tsan
    sanitize=thread
    # gcc 12 warns (-Wtsan, an error under -Werror) that TSan does not model
    # std::atomic_thread_fence, which Boost.Asio's handler completion (executor_op,
    # reactive_wait_op) uses: third-party code, and the warning is about TSan's coverage.
    flags="$flags -Wno-tsan"
    export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1}
    # One worker thread would leave nothing to race: give every test proxy two. Tests that set
    # PUPPY_TEST_PROXY_ARGS themselves (the *_pinned runs) keep theirs.
    export PUPPY_TEST_PROXY_ARGS=${PUPPY_TEST_PROXY_ARGS:---threads 2}
    # Without ctest arguments: the tests whose proxies run threads (unit tests have none, the
    # client and *_pinned runs add little over integration/pget and cost minutes under TSan).
    [ $# -gt 0 ] || set -- -R "${PUPPY_TSAN_TESTS:-^(integration|pget|memcached)\$}"
    ;;
  *)
    echo "usage: scripts/sanitize.sh asan|tsan [ctest args...]" >&2
    exit 2
    ;;
esac
PUPPY_BUILD_DIR=$dir ./scripts/build.sh -DPUPPY_SANITIZE=$sanitize \
  "-DCMAKE_CXX_FLAGS=$flags"
cd "$dir"
ctest --output-on-failure -j2 "$@"
