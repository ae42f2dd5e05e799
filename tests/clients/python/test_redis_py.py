#!/usr/bin/python3
"""redis-py through puppy-proxy.

Run by CTest as `with_servers /usr/bin/python3 test_redis_py.py` (see tests/clients/CMakeLists.txt):
`with_servers` starts a redis-server and a puppy-proxy in front of it and exports their ports as
PUPPY_REDIS_PORT and PUPPY_PROXY_PORT. Uses Debian's python3-redis (4.3.4) and stdlib unittest only,
so it must run under /usr/bin/python3.

The proxy pins one upstream connection per client connection and forwards bytes unchanged, so every
call here must behave exactly as against Redis directly: values are asserted exactly, and where it
helps the same calls are also made directly against Redis and the results compared.
"""

import inspect
import os
import random
import sys
import threading
import time
import unittest

import redis
from redis.exceptions import NoScriptError, ResponseError, WatchError


def _port(name):
    value = os.environ.get(name)
    if not value:
        sys.exit(f"{name} is not set; run this through with_servers (see tests/clients/CMakeLists.txt)")
    return int(value)


PROXY_PORT = _port("PUPPY_PROXY_PORT")
REDIS_PORT = _port("PUPPY_REDIS_PORT")
HOST = "127.0.0.1"
# Every socket operation is bounded so that a misbehaving proxy fails the test instead of hanging it.
SOCKET_TIMEOUT = 30


def proxy_client(**kwargs):
    kwargs.setdefault("socket_timeout", SOCKET_TIMEOUT)
    kwargs.setdefault("socket_connect_timeout", 10)
    return redis.Redis(host=HOST, port=PROXY_PORT, **kwargs)


def direct_client(**kwargs):
    kwargs.setdefault("socket_timeout", SOCKET_TIMEOUT)
    kwargs.setdefault("socket_connect_timeout", 10)
    return redis.Redis(host=HOST, port=REDIS_PORT, **kwargs)


def outcome(func, client):
    """func(client) as a comparable value: its result, or the type and text of its exception."""
    try:
        return ("ok", func(client))
    except redis.RedisError as e:
        return ("error", type(e).__name__, str(e))


class ProxyTestCase(unittest.TestCase):
    def setUp(self):
        self._clients = []
        self.direct = self.client(direct_client())
        self.direct.flushall()
        self.r = self.client(proxy_client())

    def tearDown(self):
        for c in self._clients:
            c.close()
            c.connection_pool.disconnect()

    def client(self, c):
        self._clients.append(c)
        return c

    def assertSameAsDirect(self, func):
        """Runs func against Redis directly and then through the proxy, each time on an empty
        Redis, asserts both give the same outcome, and returns the proxy's."""
        self.direct.flushall()
        expected = outcome(func, self.direct)
        self.direct.flushall()
        got = outcome(func, self.r)
        self.assertEqual(got, expected, "proxy differs from direct Redis")
        return got


