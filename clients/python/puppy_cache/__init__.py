"""puppy_cache: django-puppy-cache's one-call ``pget(key, compute, timeout, update_time)`` on top
of puppy-proxy's PGET family (see docs/pget.md and clients/README.md).

    import redis
    from puppy_cache import PuppyCache

    cache = PuppyCache(redis.Redis(host="127.0.0.1", port=6380), timeout=300, update_time=30)
    value = cache.get("report:42", lambda: build_report_bytes(42))

One ``get`` is one ``PGET`` (plus ``PSET`` or ``PRELEASE`` when this caller regenerates):

* ``fresh`` / ``stale``: returns the stored value (a stale one at once, while someone else
  regenerates it).
* ``lease``: calls ``compute()``, stores the result with ``PSET`` and returns it (also when the
  ``PSET`` is refused because the lease was lost meanwhile). If ``compute()`` (or ``encode``)
  raises, the lease is given back with ``PRELEASE`` (``BACKOFF`` when a back-off is configured)
  and the exception propagates.
* ``miss`` (no value and someone else regenerates it): ``PGET`` is sent with ``WAIT``, so the
  proxy holds the request until the value is published and answers ``fresh``; if the lease holder
  gives up or vanishes meanwhile, this caller gets the lease and regenerates. If the wait runs out
  (or a back-off with no value is in force), ``on_miss`` decides: ``"raise"`` (default) raises
  ``PuppyCacheMiss``; ``"compute"`` calls ``compute()`` and returns its result without storing it.

Works with Debian's python3-redis (4.3.x): every command goes through ``execute_command`` and the
replies are read undecoded, so values stay bytes whatever the client's ``decode_responses``.
Thread-safe as long as the client is (a pooled ``redis.Redis`` is).
"""

import collections
import logging
import math
import numbers

__all__ = ["PuppyCache", "PuppyCacheError", "PuppyCacheMiss", "PuppyResult", "DEFAULT_MAX_WAIT_MS"]

log = logging.getLogger("puppy_cache")

# The longest a cold-miss WAIT lasts unless wait_ms says otherwise (it is also at most
# update_time * 1000, the proxy's limit, and stays below the client's socket timeout).
DEFAULT_MAX_WAIT_MS = 30_000

_STATES = ("fresh", "stale", "lease", "miss")

# What get_result() returns. state: the PGET answer that decided the outcome ("fresh", "stale",
# "lease" when this caller computed, "miss" when it computed without a lease, on_miss="compute").
# stored: for "lease", whether PSET stored the value (False: the lease had been lost); else None.
PuppyResult = collections.namedtuple("PuppyResult", "value state stored")


class PuppyCacheError(Exception):
    """Base class of this module's errors (Redis errors propagate as redis.RedisError)."""


class PuppyCacheMiss(PuppyCacheError):
    """No value, someone else holds the lease (or regeneration is backing off), and the wait ran
    out. Raised by get() with on_miss="raise"."""

    def __init__(self, key, waited_ms):
        self.key = key
        self.waited_ms = waited_ms
        super().__init__(
            f"puppy cache miss for {key!r}: no value, another client is regenerating it or "
            f"regeneration is backing off, and the wait ({waited_ms} ms) ran out")


def _whole_seconds(name, value, minimum=1):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} must be whole seconds, at least {minimum}; got {value!r}")
    return int(value)


def _default_encode(value):
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    raise TypeError(
        f"compute() returned {type(value).__name__}; puppy_cache stores bytes "
        "(pass encode=/decode= to PuppyCache to store other types)")


def _identity(value):
    return value


