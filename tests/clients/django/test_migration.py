"""A rolling migration from django-puppy-cache: old app servers run the seed's algorithm straight
against Redis while new ones use puppy_cache.django.PuppyCache through puppy-proxy, on the same
keys. Nobody regenerates twice per expiry, no key is left unable to refresh, and each side reads
the other's values.

The seed is driven with raw Redis commands exactly as its documentation describes it (Seed below;
its code is not ours). Needs a Redis upstream (PUPPY_REDIS_PORT). Run by run_tests.py.
"""

import os
import threading
import time
import uuid

import redis
from django.core.cache import cache
from django.test import SimpleTestCase
from support import JOIN_TIMEOUT, Callback, wait_until

REDIS_PORT = int(os.environ["PUPPY_REDIS_PORT"])


class Seed:
    """django-puppy-cache's pget on raw Redis commands, as documented:

    * key = make_key(key); status key 'puppy:' + key; one MGET of both.
    * status present and value not None: return the decoded value (fresh or stale alike).
    * else SET status 'updating' EX update_time NX; the winner calls callback(key), then writes,
      non-transactionally, SETEX key (timeout + 2 * update_time) encode(value) and SETEX status
      timeout 'current' (timeout None: the cache's default), and returns the value; if the
      callback raises it deletes the status and re-raises.
    * a loser with a value returns it (stale); one without polls MGET every 0.1 s while the
      status is 'updating', then returns what it has.
    """

    SLEEP = 0.1  # PUPPY_SLEEP

    def __init__(self):
        self.r = redis.Redis(host="127.0.0.1", port=REDIS_PORT, socket_timeout=10)

    def pget(self, key, callback, timeout=None, update_time=30):
        key = cache.make_key(key)
        status_key = "puppy:" + key
        value, status = self.r.mget(key, status_key)
        if status is not None and value is not None:
            return cache.client.decode(value)
        if self.r.set(status_key, "updating", ex=update_time, nx=True):
            try:
                result = callback(key)
            except BaseException:
                self.r.delete(status_key)
                raise
            if timeout is None:
                timeout = cache.default_timeout
            self.r.setex(key, timeout + 2 * update_time, cache.client.encode(result))
            self.r.setex(status_key, timeout, "current")
            return result
        if value is not None:
            return cache.client.decode(value)
        while status == b"updating" and value is None:
            time.sleep(self.SLEEP)
            value, status = self.r.mget(key, status_key)
        return None if value is None else cache.client.decode(value)


class Regenerations:
    """Callbacks that record when they ran, and by which side."""

    def __init__(self, duration=0.05):
        self.duration = duration
        self.lock = threading.Lock()
        self.runs = []  # (start, end, side, value)

    def callback(self, side):
        def regenerate(made_key):
            start = time.monotonic()
            time.sleep(self.duration)  # the work being protected
            with self.lock:
                value = f"v{len(self.runs) + 1}-{side}"
                self.runs.append((start, time.monotonic(), side, value))
            return value
        return regenerate


