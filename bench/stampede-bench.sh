#!/usr/bin/env bash
# Cache stampede: the naive get-or-compute pattern against Redis vs PGET through puppy-proxy:
# computations per expiry and get() latency. See bench/README.md. The work is done by
# stampede_bench.py (Python 3 standard library only); `--help` lists the options.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
exec /usr/bin/python3 "$here/stampede_bench.py" "$@"
