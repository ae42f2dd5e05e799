#!/usr/bin/python3
"""clients/python/puppy_cache.py against a real puppy-proxy.

Run by CTest as `with_servers /usr/bin/python3 test_puppy_cache.py` (see tests/clients/CMakeLists.txt):
`with_servers` starts a redis-server and a puppy-proxy in front of it and exports their ports as
PUPPY_REDIS_PORT and PUPPY_PROXY_PORT. Uses Debian's python3-redis (4.3.4) and stdlib unittest only.

Redis is looked at directly (PUPPY_REDIS_PORT) to check what was stored and with which TTLs, and to
force staleness by deleting the status key `puppy:<key>`.
"""

import os
import queue
import sys
import threading
import time
import unittest

import redis

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..",
                                "clients", "python"))
import puppy_cache  # noqa: E402
from puppy_cache import PuppyCache, PuppyCacheError, PuppyCacheMiss  # noqa: E402


def _port(name):
    value = os.environ.get(name)
    if not value:
        sys.exit(f"{name} is not set; run this through with_servers (see tests/clients/CMakeLists.txt)")
    return int(value)


PROXY_PORT = _port("PUPPY_PROXY_PORT")
REDIS_PORT = _port("PUPPY_REDIS_PORT")
HOST = "127.0.0.1"
# Bounded so that a proxy that never answers fails the test instead of hanging it.
SOCKET_TIMEOUT = 30
# How long a thread may take before the test calls it stuck.
JOIN_TIMEOUT = 20


class Counter:
    """A compute function that counts its calls (thread-safe) and returns fixed bytes, optionally
    after blocking on an event or sleeping, or raising."""

    def __init__(self, value=b"computed", sleep=0, gate=None, error=None):
        self.value, self.sleep, self.gate, self.error = value, sleep, gate, error
        self.calls = 0
        self.started = threading.Event()
        self._lock = threading.Lock()

    def __call__(self):
        with self._lock:
            self.calls += 1
        self.started.set()
        if self.gate is not None and not self.gate.wait(JOIN_TIMEOUT):
            raise AssertionError("the test never opened the gate")
        if self.sleep:
            time.sleep(self.sleep)
        if self.error is not None:
            raise self.error
        return self.value


def never_called():
    raise AssertionError("compute must not be called")


class PuppyCacheTestCase(unittest.TestCase):
    def setUp(self):
        self._clients = []
        self.direct = self.client(host=HOST, port=REDIS_PORT)
        self.direct.flushall()
        self.r = self.client()
        self.key = self.id().rsplit(".", 1)[-1]
        self.status = "puppy:" + self.key

    def tearDown(self):
        for c in self._clients:
            c.close()
            c.connection_pool.disconnect()

    def client(self, **kwargs):
        kwargs.setdefault("host", HOST)
        kwargs.setdefault("port", PROXY_PORT)
        kwargs.setdefault("socket_timeout", SOCKET_TIMEOUT)
        kwargs.setdefault("socket_connect_timeout", 10)
        c = redis.Redis(**kwargs)
        self._clients.append(c)
        return c

    def make_stale(self, key=None):
        """Freshness runs out now: the status key goes, the data key stays."""
        self.assertEqual(self.direct.delete("puppy:" + (key or self.key)), 1)

    def hold_lease(self, key=None, update_time=30):
        """Takes the lease by hand, as another client would, and returns its token."""
        state, value, token = self.r.execute_command("PGET", key or self.key, 300, update_time)
        self.assertEqual(state, b"lease")
        return token

    def run_threads(self, n, target):
        """Starts n threads running target() together; returns a queue of (name, result or
        exception) and the threads."""
        barrier = threading.Barrier(n)
        results = queue.Queue()

        def run():
            barrier.wait(JOIN_TIMEOUT)
            try:
                results.put(("ok", target()))
            except BaseException as e:  # noqa: B902 - reported to the test thread
                results.put(("error", e))

        threads = [threading.Thread(target=run, daemon=True) for _ in range(n)]
        for t in threads:
            t.start()
        return results, threads

    def collect(self, results, n):
        got = []
        for _ in range(n):
            try:
                got.append(results.get(timeout=JOIN_TIMEOUT))
            except queue.Empty:
                self.fail(f"only {len(got)} of {n} callers returned: {got!r}")
        return got

    def assert_ttl(self, key, expected_ms, tolerance_ms=1500):
        pttl = self.direct.pttl(key)
        self.assertLessEqual(pttl, expected_ms, f"PTTL {key}")
        self.assertGreater(pttl, expected_ms - tolerance_ms, f"PTTL {key}")