class TestConnection(ProxyTestCase):
    def test_ping_echo_and_server_identity(self):
        self.assertIs(self.r.ping(), True)
        self.assertEqual(self.r.echo(b"hello \x00\r\n world"), b"hello \x00\r\n world")
        # The proxy is transparent: INFO comes from the very Redis behind it.
        self.assertEqual(self.r.info("server")["run_id"], self.direct.info("server")["run_id"])
        self.assertEqual(self.r.info("server")["redis_version"], self.direct.info("server")["redis_version"])

    def test_each_client_connection_is_its_own_upstream_connection(self):
        a = self.client(proxy_client(single_connection_client=True))
        b = self.client(proxy_client(single_connection_client=True))
        id_a, id_b = a.client_id(), b.client_id()
        self.assertNotEqual(id_a, id_b)
        self.assertEqual(a.client_id(), id_a, "the upstream connection must stay pinned")
        ids = {int(c["id"]) for c in self.direct.client_list()}
        self.assertIn(id_a, ids)
        self.assertIn(id_b, ids)

    def test_traffic_really_goes_through_the_proxy(self):
        self.assertNotEqual(PROXY_PORT, REDIS_PORT)
        c = self.client(proxy_client(single_connection_client=True))
        self.assertIs(c.ping(), True)
        local = "%s:%d" % c.connection._sock.getsockname()[:2]
        info = c.client_info()
        # Redis sees the proxy's upstream connection, not this client's socket.
        self.assertEqual(info["laddr"], f"127.0.0.1:{REDIS_PORT}")
        self.assertNotEqual(info["addr"], local)
        self.assertEqual(c.connection._sock.getpeername()[1], PROXY_PORT)

    def test_errors_are_forwarded_unchanged(self):
        def run(c):
            c.set("s", "x")
            results = []
            for args in (("NOSUCHCOMMAND", "a"), ("LPUSH", "s", "v"), ("GET",), ("INCR", "s")):
                results.append(outcome(lambda cl: cl.execute_command(*args), c))
            return results

        got = self.assertSameAsDirect(run)
        self.assertEqual(
            got[1],
            [
                ("error", "ResponseError",
                 "unknown command 'NOSUCHCOMMAND', with args beginning with: 'a' "),
                ("error", "ResponseError",
                 "WRONGTYPE Operation against a key holding the wrong kind of value"),
                ("error", "ResponseError", "wrong number of arguments for 'get' command"),
                ("error", "ResponseError", "value is not an integer or out of range"),
            ],
        )


