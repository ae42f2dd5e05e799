"""puppy_cache.django: a Django cache backend for puppy-proxy that drops in for django-puppy-cache.

Switching is one settings line (``LOCATION`` then names the proxy instead of Redis)::

    CACHES = {
        "default": {
            "BACKEND": "puppy_cache.django.PuppyCache",   # was "puppy.redis.PuppyCache"
            "LOCATION": "redis://127.0.0.1:6380/0",        # puppy-proxy
        }
    }

    from django.core.cache import cache
    report = cache.pget("report:42", lambda made_key: build_report(42), timeout=300, update_time=30)

It is django-redis's ``RedisCache`` (Debian 12: python3-django-redis 5.2) with the seed's API on top:

* ``pget(key, callback, timeout=None, update_time=30, version=None)``: the value of ``key``, fresh
  or stale; on a miss or after expiry exactly one caller (across every process and every proxy on
  the same Redis) calls ``callback(made_key)`` with the key as ``make_key`` made it, stores the
  result and returns it; the others get the stale value at once, or wait (``PGET ... WAIT``, no
  polling) on a cold miss. ``timeout=None`` is the cache's default timeout. A ``None`` from the
  callback is cached like any value. If the callback raises, the lease is given back
  (``PRELEASE``) so the next caller regenerates, and the exception propagates.
* ``pinvalidate(key, version=None)``: marks the value stale (the next ``pget`` regenerates it, the
  others keep the old value meanwhile); ``True`` if a value existed.
* Values go through django-redis's serializer and compressor (``client.encode``/``decode``), so
  ``get``/``set``/``delete`` and ``pget`` see the same values, and the keys are the ones
  django-puppy-cache uses (the made key, its status ``puppy:<made key>``): old and new app servers
  can share a Redis during a rolling migration (docs/pget.md, "Migrating from django-puppy-cache").

Works the same when the proxy's upstream is a memcached pool (``--upstream memcached://...``):
the backend only ever talks to the proxy.
"""

import math
import numbers

from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django_redis.cache import RedisCache

from . import PuppyCache as _Helper
from . import PuppyCacheMiss

__all__ = ["PuppyCache", "LONGEST_TIMEOUT"]

# PGET's longest timeout (the proxy's limit, about 31 years): what a cache whose TIMEOUT is None
# ("never expires" in Django) gives pget.
LONGEST_TIMEOUT = 1_000_000_000


def _pget_timeout(timeout):
    """Django timeouts may be floats; PGET takes whole seconds >= 1 (rounded up)."""
    if timeout is None:
        return LONGEST_TIMEOUT
    if isinstance(timeout, bool) or not isinstance(timeout, numbers.Real) or not timeout > 0:
        raise ValueError(f"pget needs a timeout > 0 seconds (or None); got {timeout!r}")
    return min(LONGEST_TIMEOUT, max(1, math.ceil(timeout)))


class PuppyCache(RedisCache):
    """django-redis's RedisCache pointed at puppy-proxy, with django-puppy-cache's pget()."""

    def pget(self, key, callback, timeout=None, update_time=30, version=None):
        made = self.client.make_key(key, version=version)
        if timeout is None or timeout is DEFAULT_TIMEOUT:
            timeout = self.default_timeout
        helper = _Helper(self.client.get_client(write=True), timeout=_pget_timeout(timeout),
                         update_time=update_time, encode=self.client.encode,
                         decode=self.client.decode)
        try:
            return helper.get(made, lambda: callback(made))
        except PuppyCacheMiss:
            # No value, someone else regenerating it, and the wait ran out (it lasts up to
            # update_time): what django-puppy-cache's reader returns when its polling ends.
            return None

    def pinvalidate(self, key, version=None):
        made = self.client.make_key(key, version=version)
        return bool(int(self.client.get_client(write=True).execute_command("PINVALIDATE", made)))
