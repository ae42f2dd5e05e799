#!/usr/bin/python3
"""A minimal Django project whose view caches through puppy-proxy with cache.pget.

    ./scripts/run                                   # puppy-proxy on 127.0.0.1:6380 (terminal 1)
    examples/django/manage.py runserver             # http://127.0.0.1:8000/report/7 (terminal 2)
    examples/django/manage.py test shop             # Django's test client against the proxy

PUPPY_PROXY_URL overrides the proxy's address (default redis://127.0.0.1:6380/0). Uses Debian's
python3-django and python3-django-redis, and puppy_cache from clients/python (installed with pip,
or taken from the checkout as here).
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))

if __name__ == "__main__":
    sys.path.insert(0, HERE)
    # The package from this checkout unless one is installed.
    sys.path.append(os.path.join(HERE, "..", "..", "clients", "python"))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shop.settings")
    from django.core.management import execute_from_command_line
    execute_from_command_line(sys.argv)