class PuppyCache:
    """Stale-while-revalidate caching through puppy-proxy.

    redis_client: a redis.Redis (pooled) connected to puppy-proxy.
    timeout: seconds a value stays fresh (PGET/PSET timeout). update_time: seconds a lease holder
    has to regenerate (the data key lives timeout + 2 * update_time).
    wait_ms: how long a cold miss waits for another client's regeneration. None: automatic,
    min(update_time * 1000, DEFAULT_MAX_WAIT_MS); 0: no wait. Always capped at update_time * 1000
    and below the client's socket_timeout (a socket timeout mid-wait would drop the connection).
    beta: XFetch early refresh factor (PGET BETA), None for none.
    backoff: seconds of stale-if-error after compute() fails (PRELEASE BACKOFF); 0/None: none.
    on_miss: "raise" (PuppyCacheMiss) or "compute" (compute without storing) when the wait runs out.
    encode/decode: value -> bytes before PSET, bytes -> value after PGET. By default values are
    bytes (bytearray/memoryview are accepted and stored as bytes; anything else is a TypeError).
    """

    def __init__(self, redis_client, timeout=300, update_time=30, wait_ms=None, beta=None,
                 backoff=None, on_miss="raise", encode=None, decode=None):
        self.redis = redis_client
        self.timeout = _whole_seconds("timeout", timeout)
        self.update_time = _whole_seconds("update_time", update_time)
        if wait_ms is not None and (isinstance(wait_ms, bool) or
                                    not isinstance(wait_ms, numbers.Integral) or wait_ms < 0):
            raise ValueError(f"wait_ms must be None or whole milliseconds >= 0; got {wait_ms!r}")
        self.wait_ms = None if wait_ms is None else int(wait_ms)
        if beta is not None:
            if (isinstance(beta, bool) or not isinstance(beta, numbers.Real) or
                    not math.isfinite(beta) or beta <= 0):
                raise ValueError(f"beta must be None or a positive number; got {beta!r}")
        self.beta = beta
        self.backoff = 0 if backoff is None else _whole_seconds("backoff", backoff, minimum=0)
        if on_miss not in ("raise", "compute"):
            raise ValueError(f"on_miss must be 'raise' or 'compute'; got {on_miss!r}")
        self.on_miss = on_miss
        self.encode = encode or _default_encode
        self.decode = decode or _identity
        # A single-connection client would hold its only connection during a WAIT, so the PSET
        # that ends the wait (from another thread) could not be sent until the wait ran out.
        if getattr(redis_client, "connection", None) is not None and self.wait_ms != 0:
            raise ValueError("a single_connection_client cannot wait for another caller's "
                             "regeneration; use a pooled client or wait_ms=0")

    # -- public API -------------------------------------------------------------------------

    def get(self, key, compute, timeout=None, update_time=None, backoff=None):
        """The value of key: cached (fresh or stale), or compute()'d and stored by this caller
        if it holds the lease. See the module docstring for every case."""
        return self.get_result(key, compute, timeout, update_time, backoff).value

    def get_result(self, key, compute, timeout=None, update_time=None, backoff=None):
        """Like get(), but returns PuppyResult(value, state, stored)."""
        timeout = self.timeout if timeout is None else _whole_seconds("timeout", timeout)
        update_time = (self.update_time if update_time is None
                       else _whole_seconds("update_time", update_time))
        backoff = self.backoff if backoff is None else _whole_seconds("backoff", backoff, 0)
        wait_ms = self.effective_wait_ms(update_time)

        args = ["PGET", key, timeout, update_time]
        if wait_ms:
            args += ["WAIT", wait_ms]
        if self.beta is not None:
            args += ["BETA", repr(float(self.beta))]
        state, value, token = self._pget(args)

        if state in ("fresh", "stale"):
            return PuppyResult(self.decode(value), state, None)
        if state == "lease":
            return self._regenerate(key, token, compute, timeout, update_time, backoff)
        if self.on_miss == "compute":
            return PuppyResult(compute(), "miss", None)
        raise PuppyCacheMiss(key, wait_ms)

    def invalidate(self, key):
        """PINVALIDATE: marks the value stale (the next get() regenerates it, others keep getting
        the old value meanwhile) and cancels a regeneration in flight. True if a value existed."""
        return bool(int(self.redis.execute_command("PINVALIDATE", key)))

    def effective_wait_ms(self, update_time=None):
        """The WAIT a cold miss uses for this update_time (0: none)."""
        update_time = self.update_time if update_time is None else update_time
        wait = min(DEFAULT_MAX_WAIT_MS if self.wait_ms is None else self.wait_ms,
                   update_time * 1000)
        pool = getattr(self.redis, "connection_pool", None)
        socket_timeout = getattr(pool, "connection_kwargs", {}).get("socket_timeout")
        if socket_timeout:
            limit_ms = int(socket_timeout * 1000)
            # Leave the reply time to arrive: a second, or half the timeout if that is shorter.
            wait = min(wait, limit_ms - min(1000, limit_ms // 2))
        return max(0, wait)

    # -- internals --------------------------------------------------------------------------

    def _pget(self, args):
        # NEVER_DECODE: bytes whatever the client's decode_responses.
        reply = self.redis.execute_command(*args, NEVER_DECODE=True)
        if not isinstance(reply, (list, tuple)) or len(reply) != 3:
            raise PuppyCacheError(f"unexpected PGET reply {reply!r} (is this puppy-proxy?)")
        state, value, token = reply
        state = state.decode("ascii", "replace") if isinstance(state, bytes) else str(state)
        if (state not in _STATES or (state in ("fresh", "stale") and value is None) or
                (state == "lease" and not token)):
            raise PuppyCacheError(f"unexpected PGET reply {reply!r}")
        return state, value, token

    def _regenerate(self, key, token, compute, timeout, update_time, backoff):
        try:
            value = compute()
            data = self.encode(value)
        except Exception as exc:
            self._release(key, token, backoff, exc)
            raise
        except BaseException as exc:  # KeyboardInterrupt, SystemExit...: not a backend failure
            self._release(key, token, 0, exc)
            raise
        stored = bool(int(self.redis.execute_command("PSET", key, token, data, timeout,
                                                     update_time)))
        if not stored:
            log.info("PSET %r refused: the lease was lost (invalidated, or compute took longer "
                     "than update_time=%ss); returning the computed value unstored",
                     key, update_time)
        return PuppyResult(value, "lease", stored)

    def _release(self, key, token, backoff, exc):
        args = ["PRELEASE", key, token] + (["BACKOFF", backoff] if backoff else [])
        try:
            self.redis.execute_command(*args)
        except Exception as release_error:
            # The lease then lapses by itself after update_time; the caller sees compute's error.
            log.warning("PRELEASE %r failed: %r", key, release_error)
            if hasattr(exc, "add_note"):
                exc.add_note(f"puppy_cache: PRELEASE failed too: {release_error!r}")
