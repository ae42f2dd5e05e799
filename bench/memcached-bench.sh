#!/usr/bin/env bash
# GET/SET through puppy-proxy over memcached vs over Redis, with memcached itself and twemproxy over
# memcached as references. See bench/README.md. The work is done by memcached_bench.py (Python 3
# standard library; it compiles its small memcached loader with cc); `--help` lists the options.
# The puppy-proxy binary: --proxy-bin PATH, else $PUPPY_PROXY_BIN, else build/puppy-proxy.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
exec /usr/bin/python3 "$here/memcached_bench.py" "$@"
