#!/usr/bin/env bash
# Throughput/latency of PGET on a fresh key through puppy-proxy with the near cache off and on,
# against GET through the proxy, and GET / MGET key puppy:key straight to Redis as references.
# See bench/README.md. The work is done by pget_bench.py (Python 3 standard library only);
# `--help` lists the options.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
exec /usr/bin/python3 "$here/pget_bench.py" "$@"