class MigrationTest(SimpleTestCase):
    def setUp(self):
        self.key = "migration:" + uuid.uuid4().hex
        self.made = cache.make_key(self.key)
        self.seed = Seed()
        self.r = self.seed.r

    def test_each_side_reads_the_others_values(self):
        never = Regenerations().callback("never")
        # The seed regenerates; the new backend reads its value as fresh.
        self.assertEqual(self.seed.pget(self.key, lambda k: {"from": "seed"}, 60, 5),
                         {"from": "seed"})
        self.assertEqual(self.r.get("puppy:" + self.made), b"current")
        self.assertEqual(cache.pget(self.key, never, 60, 5), {"from": "seed"})
        self.assertEqual(cache.get(self.key), {"from": "seed"})
        # The backend regenerates another key; the seed reads it (status present, value decoded).
        other = self.key + ":other"
        self.assertEqual(cache.pget(other, lambda k: ["from", "proxy"], 60, 5), ["from", "proxy"])
        self.assertEqual(self.seed.pget(other, never, 60, 5), ["from", "proxy"])
        # Same lifetimes on both sides: data timeout + 2 * update_time, status timeout.
        for made in (self.made, cache.make_key(other)):
            self.assertTrue(60 < self.r.ttl(made) <= 70)
            self.assertTrue(50 < self.r.ttl("puppy:" + made) <= 60)

    def seed_regenerates(self, result, update_time):
        """Starts a seed caller that takes 'updating' and stays in its callback until the
        returned gate is set. Returns (thread, gate, its callback)."""
        gate = threading.Event()
        cb = Callback(result, delay=gate)
        seed = threading.Thread(target=self.seed.pget, args=(self.key, cb, 60, update_time))
        seed.start()
        self.assertTrue(wait_until(lambda: cb.calls == 1))
        self.assertEqual(self.r.get("puppy:" + self.made), b"updating")
        return seed, gate, cb

    def test_a_seed_regeneration_holds_off_the_proxy_side(self):
        cache.pget(self.key, lambda k: "old", 60, 5)
        self.r.delete("puppy:" + self.made)  # freshness ran out
        seed, gate, seed_cb = self.seed_regenerates("new", 5)
        # 'updating' is someone else's lease: stale, never a second regeneration.
        proxy_cb = Callback("never")
        self.assertEqual(cache.pget(self.key, proxy_cb, 60, 5), "old")
        gate.set()
        seed.join(JOIN_TIMEOUT)
        self.assertEqual(cache.pget(self.key, proxy_cb, 60, 5), "new")
        self.assertEqual((seed_cb.calls, proxy_cb.calls), (1, 0))

    def test_a_cold_miss_behind_the_seeds_lease_waits_for_its_value(self):
        # update_time 30: were the proxy to wait for 'updating' to expire, its wait (capped below
        # the 30 s socket timeout) would run out first and pget would return None.
        seed, gate, seed_cb = self.seed_regenerates("computed by the seed", 30)
        proxy_cb = Callback("never")
        results = []
        waiter = threading.Thread(target=lambda: results.append(
            cache.pget(self.key, proxy_cb, 60, 30)))
        waiter.start()
        waiter.join(0.3)
        self.assertTrue(waiter.is_alive())  # waiting (PGET ... WAIT), not regenerating
        gate.set()
        seed.join(JOIN_TIMEOUT)
        # The seed publishes nothing; the proxy looks again every 100 ms while 'updating' lasts.
        waiter.join(JOIN_TIMEOUT + 5)
        self.assertEqual(results, ["computed by the seed"])
        self.assertEqual((seed_cb.calls, proxy_cb.calls), (1, 0))

    def test_a_proxy_regeneration_holds_off_the_seed_side(self):
        self.seed.pget(self.key, lambda k: "old", 60, 5)
        self.r.delete("puppy:" + self.made)
        gate = threading.Event()
        calls = []

        def proxy_callback(made_key):
            calls.append("proxy")
            gate.wait(JOIN_TIMEOUT)
            return "new"

        holder = threading.Thread(target=cache.pget, args=(self.key, proxy_callback, 60, 5))
        holder.start()
        self.assertTrue(wait_until(lambda: calls == ["proxy"]))
        # The proxy's lease is a status: the seed's SET NX loses, and it returns the stale value.
        self.assertEqual(self.seed.pget(self.key, lambda k: calls.append("seed"), 60, 5), "old")
        # A seed reader with no value at all returns at once with None when the status is not
        # its own 'updating' (it polls only for that): no regeneration, no stampede.
        cold = self.key + ":cold"
        cold_holder = threading.Thread(target=cache.pget, args=(cold, proxy_callback, 60, 5))
        cold_holder.start()
        self.assertTrue(wait_until(lambda: calls == ["proxy", "proxy"]))
        self.assertIsNone(self.seed.pget(cold, lambda k: calls.append("seed"), 60, 5))
        gate.set()
        holder.join(JOIN_TIMEOUT)
        cold_holder.join(JOIN_TIMEOUT)
        self.assertEqual(calls, ["proxy", "proxy"])
        self.assertEqual(self.seed.pget(self.key, lambda k: calls.append("seed"), 60, 5), "new")
        self.assertEqual(self.seed.pget(cold, lambda k: calls.append("seed"), 60, 5), "new")

    def test_no_key_is_left_unable_to_refresh(self):
        # A seed winner that dies after taking 'updating': its lease lapses after update_time,
        # then the proxy side regenerates.
        self.seed.pget(self.key, lambda k: "old", 60, 1)
        self.r.set("puppy:" + self.made, "updating", ex=1)
        self.assertEqual(cache.pget(self.key, lambda k: "unused", 60, 1), "old")
        self.assertTrue(wait_until(
            lambda: cache.pget(self.key, lambda k: "by the proxy", 60, 1) == "by the proxy",
            timeout=5))
        # A proxy lease holder that dies (no PSET): the seed's SET NX wins once it lapses.
        self.r.delete("puppy:" + self.made)
        proxy = redis.Redis(host="127.0.0.1", port=int(os.environ["PUPPY_PROXY_PORT"]))
        state, _, token = proxy.execute_command("PGET", self.made, 60, 1)
        self.assertEqual(state, b"lease")
        self.assertEqual(self.seed.pget(self.key, lambda k: "unused", 60, 1), "by the proxy")
        self.assertTrue(wait_until(
            lambda: self.seed.pget(self.key, lambda k: "by the seed", 60, 1) == "by the seed",
            timeout=5))
        # The lost lease's late PSET is refused.
        self.assertEqual(proxy.execute_command("PSET", self.made, token, b"late", 60, 1), 0)

    def test_mixed_load_regenerates_once_per_expiry(self):
        # Freshness 1 s, regeneration 50 ms, 8 seed and 8 proxy readers in a loop for 3.5 s.
        timeout, update_time, readers, duration = 1, 2, 8, 3.5
        regen = Regenerations()
        self.seed.pget(self.key, regen.callback("seed"), timeout, update_time)
        stop = time.monotonic() + duration
        bad = []

        def read(side):
            pget = self.seed.pget if side == "seed" else cache.pget
            while time.monotonic() < stop:
                value = pget(self.key, regen.callback(side), timeout, update_time)
                if not (isinstance(value, str) and value.startswith("v")):
                    bad.append((side, value))

        threads = [threading.Thread(target=read, args=(side,))
                   for side in ("seed", "proxy") for _ in range(readers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(JOIN_TIMEOUT)
        self.assertEqual(bad, [])  # a warm key: every read got a value, fresh or stale
        runs = regen.runs
        # About one regeneration per second of freshness, never two for one expiry: each starts
        # only after the previous one ended and its freshness (timeout) ran out.
        self.assertGreaterEqual(len(runs), 3, runs)
        self.assertLessEqual(len(runs), 1 + duration / timeout + 1, runs)
        for (s0, e0, side0, _), (s1, e1, side1, _) in zip(runs, runs[1:]):
            self.assertGreaterEqual(s1, e0 + timeout - 0.05, (runs, side0, side1))
