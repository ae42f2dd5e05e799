#!/usr/bin/env bash
# What TLS costs through puppy-proxy, and the plain path against another build. See bench/README.md.
# The work is done by tls_bench.py (Python 3 standard library only); `--help` lists the options.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
exec /usr/bin/python3 "$here/tls_bench.py" "$@"
