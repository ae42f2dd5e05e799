#!/usr/bin/env bash
# check_package.sh SOURCE VENV: installs the puppy_cache package from SOURCE (clients/python) the
# way its README says, with Debian's python3 -m venv/pip/setuptools and no package index, into a
# fresh VENV, and imports both of its modules from there (not from the source tree).
set -euo pipefail
src=$1 venv=$2
rm -rf "$venv"
/usr/bin/python3 -m venv --system-site-packages "$venv"
# A copy, so that setuptools' build/ and *.egg-info/ never land in the checkout.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -r "$src" "$work/src"
"$venv/bin/pip" install --quiet --no-build-isolation --no-index "$work/src"
cd "$work"
"$venv/bin/python" - <<'PY'
import importlib.metadata, os
import django
from django.conf import settings
settings.configure(CACHES={"default": {"BACKEND": "puppy_cache.django.PuppyCache",
                                       "LOCATION": "redis://127.0.0.1:1/0"}})
django.setup()
import puppy_cache
import puppy_cache.django
from django.core.cache import caches
cache = caches["default"]
assert "site-packages" in puppy_cache.__file__, puppy_cache.__file__
assert isinstance(cache, puppy_cache.django.PuppyCache), type(cache)
assert callable(cache.pget) and callable(cache.pinvalidate)
assert importlib.metadata.version("puppy-cache") == "0.2.0"
print("puppy_cache installed at", os.path.dirname(puppy_cache.__file__))
PY
