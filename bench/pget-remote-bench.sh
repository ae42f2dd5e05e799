#!/usr/bin/env bash
# Redis across a network: latency of a PGET fresh hit through puppy-proxy with the near cache
# against GET straight to Redis, both through a relay that holds every byte 0.5 ms each way
# (bench/delay_relay.c; this kernel has no tc netem), with PGET through the proxy without the
# near cache for reference. One request at a time per client (c1, c4), thousands of samples.
# See bench/README.md. pget_bench.py does the work with these defaults; options given here
# override them (`--help` lists them all).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PGET_BENCH_PROG=pget-remote-bench.sh exec /usr/bin/python3 "$here/pget_bench.py" \
  --relay-delay-ms 0.5 --cases c1,c4 --requests 4000 "$@"