class TestDataTypes(ProxyTestCase):
    def test_strings(self):
        binary = bytes(range(256)) * 4

        def run(c):
            return [
                c.set("str", "hello"),
                c.get("str"),
                c.append("str", " world"),
                c.getrange("str", 0, 4),
                c.strlen("str"),
                c.set("bin", binary),
                c.get("bin") == binary,
                c.incr("n"),
                c.incrby("n", 41),
                c.decr("n"),
                c.incrbyfloat("f", 1.5),
                c.mset({"m1": "a", "m2": "b"}),
                c.mget("m1", "m2", "missing"),
                c.setnx("m1", "z"),
                c.set("ex", "v", ex=100),
                c.ttl("ex"),
                c.getdel("m2"),
                c.exists("m1", "m2", "str"),
                c.get("missing"),
                c.delete("m1", "missing"),
            ]

        _, got = self.assertSameAsDirect(run)
        self.assertEqual(
            got,
            [True, b"hello", 11, b"hello", 11, True, True, 1, 42, 41, 1.5, True,
             [b"a", b"b", None], False, True, 100, b"b", 2, None, 1],
        )
        # Written through the proxy, visible directly in Redis.
        self.assertEqual(self.direct.get("str"), b"hello world")
        self.assertEqual(self.direct.get("bin"), binary)

    def test_unicode_with_decode_responses(self):
        r = self.client(proxy_client(decode_responses=True))
        self.assertIs(r.set("ü", "Grüße, 世界 🐶"), True)
        self.assertEqual(r.get("ü"), "Grüße, 世界 🐶")
        self.assertEqual(self.direct.get("ü".encode()), "Grüße, 世界 🐶".encode())

    def test_hashes(self):
        def run(c):
            return [
                c.hset("h", mapping={"a": "1", "b": "2", "c": "3"}),
                c.hset("h", "d", "4"),
                c.hgetall("h"),
                c.hget("h", "b"),
                c.hmget("h", "a", "zz", "c"),
                c.hincrby("h", "a", 10),
                c.hincrbyfloat("h", "b", 0.5),
                c.hexists("h", "c"),
                c.hexists("h", "zz"),
                c.hdel("h", "c", "zz"),
                c.hlen("h"),
                sorted(c.hkeys("h")),
                c.hsetnx("h", "a", "x"),
            ]

        _, got = self.assertSameAsDirect(run)
        self.assertEqual(
            got,
            [3, 1, {b"a": b"1", b"b": b"2", b"c": b"3", b"d": b"4"}, b"2", [b"1", None, b"3"],
             11, 2.5, True, False, 1, 3, [b"a", b"b", b"d"], False],
        )

    def test_lists(self):
        def run(c):
            return [
                c.rpush("l", "a", "b", "c"),
                c.lpush("l", "z"),
                c.lrange("l", 0, -1),
                c.llen("l"),
                c.lindex("l", 1),
                c.linsert("l", "BEFORE", "c", "bb"),
                c.lrange("l", 0, -1),
                c.lpop("l"),
                c.rpop("l", 2),
                c.lmove("l", "l2", "LEFT", "RIGHT"),
                c.lrange("l", 0, -1),
                c.lrange("l2", 0, -1),
                c.ltrim("l2", 1, 0),
                c.exists("l2"),
                c.lpop("nolist"),
            ]

        _, got = self.assertSameAsDirect(run)
        self.assertEqual(
            got,
            [3, 4, [b"z", b"a", b"b", b"c"], 4, b"a", 5, [b"z", b"a", b"b", b"bb", b"c"], b"z",
             [b"c", b"bb"], b"a", [b"b"], [b"a"], True, 0, None],
        )

    def test_sets(self):
        def run(c):
            return [
                c.sadd("s1", "a", "b", "c", "a"),
                c.sadd("s2", "b", "c", "d"),
                c.smembers("s1"),
                c.sismember("s1", "a"),
                c.sismember("s1", "d"),
                c.smismember("s1", ["a", "d"]),
                c.sinter("s1", "s2"),
                c.sunion("s1", "s2"),
                c.sdiff("s1", "s2"),
                c.scard("s2"),
                c.srem("s1", "a", "zz"),
                c.smembers("s1"),
                c.smembers("nosuchset"),
            ]

        _, got = self.assertSameAsDirect(run)
        self.assertEqual(
            got,
            [3, 3, {b"a", b"b", b"c"}, True, False, [True, False], {b"b", b"c"},
             {b"a", b"b", b"c", b"d"}, {b"a"}, 3, 1, {b"b", b"c"}, set()],
        )

    def test_sorted_sets(self):
        def run(c):
            return [
                c.zadd("z", {"a": 1, "b": 2, "c": 3.5}),
                c.zadd("z", {"a": 10}, xx=True, ch=True),
                c.zrange("z", 0, -1, withscores=True),
                c.zrange("z", 0, -1, desc=True),
                c.zscore("z", "c"),
                c.zincrby("z", 0.25, "b"),
                c.zrangebyscore("z", 2, 4),
                c.zrank("z", "a"),
                c.zrevrank("z", "a"),
                c.zcard("z"),
                c.zcount("z", "-inf", "+inf"),
                c.zpopmin("z"),
                c.zpopmax("z", 2),
                c.zcard("z"),
            ]

        _, got = self.assertSameAsDirect(run)
        self.assertEqual(
            got,
            [3, 1, [(b"b", 2.0), (b"c", 3.5), (b"a", 10.0)], [b"a", b"c", b"b"], 3.5, 2.25,
             [b"b", b"c"], 2, 0, 3, 3, [(b"b", 2.25)], [(b"a", 10.0), (b"c", 3.5)], 0],
        )

    def test_streams(self):
        def run(c):
            return [
                c.xadd("st", {"f": "1"}, id="1-1"),
                c.xadd("st", {"f": "2", "g": "x"}, id="2-0"),
                c.xadd("st", {"f": "3"}, id="3-5"),
                c.xlen("st"),
                c.xrange("st"),
                c.xrevrange("st", count=1),
                c.xread({"st": "1-1"}),
                c.xgroup_create("st", "grp", id="0"),
                c.xreadgroup("grp", "alice", {"st": ">"}, count=2),
                c.xack("st", "grp", "1-1"),
                c.xpending("st", "grp"),
                c.xdel("st", "3-5"),
                c.xtrim("st", maxlen=1, approximate=False),
                c.xrange("st"),
            ]

        _, got = self.assertSameAsDirect(run)
        self.assertEqual(
            got,
            [
                b"1-1", b"2-0", b"3-5", 3,
                [(b"1-1", {b"f": b"1"}), (b"2-0", {b"f": b"2", b"g": b"x"}), (b"3-5", {b"f": b"3"})],
                [(b"3-5", {b"f": b"3"})],
                [[b"st", [(b"2-0", {b"f": b"2", b"g": b"x"}), (b"3-5", {b"f": b"3"})]]],
                True,
                [[b"st", [(b"1-1", {b"f": b"1"}), (b"2-0", {b"f": b"2", b"g": b"x"})]]],
                1,
                {"pending": 1, "min": b"2-0", "max": b"2-0", "consumers": [{"name": b"alice", "pending": 1}]},
                1, 1,
                [(b"2-0", {b"f": b"2", b"g": b"x"})],
            ],
        )

    def test_blocking_xread_woken_by_another_client(self):
        self.r.xadd("bs", {"a": "0"}, id="1-0")
        other = self.client(proxy_client())
        timer = threading.Timer(0.3, lambda: other.xadd("bs", {"a": "1"}, id="5-0"))
        timer.start()
        try:
            got = self.r.xread({"bs": "$"}, block=10000)
        finally:
            timer.join()
        self.assertEqual(got, [[b"bs", [(b"5-0", {b"a": b"1"})]]])