class TestColdMiss(PuppyCacheTestCase):
    def test_cold_miss_computes_once_and_stores(self):
        cache = PuppyCache(self.r, timeout=60, update_time=5)
        compute = Counter(b"v1")
        self.assertEqual(cache.get_result(self.key, compute), (b"v1", "lease", True))
        self.assertEqual(compute.calls, 1)
        self.assertEqual(self.direct.get(self.key), b"v1")
        self.assertTrue(self.direct.get(self.status).startswith(b"current:"))
        # Now fresh: served from the cache, compute not called again.
        for _ in range(3):
            self.assertEqual(cache.get_result(self.key, never_called), (b"v1", "fresh", None))
        self.assertEqual(cache.get(self.key, never_called), b"v1")

    def test_concurrent_cold_callers_compute_exactly_once(self):
        cache = PuppyCache(self.r, timeout=60, update_time=5)
        compute = Counter(b"shared value", sleep=0.3)
        results, threads = self.run_threads(20, lambda: cache.get_result(self.key, compute))
        got = self.collect(results, 20)
        for t in threads:
            t.join(JOIN_TIMEOUT)
        self.assertEqual([kind for kind, _ in got], ["ok"] * 20, got)
        self.assertEqual(compute.calls, 1)
        self.assertEqual(sorted(r.state for _, r in got), ["fresh"] * 19 + ["lease"])
        self.assertEqual({r.value for _, r in got}, {b"shared value"})
        self.assertEqual([r.stored for _, r in got if r.state == "lease"], [True])
        self.assertEqual(self.direct.get(self.key), b"shared value")

    def test_concurrent_cold_callers_on_separate_clients(self):
        # Each caller with its own client (as separate processes would be).
        caches = [PuppyCache(self.client(), timeout=60, update_time=5) for _ in range(20)]
        compute = Counter(b"from one", sleep=0.2)
        it = iter(caches)
        lock = threading.Lock()

        def call():
            with lock:
                cache = next(it)
            return cache.get(self.key, compute)

        results, _ = self.run_threads(20, call)
        self.assertEqual(self.collect(results, 20), [("ok", b"from one")] * 20)
        self.assertEqual(compute.calls, 1)

    def test_binary_values_and_decode_responses_client(self):
        binary = bytes(range(256)) + b"\r\n\x00"
        cache = PuppyCache(self.client(decode_responses=True), timeout=60, update_time=5)
        self.assertEqual(cache.get(self.key, lambda: bytearray(binary)), bytearray(binary))
        self.assertEqual(self.direct.get(self.key), binary)
        self.assertEqual(cache.get_result(self.key, never_called), (binary, "fresh", None))


