"""puppy_cache.django.PuppyCache end to end through a real puppy-proxy: django-puppy-cache's API
(pget with the made key, None cached, values shared with get/set/delete, the lease given back when
the callback raises), pinvalidate, and 50 threads regenerating once.

Run by run_tests.py (Django's test runner). With PUPPY_REDIS_PORT set (a Redis upstream) the keys
are also checked in Redis directly (names, TTLs, raw integers); with a memcached upstream
(PUPPY_MEMCACHED_PORT) those checks are skipped and everything else runs the same.
"""

import os
import socket
import threading
import uuid

from django.core.cache import cache
from django.test import SimpleTestCase
from support import JOIN_TIMEOUT, Callback, wait_until

REDIS_PORT = os.environ.get("PUPPY_REDIS_PORT")
MEMCACHED_PORT = os.environ.get("PUPPY_MEMCACHED_PORT")
THREADS = 50


def memcached_get(key):
    """The raw bytes memcached holds for key (None if absent), read with the text protocol."""
    with socket.create_connection(("127.0.0.1", int(MEMCACHED_PORT)), timeout=10) as s:
        s.sendall(b"get " + key.encode() + b"\r\n")
        data = b""
        while not data.endswith(b"END\r\n"):
            chunk = s.recv(65536)
            if not chunk:
                raise ConnectionError("memcached closed the connection")
            data += chunk
    if data == b"END\r\n":
        return None
    header, _, rest = data.partition(b"\r\n")
    length = int(header.split()[3])
    return rest[:length]


def direct_redis():
    import redis
    return redis.Redis(host="127.0.0.1", port=int(REDIS_PORT), socket_timeout=10)


def run_threads(n, target):
    """Starts n threads running target(i) together; returns their results in order."""
    results = [None] * n
    errors = []
    start = threading.Barrier(n)

    def run(i):
        try:
            start.wait(JOIN_TIMEOUT)
            results[i] = target(i)
        except Exception as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    return threads, results, errors