class TestPipelines(ProxyTestCase):
    def test_pipeline_of_1000_commands(self):
        pipe = self.r.pipeline(transaction=False)
        expected = []
        for i in range(250):
            pipe.set(f"k{i}", f"v{i}")
            expected.append(True)
            pipe.incr("counter")
            expected.append(i + 1)
            pipe.get(f"k{i}")
            expected.append(f"v{i}".encode())
            pipe.rpush("list", i)
            expected.append(i + 1)
        self.assertEqual(len(pipe), 1000)
        self.assertEqual(pipe.execute(), expected)
        self.assertEqual(self.direct.get("counter"), b"250")
        self.assertEqual(self.direct.mget([f"k{i}" for i in range(250)]), [f"v{i}".encode() for i in range(250)])
        self.assertEqual(self.direct.lrange("list", 0, -1), [str(i).encode() for i in range(250)])

    def test_pipeline_with_errors_in_the_middle(self):
        def run(c):
            pipe = c.pipeline(transaction=False)
            pipe.set("s", "x").incr("s").get("s").lpush("s", 1).echo("end")
            return [r if not isinstance(r, Exception) else ("exc", type(r).__name__, str(r))
                    for r in pipe.execute(raise_on_error=False)]

        _, got = self.assertSameAsDirect(run)
        self.assertEqual(
            got,
            [True, ("exc", "ResponseError", "value is not an integer or out of range"), b"x",
             ("exc", "ResponseError", "WRONGTYPE Operation against a key holding the wrong kind of value"),
             b"end"],
        )

    def test_transaction(self):
        pipe = self.r.pipeline(transaction=True)
        pipe.set("a", "1").incr("a").incrby("a", 5).get("a").sadd("set", "x", "y").smembers("set")
        self.assertEqual(pipe.execute(), [True, 2, 7, b"7", 2, {b"x", b"y"}])
        self.assertEqual(self.direct.get("a"), b"7")

    def test_transaction_with_runtime_error(self):
        def run(c):
            pipe = c.pipeline(transaction=True)
            pipe.set("s", "x").incr("s").set("t", "y")
            return [r if not isinstance(r, Exception) else ("exc", type(r).__name__, str(r))
                    for r in pipe.execute(raise_on_error=False)] + [c.get("t")]

        _, got = self.assertSameAsDirect(run)
        self.assertEqual(
            got,
            [True, ("exc", "ResponseError", "value is not an integer or out of range"), True, b"y"],
        )

    def test_transaction_discarded_on_queueing_error(self):
        def run(c):
            pipe = c.pipeline(transaction=True)
            pipe.set("a", "1").execute_command("GET")
            try:
                pipe.execute()
            except ResponseError as e:
                return ("raised", str(e), c.get("a"))
            return ("not raised",)

        _, got = self.assertSameAsDirect(run)
        # Redis answers EXEC with EXECABORT; redis-py raises the first queueing error instead.
        self.assertEqual(got, ("raised", "Command # 2 (GET) of pipeline caused error: "
                                         "wrong number of arguments for 'get' command", None))

    def test_raw_multi_exec_and_execabort(self):
        # APPEND/INCR rather than SET: redis-py's SET callback would turn QUEUED into False.
        def run(c):
            c = redis.Redis(connection_pool=c.connection_pool, single_connection_client=True)
            try:
                results = [c.execute_command("MULTI"), c.execute_command("APPEND", "a", "1"),
                           c.execute_command("INCR", "a"), c.execute_command("EXEC")]
                results.append(c.execute_command("MULTI"))
                results.append(outcome(lambda cl: cl.execute_command("GET"), c))
                results.append(outcome(lambda cl: cl.execute_command("EXEC"), c))
                results.append(c.execute_command("GET", "a"))
                results.append(outcome(lambda cl: cl.execute_command("EXEC"), c))
                results.append(c.execute_command("MULTI"))
                results.append(c.execute_command("APPEND", "a", "x"))
                results.append(c.execute_command("DISCARD"))
                results.append(c.execute_command("GET", "a"))
                return results
            finally:
                c.close()

        _, got = self.assertSameAsDirect(run)
        self.assertEqual(
            got,
            [b"OK", b"QUEUED", b"QUEUED", [1, 2],
             b"OK",
             ("error", "ResponseError", "wrong number of arguments for 'get' command"),
             ("error", "ExecAbortError", "Transaction discarded because of previous errors."),
             b"2",
             ("error", "ResponseError", "EXEC without MULTI"),
             b"OK", b"QUEUED", b"OK", b"2"],
        )

    def test_watch_without_conflict_commits(self):
        self.r.set("w", "10")
        with self.r.pipeline() as pipe:
            pipe.watch("w")
            value = int(pipe.get("w"))
            pipe.multi()
            pipe.set("w", value + 1)
            pipe.get("w")
            self.assertEqual(pipe.execute(), [True, b"11"])
        self.assertEqual(self.direct.get("w"), b"11")

    def test_watch_with_conflicting_write_from_another_client(self):
        self.r.set("w", "10")
        other = self.client(proxy_client())
        with self.r.pipeline() as pipe:
            pipe.watch("w")
            value = int(pipe.get("w"))
            self.assertEqual(value, 10)
            self.assertIs(other.set("w", "conflict"), True)
            pipe.multi()
            pipe.set("w", value + 1)
            with self.assertRaises(WatchError):
                pipe.execute()
        self.assertEqual(self.r.get("w"), b"conflict")
        self.assertEqual(self.direct.get("w"), b"conflict")

    def test_transaction_helper_retries_after_watch_error(self):
        self.r.set("ctr", "0")
        other = self.client(proxy_client())
        attempts = []

        def body(pipe):
            current = int(pipe.get("ctr"))
            attempts.append(current)
            if len(attempts) == 1:
                other.incrby("ctr", 100)  # conflicting write: the first EXEC must fail
            pipe.multi()
            pipe.set("ctr", current + 1)

        self.assertEqual(self.r.transaction(body, "ctr"), [True])
        self.assertEqual(attempts, [0, 100])
        self.assertEqual(self.direct.get("ctr"), b"101")


