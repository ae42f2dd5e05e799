#!/usr/bin/env bash
# What a PGET fresh hit costs Redis in every form (commands, commandstats usec and Redis CPU per
# call) against one MGET of two keys, and the Redis commands behind waking 1,000 waiters with one
# PSET. See bench/README.md. The work is done by pget_cost_bench.py (Python 3 standard library
# only, plus the system python3-redis and tests/clients/node's ioredis for the helper forms);
# `--help` lists the options.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# One descriptor per waiting connection (1,000 by default).
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
exec /usr/bin/python3 "$here/pget_cost_bench.py" "$@"