class PgetTest(SimpleTestCase):
    def finish(self, threads, errors):
        for t in threads:
            t.join(JOIN_TIMEOUT)
            self.assertFalse(t.is_alive())
        self.assertEqual(errors, [])

    def setUp(self):
        self.key = "pget-test:" + uuid.uuid4().hex
        self.made = ":1:" + self.key  # Django's default key function: prefix:version:key

    def test_cold_miss_calls_the_callback_once_with_the_made_key(self):
        value = {"rows": [1, 2, 3], "title": "report"}
        cb = Callback(value)
        self.assertEqual(cache.pget(self.key, cb, timeout=60, update_time=5), value)
        self.assertEqual(cb.keys, [self.made])
        self.assertEqual(cb.keys[0], cache.make_key(self.key))
        # Fresh now: answered without the callback, and the same object for cache.get.
        self.assertEqual(cache.pget(self.key, cb, timeout=60, update_time=5), value)
        self.assertEqual(cb.calls, 1)
        self.assertEqual(cache.get(self.key), value)
        if REDIS_PORT:
            r = direct_redis()
            # The seed's keys and lifetimes: data timeout + 2 * update_time, status timeout.
            self.assertTrue(60 < r.ttl(self.made) <= 70, r.ttl(self.made))
            self.assertTrue(50 < r.ttl("puppy:" + self.made) <= 60)
            self.assertTrue(r.get("puppy:" + self.made).startswith(b"current"))
            self.assertEqual(cache.client.decode(r.get(self.made)), value)
        if MEMCACHED_PORT:
            # The same two keys, in the memcached pool behind the proxy.
            self.assertEqual(cache.client.decode(memcached_get(self.made)), value)
            self.assertTrue(memcached_get("puppy:" + self.made).startswith(b"current"))

    def test_none_from_the_callback_is_cached(self):
        cb = Callback(None)
        self.assertIsNone(cache.pget(self.key, cb, timeout=60, update_time=5))
        self.assertIsNone(cache.pget(self.key, cb, timeout=60, update_time=5))
        self.assertEqual(cb.calls, 1)
        self.assertIsNone(cache.get(self.key, "absent"))  # stored None, not a miss
        self.assertTrue(cache.has_key(self.key))

    def test_integers_are_stored_raw_as_django_redis_stores_them(self):
        self.assertEqual(cache.pget(self.key, Callback(42), timeout=60, update_time=5), 42)
        self.assertEqual(cache.get(self.key), 42)
        if REDIS_PORT:
            self.assertEqual(direct_redis().get(self.made), b"42")
        self.assertEqual(cache.incr(self.key), 43)
        self.assertEqual(cache.pget(self.key, Callback(0), timeout=60, update_time=5), 43)

    def test_get_set_delete_and_pget_see_the_same_values(self):
        cache.pget(self.key, Callback("v1"), timeout=60, update_time=5)
        cache.set(self.key, ["v2"], 60)
        self.assertEqual(cache.pget(self.key, Callback("unused"), timeout=60, update_time=5),
                         ["v2"])
        cache.delete(self.key)
        self.assertIsNone(cache.get(self.key))
        # The status is still current, the value gone: this caller regenerates at once.
        cb = Callback("v3")
        self.assertEqual(cache.pget(self.key, cb, timeout=60, update_time=5), "v3")
        self.assertEqual(cb.calls, 1)
        self.assertEqual(cache.get(self.key), "v3")

    def test_timeout_none_is_the_caches_default_timeout(self):
        cache.pget(self.key, Callback("v"), update_time=5)
        if REDIS_PORT:
            r = direct_redis()
            self.assertTrue(110 < r.ttl("puppy:" + self.made) <= 120)  # TIMEOUT: 120
            self.assertTrue(120 < r.ttl(self.made) <= 130)
        self.assertEqual(cache.get(self.key), "v")

    def test_version(self):
        cb = Callback("two")
        self.assertEqual(cache.pget(self.key, cb, timeout=60, update_time=5, version=2), "two")
        self.assertEqual(cb.keys, [":2:" + self.key])
        self.assertEqual(cache.get(self.key, version=2), "two")
        self.assertIsNone(cache.get(self.key))

    def test_a_callback_that_raises_gives_the_lease_back(self):
        with self.assertRaises(ValueError):
            cache.pget(self.key, Callback(None, error=ValueError("backend down")), timeout=60,
                       update_time=30)
        # A lease left behind would make this caller wait up to 30 s and then get None; given
        # back, it regenerates at once.
        cb = Callback("recovered")
        self.assertEqual(cache.pget(self.key, cb, timeout=60, update_time=30), "recovered")
        self.assertEqual(cb.calls, 1)

    def test_pinvalidate_marks_stale_and_one_caller_regenerates(self):
        self.assertFalse(cache.pinvalidate(self.key))
        cache.pget(self.key, Callback("old"), timeout=60, update_time=5)
        self.assertTrue(cache.pinvalidate(self.key))
        seen_inside = []

        def regenerate(made_key):
            # While this caller holds the lease, everyone else gets the old value at once.
            seen_inside.append(cache.pget(self.key, Callback("never"), timeout=60, update_time=5))
            return "new"

        self.assertEqual(cache.pget(self.key, regenerate, timeout=60, update_time=5), "new")
        self.assertEqual(seen_inside, ["old"])
        self.assertEqual(cache.pget(self.key, Callback("never"), timeout=60, update_time=5), "new")

    def test_50_threads_on_an_expired_key_regenerate_once(self):
        cache.pget(self.key, Callback("old"), timeout=60, update_time=10)
        # Expired: the status is gone (PINVALIDATE drops it, as expiry does), the value stays.
        self.assertTrue(cache.pinvalidate(self.key))
        gate = threading.Event()
        cb = Callback("new", delay=gate)
        threads, results, errors = run_threads(
            THREADS, lambda i: cache.pget(self.key, cb, timeout=60, update_time=10))
        # While one regenerates (held in the callback), all the others are answered at once,
        # with the stale value.
        self.assertTrue(wait_until(
            lambda: cb.calls == 1 and sum(r is not None for r in results) == THREADS - 1))
        self.assertEqual([r for r in results if r is not None], ["old"] * (THREADS - 1))
        gate.set()
        self.finish(threads, errors)
        self.assertEqual(cb.calls, 1)
        self.assertEqual(sorted(results), ["new"] + ["old"] * (THREADS - 1))
        self.assertEqual(cache.get(self.key), "new")

    def test_50_threads_on_a_cold_key_regenerate_once_and_all_get_the_value(self):
        gate = threading.Event()
        cb = Callback({"computed": True}, delay=gate)
        threads, results, errors = run_threads(
            THREADS, lambda i: cache.pget(self.key, cb, timeout=60, update_time=10))
        gate.set()
        self.finish(threads, errors)
        self.assertEqual(cb.calls, 1)
        self.assertEqual(results, [{"computed": True}] * THREADS)
