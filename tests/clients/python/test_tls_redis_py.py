#!/usr/bin/python3
"""python3-redis over TLS through puppy-proxy's TLS listener to a TLS Redis.

Run by the CTest test `tls` (tests/integration/tls_listener_test.cpp), which starts a redis-server
with TLS only and a puppy-proxy with --tls-listen and a rediss:// upstream, and exports
PUPPY_PROXY_TLS_PORT, PUPPY_REDIS_TLS_PORT and PUPPY_TLS_DIR (the throwaway test PKI of
tests/tls/make_certs.sh). Uses Debian's python3-redis (4.3.4) and stdlib unittest only, so it
must run under /usr/bin/python3.

Every call is made through the proxy and straight to Redis (both over TLS, the server
certificate checked against the test CA), and the results must be equal.
"""

import os
import sys
import unittest

import redis


def _env(name):
    value = os.environ.get(name)
    if not value:
        sys.exit(f"{name} is not set; run this through the CTest test tls")
    return value


PROXY_PORT = int(_env("PUPPY_PROXY_TLS_PORT"))
REDIS_PORT = int(_env("PUPPY_REDIS_TLS_PORT"))
CA = os.path.join(_env("PUPPY_TLS_DIR"), "ca.crt")


def tls_client(port):
    return redis.Redis(host="127.0.0.1", port=port, ssl=True, ssl_ca_certs=CA,
                       ssl_cert_reqs="required", socket_timeout=30, socket_connect_timeout=10)


class TlsThroughProxy(unittest.TestCase):
    def setUp(self):
        self.r = tls_client(PROXY_PORT)
        self.direct = tls_client(REDIS_PORT)
        self.direct.flushall()

    def tearDown(self):
        self.r.close()
        self.direct.close()

    def test_round_trip(self):
        self.assertTrue(self.r.set("greeting", "hello"))
        self.assertEqual(self.r.get("greeting"), b"hello")
        self.assertEqual(self.direct.get("greeting"), b"hello")
        self.assertEqual(self.r.delete("greeting"), 1)
        self.assertIsNone(self.r.get("greeting"))

    def test_pipeline_of_1000(self):
        def run(client):
            pipe = client.pipeline(transaction=False)
            for i in range(1000):
                pipe.set(f"k{i}", f"v{i}" * (i % 50))
                pipe.get(f"k{i}")
                pipe.incr("n")
            return pipe.execute()

        through_proxy = run(self.r)
        self.direct.flushall()
        self.assertEqual(through_proxy, run(self.direct))
        self.assertEqual(through_proxy[-1], 1000)

    def test_one_mebibyte_values(self):
        value = os.urandom(1 << 20)
        self.assertTrue(self.r.set("big", value))
        self.assertEqual(self.r.get("big"), value)
        self.assertEqual(self.direct.get("big"), value)

    def test_transaction(self):
        pipe = self.r.pipeline(transaction=True)
        pipe.set("a", 1).incr("a").get("a")
        self.assertEqual(pipe.execute(), [True, 2, b"2"])

    def test_pubsub(self):
        p = self.r.pubsub()
        p.subscribe("news")
        self.assertEqual(p.get_message(timeout=10)["type"], "subscribe")
        self.assertEqual(self.direct.publish("news", "hi"), 1)
        message = p.get_message(timeout=10)
        self.assertEqual((message["type"], message["data"]), ("message", b"hi"))
        p.close()


if __name__ == "__main__":
    unittest.main(verbosity=2)
