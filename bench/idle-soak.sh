#!/usr/bin/env bash
# Memory per idle client connection of puppy-proxy (10,000 idle clients by default) and
# redis-benchmark throughput through it with and without them. See bench/README.md. The work is
# done by idle_soak.py (Python 3 standard library only); `--help` lists the options.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# One descriptor per idle connection in the helper; the proxy raises its own limit to fit
# --max-clients (up to the hard limit inherited from here).
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
exec /usr/bin/python3 "$here/idle_soak.py" "$@"