class TestPubSub(ProxyTestCase):
    def get_message(self, p, timeout=5.0):
        """The next message, skipping nothing; fails if none arrives within timeout."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.fail("no pub/sub message within %.1fs" % timeout)
            msg = p.get_message(timeout=remaining)
            if msg is not None:
                return msg

    def test_subscribe_psubscribe_publish_unsubscribe(self):
        p = self.r.pubsub()
        publisher = self.client(proxy_client())
        try:
            p.subscribe("ch1")
            self.assertEqual(self.get_message(p), {"type": "subscribe", "pattern": None, "channel": b"ch1", "data": 1})
            p.psubscribe("news.*")
            self.assertEqual(self.get_message(p), {"type": "psubscribe", "pattern": None, "channel": b"news.*", "data": 2})

            # The subscriptions reached the real Redis.
            self.assertEqual(self.direct.pubsub_numsub("ch1"), [(b"ch1", 1)])
            self.assertEqual(self.direct.pubsub_numpat(), 1)

            # Nothing published yet: get_message waits for its timeout and returns None.
            start = time.monotonic()
            self.assertIsNone(p.get_message(timeout=0.5))
            self.assertGreaterEqual(time.monotonic() - start, 0.4)

            self.assertEqual(publisher.publish("ch1", "hello"), 1)
            self.assertEqual(self.get_message(p), {"type": "message", "pattern": None, "channel": b"ch1", "data": b"hello"})
            self.assertEqual(publisher.publish("news.tech", b"\x00bin\r\n"), 1)
            self.assertEqual(self.get_message(p), {"type": "pmessage", "pattern": b"news.*", "channel": b"news.tech", "data": b"\x00bin\r\n"})
            # Published directly to Redis, delivered through the proxy.
            self.assertEqual(self.direct.publish("ch1", "direct"), 1)
            self.assertEqual(self.get_message(p), {"type": "message", "pattern": None, "channel": b"ch1", "data": b"direct"})
            self.assertEqual(publisher.publish("other", "nobody"), 0)

            p.ping("hi")
            self.assertEqual(self.get_message(p), {"type": "pong", "pattern": None, "channel": None, "data": b"hi"})

            p.unsubscribe("ch1")
            self.assertEqual(self.get_message(p), {"type": "unsubscribe", "pattern": None, "channel": b"ch1", "data": 1})
            self.assertEqual(publisher.publish("ch1", "gone"), 0)
            p.punsubscribe()
            self.assertEqual(self.get_message(p), {"type": "punsubscribe", "pattern": None, "channel": b"news.*", "data": 0})
            self.assertIsNone(p.get_message(timeout=0.2))
            self.assertEqual(self.direct.pubsub_numsub("ch1"), [(b"ch1", 0)])
            self.assertEqual(self.direct.pubsub_numpat(), 0)
        finally:
            p.close()

    def test_message_handler_thread(self):
        received = []
        done = threading.Event()

        def handler(msg):
            received.append(msg["data"])
            if len(received) == 3:
                done.set()

        p = self.r.pubsub(ignore_subscribe_messages=True)
        p.subscribe(**{"events": handler})
        thread = p.run_in_thread(sleep_time=0.05, daemon=True)
        try:
            deadline = time.monotonic() + 10
            while self.direct.pubsub_numsub("events") != [(b"events", 1)]:
                self.assertLess(time.monotonic(), deadline, "subscription never reached Redis")
                time.sleep(0.02)
            for i in range(3):
                self.assertEqual(self.direct.publish("events", f"e{i}"), 1)
            self.assertTrue(done.wait(10), f"only received {received}")
            self.assertEqual(received, [b"e0", b"e1", b"e2"])
        finally:
            thread.stop()
            thread.join(10)
            p.close()


class TestBlocking(ProxyTestCase):
    def test_blpop_woken_by_push_from_another_thread(self):
        other = self.client(proxy_client())
        timer = threading.Timer(0.3, lambda: other.rpush("bq", "v1", "v2"))
        start = time.monotonic()
        timer.start()
        try:
            got = self.r.blpop(["empty", "bq"], timeout=10)
        finally:
            timer.join()
        self.assertEqual(got, (b"bq", b"v1"))
        self.assertGreaterEqual(time.monotonic() - start, 0.25)
        self.assertEqual(self.direct.lrange("bq", 0, -1), [b"v2"])

    def test_blpop_times_out(self):
        start = time.monotonic()
        self.assertIsNone(self.r.blpop("nothing", timeout=1))
        self.assertGreaterEqual(time.monotonic() - start, 0.9)
        # The connection is still usable afterwards.
        self.assertIs(self.r.ping(), True)

    def test_blpop_returns_immediately_when_data_exists(self):
        self.r.rpush("ready", "x")
        self.assertEqual(self.r.blpop("ready", timeout=5), (b"ready", b"x"))


class TestScripts(ProxyTestCase):
    SCRIPT = "return {KEYS[1], ARGV[1], redis.call('INCR', KEYS[1]), {1, 'two'}}"

    def test_register_script_noscript_fallback(self):
        self.r.script_flush()
        script = self.r.register_script(self.SCRIPT)
        self.assertEqual(self.direct.script_exists(script.sha), [False])
        # First call: EVALSHA gets NOSCRIPT, redis-py loads the script and retries.
        self.assertEqual(script(keys=["cnt"], args=["arg"]), [b"cnt", b"arg", 1, [1, b"two"]])
        self.assertEqual(self.direct.script_exists(script.sha), [True])
        # Second call: EVALSHA succeeds straight away.
        self.assertEqual(script(keys=["cnt"], args=["again"]), [b"cnt", b"again", 2, [1, b"two"]])
        # Scripts in a pipeline too.
        pipe = self.r.pipeline()
        script(keys=["cnt"], args=["p"], client=pipe)
        pipe.get("cnt")
        self.assertEqual(pipe.execute(), [[b"cnt", b"p", 3, [1, b"two"]], b"3"])

    def test_evalsha_unknown_raises_noscript(self):
        def run(c):
            try:
                c.evalsha("0" * 40, 0)
            except NoScriptError as e:
                return ("NoScriptError", str(e))
            return ("no error",)

        _, got = self.assertSameAsDirect(run)
        self.assertEqual(got, ("NoScriptError", "No matching script. Please use EVAL."))

    def test_script_load_and_evalsha(self):
        sha = self.r.script_load("return redis.call('GET', KEYS[1])")
        self.assertEqual(sha, self.direct.script_load("return redis.call('GET', KEYS[1])"))
        self.direct.set("k", "v")
        self.assertEqual(self.r.evalsha(sha, 1, "k"), b"v")

    def test_eval_reply_types(self):
        def run(c):
            return [
                c.eval("return 3.99", 0),
                c.eval("return redis.status_reply('FINE')", 0),
                c.eval("return {1, 2, nil, 4}", 0),
                c.eval("return false", 0),
                c.eval("return true", 0),
                outcome(lambda cl: cl.eval("return redis.error_reply('MYERR custom')", 0), c),
                outcome(lambda cl: cl.eval("return redis.call('NOPE')", 0), c)[:2],
            ]

        _, got = self.assertSameAsDirect(run)
        self.assertEqual(got[:5], [3, b"FINE", [1, 2], None, 1])
        self.assertEqual(got[5], ("error", "ResponseError", "MYERR custom"))
        self.assertEqual(got[6], ("error", "ResponseError"))


class TestConnectionState(ProxyTestCase):
    def test_select_via_db_parameter(self):
        r5 = self.client(proxy_client(db=5))
        self.assertIs(r5.set("dbkey", "five"), True)
        self.assertEqual(r5.get("dbkey"), b"five")
        self.assertEqual(r5.client_info()["db"], 5)
        # Really in Redis' database 5, and not in database 0.
        d5 = self.client(direct_client(db=5))
        self.assertEqual(d5.get("dbkey"), b"five")
        self.assertIsNone(self.direct.get("dbkey"))
        # Another proxy client on database 0 is not affected.
        self.assertIsNone(self.r.get("dbkey"))
        self.assertEqual(self.r.client_info()["db"], 0)
        self.assertEqual(r5.dbsize(), 1)
        self.assertEqual(self.r.dbsize(), 0)

    def test_select_and_swapdb_commands(self):
        c = self.client(proxy_client(single_connection_client=True))
        self.assertIs(c.execute_command("SELECT", 3), True)
        c.set("x", "in3")
        self.assertEqual(c.client_info()["db"], 3)
        self.assertEqual(self.client(direct_client(db=3)).get("x"), b"in3")
        self.assertEqual(outcome(lambda cl: cl.execute_command("SELECT", 9999), c),
                         ("error", "ResponseError", "DB index is out of range"))
        self.assertEqual(c.client_info()["db"], 3)

    def test_client_setname_getname(self):
        c = self.client(proxy_client(single_connection_client=True))
        self.assertIsNone(c.client_getname())
        self.assertIs(c.client_setname("puppy-py"), True)
        self.assertEqual(c.client_getname(), "puppy-py")  # redis-py 4.3.4 decodes the name
        names = {entry["name"] for entry in self.direct.client_list()}
        self.assertIn("puppy-py", names)
        self.assertEqual(outcome(lambda cl: cl.client_setname("has space"), c),
                         ("error", "ResponseError",
                          "Client names cannot contain spaces, newlines or special characters."))
        # Set at connection time through the client_name parameter.
        named = self.client(proxy_client(client_name="from-ctor"))
        self.assertEqual(named.client_getname(), "from-ctor")

    def test_auth_errors_are_forwarded(self):
        def run(c):
            return outcome(lambda cl: cl.execute_command("AUTH", "nopass"), c)

        _, got = self.assertSameAsDirect(run)
        self.assertEqual(
            got,
            ("error", "ResponseError",
             "AUTH <password> called without any password configured for the default user. "
             "Are you sure your configuration is correct?"))


class TestLargeValues(ProxyTestCase):
    def test_8_mib_value_round_trip(self):
        size = 8 * 1024 * 1024
        value = random.Random(20240229).randbytes(size)
        self.assertIs(self.r.set("big", value), True)
        self.assertEqual(self.r.strlen("big"), size)
        got = self.r.get("big")
        self.assertEqual(len(got), size)
        self.assertTrue(got == value, "8 MiB value changed on its way through the proxy")
        self.assertTrue(self.direct.get("big") == value, "value stored in Redis differs")
        self.assertEqual(self.r.getrange("big", size - 16, size - 1), value[-16:])

    def test_large_values_in_a_pipeline(self):
        values = [random.Random(i).randbytes(3 * 1024 * 1024 + i) for i in range(3)]
        pipe = self.r.pipeline(transaction=False)
        for i, v in enumerate(values):
            pipe.set(f"big{i}", v)
        for i in range(3):
            pipe.get(f"big{i}")
        got = pipe.execute()
        self.assertEqual(got[:3], [True, True, True])
        for i in range(3):
            self.assertTrue(got[3 + i] == values[i], f"big{i} differs")

    def test_large_reply_made_of_many_elements(self):
        self.direct.rpush("many", *[f"element-{i}" for i in range(100000)])
        got = self.r.lrange("many", 0, -1)
        self.assertEqual(len(got), 100000)
        self.assertEqual(got, [f"element-{i}".encode() for i in range(100000)])


class TestResp3(ProxyTestCase):
    def test_resp3(self):
        # redis-py gained RESP3 (the `protocol=3` parameter) in 5.0. Debian's 4.3.4 has neither the
        # parameter nor a parser for RESP3 types (its PythonParser accepts only -+:$* and raises
        # InvalidResponse on %, ~, >, ...), so RESP3 cannot be exercised with this client.
        if "protocol" not in inspect.signature(redis.Redis.__init__).parameters:
            self.skipTest(f"redis-py {redis.__version__} does not support RESP3 (protocol=3 needs redis-py >= 5.0)")
        r3 = self.client(proxy_client(protocol=3))
        d3 = self.client(direct_client(protocol=3))
        self.assertIs(r3.set("k", "v"), True)
        self.assertEqual(r3.hset("h", mapping={"a": "1"}), 1)
        self.assertEqual(r3.hgetall("h"), d3.hgetall("h"))
        self.assertEqual(r3.hgetall("h"), {b"a": b"1"})
        self.assertEqual(r3.execute_command("HELLO", 3)[b"proto"], 3)


if __name__ == "__main__":
    unittest.main(verbosity=2)