class TestStale(PuppyCacheTestCase):
    def test_stale_value_returned_at_once_while_exactly_one_caller_recomputes(self):
        cache = PuppyCache(self.r, timeout=60, update_time=10)
        self.assertEqual(cache.get(self.key, lambda: b"old"), b"old")
        self.make_stale()

        gate = threading.Event()
        compute = Counter(b"new", gate=gate)
        results, threads = self.run_threads(20, lambda: cache.get_result(self.key, compute))
        # While the one regeneration is blocked, the 19 others have all returned the old value.
        early = self.collect(results, 19)
        self.assertEqual(compute.calls, 1)
        self.assertEqual(early, [("ok", (b"old", "stale", None))] * 19)
        self.assertEqual(self.direct.get(self.key), b"old")
        self.assertTrue(self.direct.get(self.status).startswith(b"lease:"))
        # A caller arriving now still gets the old value at once.
        self.assertEqual(cache.get_result(self.key, never_called), (b"old", "stale", None))

        gate.set()
        self.assertEqual(self.collect(results, 1), [("ok", (b"new", "lease", True))])
        for t in threads:
            t.join(JOIN_TIMEOUT)
        self.assertEqual(compute.calls, 1)
        self.assertEqual(self.direct.get(self.key), b"new")
        self.assertEqual(cache.get_result(self.key, never_called), (b"new", "fresh", None))

    def test_lease_holder_gets_the_stale_copy_but_returns_the_new_value(self):
        cache = PuppyCache(self.r, timeout=60, update_time=5)
        cache.get(self.key, lambda: b"old")
        self.make_stale()
        self.assertEqual(cache.get_result(self.key, lambda: b"new"), (b"new", "lease", True))
        self.assertEqual(cache.get(self.key, never_called), b"new")


class TestComputeFailure(PuppyCacheTestCase):
    def test_failure_releases_the_lease_on_a_cold_key(self):
        cache = PuppyCache(self.r, timeout=60, update_time=5)
        failing = Counter(error=RuntimeError("backend down"))
        with self.assertRaisesRegex(RuntimeError, "backend down"):
            cache.get(self.key, failing)
        self.assertEqual(failing.calls, 1)
        # PRELEASE without BACKOFF: no status, no value; the next caller gets the lease at once
        # (a WAIT would otherwise hold it for up to 5 s).
        self.assertIsNone(self.direct.get(self.status))
        self.assertIsNone(self.direct.get(self.key))
        compute = Counter(b"recovered")
        start = time.monotonic()
        self.assertEqual(cache.get_result(self.key, compute), (b"recovered", "lease", True))
        self.assertLess(time.monotonic() - start, 1.0)
        self.assertEqual(compute.calls, 1)

    def test_failure_releases_the_lease_on_a_stale_key(self):
        cache = PuppyCache(self.r, timeout=60, update_time=5)
        cache.get(self.key, lambda: b"old")
        self.make_stale()
        with self.assertRaises(ZeroDivisionError):
            cache.get(self.key, lambda: 1 / 0)
        compute = Counter(b"new")
        self.assertEqual(cache.get_result(self.key, compute), (b"new", "lease", True))
        self.assertEqual(compute.calls, 1)

    def test_failure_with_backoff_serves_the_stale_value_without_computing(self):
        cache = PuppyCache(self.r, timeout=60, update_time=5, backoff=2)
        cache.get(self.key, lambda: b"old")
        self.make_stale()
        with self.assertRaisesRegex(RuntimeError, "backend down"):
            cache.get(self.key, Counter(error=RuntimeError("backend down")))
        self.assertTrue(self.direct.get(self.status).startswith(b"backoff"))
        self.assert_ttl(self.status, 2000)

        compute = Counter(b"new")
        for _ in range(5):
            self.assertEqual(cache.get_result(self.key, compute), (b"old", "stale", None))
        results, _ = self.run_threads(10, lambda: cache.get_result(self.key, compute))
        self.assertEqual(self.collect(results, 10), [("ok", (b"old", "stale", None))] * 10)
        self.assertEqual(compute.calls, 0)

        # After the back-off, the next caller regenerates.
        self.wait_until_gone(self.status, 4)
        self.assertEqual(cache.get_result(self.key, compute), (b"new", "lease", True))
        self.assertEqual(compute.calls, 1)

    def test_per_call_backoff_overrides_the_default(self):
        cache = PuppyCache(self.r, timeout=60, update_time=5, backoff=30)
        cache.get(self.key, lambda: b"old")
        self.make_stale()
        with self.assertRaises(RuntimeError):
            cache.get(self.key, Counter(error=RuntimeError("x")), backoff=0)
        self.assertIsNone(self.direct.get(self.status))
        with self.assertRaises(RuntimeError):
            cache.get(self.key, Counter(error=RuntimeError("x")), backoff=3)
        self.assert_ttl(self.status, 3000)

    def test_backoff_without_a_value_is_a_miss(self):
        cache = PuppyCache(self.r, timeout=60, update_time=5, backoff=3, wait_ms=300)
        with self.assertRaises(RuntimeError):
            cache.get(self.key, Counter(error=RuntimeError("backend down")))
        start = time.monotonic()
        with self.assertRaises(PuppyCacheMiss) as ctx:
            cache.get(self.key, never_called)
        waited = time.monotonic() - start
        self.assertGreaterEqual(waited, 0.25)
        self.assertLess(waited, 2.0)
        self.assertEqual((ctx.exception.key, ctx.exception.waited_ms), (self.key, 300))
        # on_miss="compute": computes, returns, stores nothing (it holds no lease).
        fallback = PuppyCache(self.r, timeout=60, update_time=5, wait_ms=0, on_miss="compute")
        compute = Counter(b"unstored")
        self.assertEqual(fallback.get_result(self.key, compute), (b"unstored", "miss", None))
        self.assertEqual(compute.calls, 1)
        self.assertIsNone(self.direct.get(self.key))
        self.assertTrue(self.direct.get(self.status).startswith(b"backoff"))

    def test_keyboard_interrupt_releases_without_backoff(self):
        cache = PuppyCache(self.r, timeout=60, update_time=5, backoff=30)
        cache.get(self.key, lambda: b"old")
        self.make_stale()

        def interrupted():
            raise KeyboardInterrupt

        with self.assertRaises(KeyboardInterrupt):
            cache.get(self.key, interrupted)
        self.assertIsNone(self.direct.get(self.status))

    def test_encode_failure_releases_the_lease(self):
        cache = PuppyCache(self.r, timeout=60, update_time=5)
        with self.assertRaisesRegex(TypeError, "returned str.*encode="):
            cache.get(self.key, lambda: "not bytes")
        self.assertIsNone(self.direct.get(self.status))
        self.assertEqual(cache.get_result(self.key, lambda: b"ok"), (b"ok", "lease", True))

    def wait_until_gone(self, key, seconds):
        deadline = time.monotonic() + seconds
        while self.direct.exists(key):
            if time.monotonic() > deadline:
                self.fail(f"{key} still exists after {seconds} s")
            time.sleep(0.05)


