#!/usr/bin/env bash
# Instructions (callgrind Ir) and system calls per request for redis-server, puppy-proxy and
# twemproxy. See bench/README.md. The work is done by callgrind_bench.py (Python 3 standard
# library only); `--help` lists the options.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
exec /usr/bin/python3 "$here/callgrind_bench.py" "$@"
