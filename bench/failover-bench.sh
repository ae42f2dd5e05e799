#!/usr/bin/env bash
# Primary failover: the time from SENTINEL FAILOVER, a SIGKILL of the primary or a managed
# endpoint's promotion to the first write through the proxy on the new primary, over repeated
# runs of the sentinel tests' scenarios. See bench/README.md. The work is done by
# failover_bench.py (Python 3 standard library only); `--help` lists the options.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
exec /usr/bin/python3 "$here/failover_bench.py" "$@"