class TestMissAndWait(PuppyCacheTestCase):
    def test_miss_after_the_wait_raises_and_does_not_compute(self):
        token = self.hold_lease()
        cache = PuppyCache(self.r, timeout=60, update_time=30, wait_ms=400)
        start = time.monotonic()
        with self.assertRaises(PuppyCacheMiss):
            cache.get(self.key, never_called)
        self.assertGreaterEqual(time.monotonic() - start, 0.35)
        self.assertIsInstance(PuppyCacheMiss(self.key, 1), PuppyCacheError)
        # The lease holder is unaffected.
        self.assertEqual(self.r.execute_command("PSET", self.key, token, b"theirs", 60, 30), 1)
        self.assertEqual(cache.get_result(self.key, never_called), (b"theirs", "fresh", None))

    def test_miss_with_on_miss_compute_returns_without_storing(self):
        token = self.hold_lease()
        cache = PuppyCache(self.r, timeout=60, update_time=30, wait_ms=0, on_miss="compute")
        compute = Counter(b"mine")
        self.assertEqual(cache.get_result(self.key, compute), (b"mine", "miss", None))
        self.assertEqual(compute.calls, 1)
        self.assertIsNone(self.direct.get(self.key))
        # The other client's lease is untouched.
        self.assertEqual(self.direct.get(self.status).split(b":")[1], token)

    def test_waiter_gets_the_value_the_lease_holder_publishes(self):
        token = self.hold_lease()
        cache = PuppyCache(self.r, timeout=60, update_time=30)
        results, _ = self.run_threads(1, lambda: cache.get_result(self.key, never_called))
        time.sleep(0.3)
        self.assertTrue(results.empty(), "the waiter must still be waiting")
        self.assertEqual(self.r.execute_command("PSET", self.key, token, b"published", 60, 30), 1)
        self.assertEqual(self.collect(results, 1), [("ok", (b"published", "fresh", None))])

    def test_waiter_takes_over_a_lease_that_ran_out(self):
        # The other client's lease lasts 1 s; this caller may wait up to 2 s.
        self.hold_lease(update_time=1)
        cache = PuppyCache(self.r, timeout=60, update_time=2)
        compute = Counter(b"taken over")
        start = time.monotonic()
        self.assertEqual(cache.get_result(self.key, compute), (b"taken over", "lease", True))
        self.assertLess(time.monotonic() - start, 1.8)
        self.assertEqual(compute.calls, 1)

    def test_waiter_takes_over_a_released_lease(self):
        token = self.hold_lease()
        cache = PuppyCache(self.r, timeout=60, update_time=30)
        compute = Counter(b"after release")
        results, _ = self.run_threads(1, lambda: cache.get_result(self.key, compute))
        time.sleep(0.3)
        self.assertEqual(self.r.execute_command("PRELEASE", self.key, token), 1)
        self.assertEqual(self.collect(results, 1), [("ok", (b"after release", "lease", True))])

    def test_wait_is_capped(self):
        r = self.client(socket_timeout=None)
        self.assertEqual(PuppyCache(r, update_time=5).effective_wait_ms(), 5000)
        self.assertEqual(PuppyCache(r, update_time=60).effective_wait_ms(),
                         puppy_cache.DEFAULT_MAX_WAIT_MS)
        self.assertEqual(PuppyCache(r, update_time=60, wait_ms=45000).effective_wait_ms(), 45000)
        self.assertEqual(PuppyCache(r, update_time=5, wait_ms=9000).effective_wait_ms(), 5000)
        self.assertEqual(PuppyCache(r, update_time=5, wait_ms=0).effective_wait_ms(), 0)
        self.assertEqual(PuppyCache(r, update_time=5).effective_wait_ms(update_time=2), 2000)
        # Below the socket timeout: a second less, or half of it if that is shorter.
        self.assertEqual(PuppyCache(self.client(socket_timeout=30), update_time=60,
                                    wait_ms=45000).effective_wait_ms(), 29000)
        self.assertEqual(PuppyCache(self.client(socket_timeout=1.5), update_time=5)
                         .effective_wait_ms(), 750)

    def test_wait_stays_below_the_socket_timeout(self):
        self.hold_lease()
        cache = PuppyCache(self.client(socket_timeout=1.5), timeout=60, update_time=30)
        start = time.monotonic()
        with self.assertRaises(PuppyCacheMiss) as ctx:
            cache.get(self.key, never_called)
        self.assertEqual(ctx.exception.waited_ms, 750)
        self.assertLess(time.monotonic() - start, 1.4)

    def test_single_connection_client_needs_wait_0(self):
        single = self.client(single_connection_client=True)
        with self.assertRaisesRegex(ValueError, "single_connection_client"):
            PuppyCache(single)
        cache = PuppyCache(single, wait_ms=0, timeout=60, update_time=5)
        self.assertEqual(cache.get(self.key, lambda: b"x"), b"x")


