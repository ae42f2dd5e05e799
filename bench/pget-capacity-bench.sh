#!/usr/bin/env bash
# PGET fresh-hit capacity, near cache off and on (1 and 2 threads), against GET through the proxy
# and GET straight to Redis, driven by bench/loadgen.c (a load generator that is not the
# bottleneck, unlike redis-benchmark). See bench/README.md. The work is done by
# pget_capacity_bench.py (Python 3 standard library only); `--help` lists the options.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
exec /usr/bin/python3 "$here/pget_capacity_bench.py" "$@"
