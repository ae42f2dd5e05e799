#!/usr/bin/env bash
# GET/SET/MGET of 10 keys through puppy-proxy in front of a 3-master Redis Cluster vs
# `redis-benchmark --cluster` straight to it, and the Redis commands behind each request. See
# bench/README.md. The work is done by cluster_bench.py (Python 3 standard library only); `--help`
# lists the options. The puppy-proxy binary: --proxy-bin PATH, else build/puppy-proxy.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
exec /usr/bin/python3 "$here/cluster_bench.py" "$@"
