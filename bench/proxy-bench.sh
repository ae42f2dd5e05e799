#!/usr/bin/env bash
# Throughput/latency of puppy-proxy and twemproxy relative to direct Redis. See bench/README.md.
# The work is done by proxy_bench.py (Python 3 standard library only); `--help` lists the options.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
exec /usr/bin/python3 "$here/proxy_bench.py" "$@"