class TestInvalidate(PuppyCacheTestCase):
    def test_invalidate(self):
        cache = PuppyCache(self.r, timeout=60, update_time=5)
        self.assertIs(cache.invalidate(self.key), False)
        cache.get(self.key, lambda: b"v1")
        self.assertIs(cache.invalidate(self.key), True)
        self.assertEqual(self.direct.get(self.key), b"v1")  # kept, now stale
        self.assertIsNone(self.direct.get(self.status))
        compute = Counter(b"v2")
        self.assertEqual(cache.get_result(self.key, compute), (b"v2", "lease", True))
        self.assertEqual(compute.calls, 1)
        self.assertEqual(cache.get_result(self.key, never_called), (b"v2", "fresh", None))

    def test_invalidate_during_regeneration_refuses_the_pset_but_returns_the_value(self):
        cache = PuppyCache(self.r, timeout=60, update_time=5)
        cache.get(self.key, lambda: b"old")
        self.make_stale()

        def compute():
            self.assertIs(cache.invalidate(self.key), True)
            return b"computed from outdated data"

        self.assertEqual(cache.get_result(self.key, compute),
                         (b"computed from outdated data", "lease", False))
        self.assertEqual(self.direct.get(self.key), b"old")
        again = Counter(b"current")
        self.assertEqual(cache.get_result(self.key, again), (b"current", "lease", True))
        self.assertEqual(again.calls, 1)


