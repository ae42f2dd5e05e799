#!/usr/bin/python3
"""Runs the Django backend's tests (puppy_cache.django.PuppyCache) with Django's own test runner
against a real puppy-proxy.

Run by CTest as `with_servers [--memcached] /usr/bin/python3 run_tests.py [MODULE...]` (see
tests/clients/CMakeLists.txt): with_servers exports PUPPY_PROXY_PORT and PUPPY_REDIS_PORT (or
PUPPY_MEMCACHED_PORT when the proxy's upstream is a memcached). Uses Debian's python3-django
(3.2) and python3-django-redis (5.2); the package under test is taken from clients/python.
"""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "..", "clients", "python"))
sys.path.insert(0, HERE)

import django  # noqa: E402
from django.conf import settings  # noqa: E402
from django.test.utils import get_runner  # noqa: E402


def main(argv):
    proxy_port = os.environ.get("PUPPY_PROXY_PORT")
    if not proxy_port:
        sys.exit("PUPPY_PROXY_PORT is not set; run this through with_servers")
    settings.configure(
        DEBUG=False,
        DATABASES={},
        INSTALLED_APPS=[],
        CACHES={
            "default": {
                "BACKEND": "puppy_cache.django.PuppyCache",
                "LOCATION": f"redis://127.0.0.1:{proxy_port}/0",
                "TIMEOUT": 120,
                # Bounded, so that a proxy that never answers fails the test instead of hanging
                # it; the backend keeps its waits below it.
                "OPTIONS": {"SOCKET_TIMEOUT": 30, "SOCKET_CONNECT_TIMEOUT": 5},
            },
        },
    )
    django.setup()
    modules = argv[1:] or ["test_backend"]
    runner = get_runner(settings)(verbosity=2, interactive=False, failfast=False)
    failures = runner.run_tests(modules)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