class TestTimeouts(PuppyCacheTestCase):
    def test_per_call_timeouts_are_passed_through(self):
        cache = PuppyCache(self.r, timeout=60, update_time=5)
        cache.get(self.key, lambda: b"v", timeout=100, update_time=7)
        self.assert_ttl(self.key, (100 + 2 * 7) * 1000)
        self.assert_ttl(self.status, 100 * 1000)

    def test_default_timeouts_come_from_the_constructor(self):
        cache = PuppyCache(self.r, timeout=50, update_time=4)
        cache.get(self.key, lambda: b"v")
        self.assert_ttl(self.key, (50 + 2 * 4) * 1000)
        self.assert_ttl(self.status, 50 * 1000)
        # The module's defaults: 300 / 30.
        PuppyCache(self.r).get("other", lambda: b"v")
        self.assert_ttl("other", (300 + 2 * 30) * 1000)

    def test_the_regenerating_callers_timeouts_are_used(self):
        cache = PuppyCache(self.r, timeout=60, update_time=5)
        cache.get(self.key, lambda: b"old")
        self.make_stale()
        cache.get(self.key, lambda: b"new", timeout=20, update_time=3)
        self.assert_ttl(self.key, (20 + 2 * 3) * 1000)

    def test_lease_lasts_update_time(self):
        cache = PuppyCache(self.r, timeout=60, update_time=9)

        def compute():
            self.assert_ttl(self.status, 9000)
            return b"v"

        cache.get(self.key, compute)

    def test_invalid_times_are_refused_before_anything_is_sent(self):
        cache = PuppyCache(self.r)
        for kwargs in ({"timeout": 0}, {"timeout": 1.5}, {"update_time": -1}, {"timeout": True},
                       {"update_time": "30"}, {"backoff": -1}):
            with self.assertRaises(ValueError, msg=kwargs):
                cache.get(self.key, never_called, **kwargs)
        for kwargs in ({"timeout": 0}, {"wait_ms": -1}, {"beta": 0}, {"beta": float("nan")},
                       {"on_miss": "ignore"}):
            with self.assertRaises(ValueError, msg=kwargs):
                PuppyCache(self.r, **kwargs)
        self.assertEqual(self.direct.keys(), [])


class TestHooksAndBeta(PuppyCacheTestCase):
    def test_encode_decode_hooks(self):
        cache = PuppyCache(self.r, timeout=60, update_time=5,
                           encode=lambda s: s.encode("utf-8"), decode=lambda b: b.decode("utf-8"))
        self.assertEqual(cache.get(self.key, lambda: "héllo"), "héllo")
        self.assertEqual(self.direct.get(self.key), "héllo".encode("utf-8"))
        self.assertEqual(cache.get_result(self.key, never_called), ("héllo", "fresh", None))

    def test_beta_is_sent_and_accepted(self):
        cache = PuppyCache(self.r, timeout=60, update_time=5, beta=1)
        self.assertEqual(cache.get_result(self.key, lambda: b"v"), (b"v", "lease", True))
        self.assertEqual(cache.get_result(self.key, never_called), (b"v", "fresh", None))

    def test_not_a_proxy_gives_a_clear_error(self):
        cache = PuppyCache(self.direct, timeout=60, update_time=5)
        with self.assertRaisesRegex(redis.ResponseError, "unknown command"):
            cache.get(self.key, never_called)


if __name__ == "__main__":
    unittest.main(verbosity=2)
