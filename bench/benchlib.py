"""Shared helpers for the puppy-proxy benchmark scripts (Python 3 standard library only).

The scripts import this module alone (`import benchlib as bl`); it re-exports the helpers, which
live in a few modules beside it, each name defined in exactly one of them:

- bench_process.py: paths, logging, starting and stopping processes (the one registry of the
  running ones, _procs, and the clean-up on exit, Ctrl-C, SIGTERM or SIGHUP), free ports,
  readiness by polling, CPU time, the open-file limit, compiling the C helpers;
- bench_protocol.py: Redis, memcached and Redis Cluster protocol helpers: one-shot commands,
  readiness probes, a tiny RESP client, INFO commandstats, PUPPY STATS, PGET/PSET set-up;
- bench_servers.py: redis-server, a Redis Cluster, puppy-proxy, twemproxy, memcached and the
  delaying relay, each started on a free port and ready;
- bench_runs.py: redis-benchmark: command lines, its CSV, calibration, interleaved rounds,
  time-outs, raw.csv records, what to check after a failed run;
- bench_report.py: the options the scripts share, the results folder, meta.txt, tables, CSV
  files and the summary.

Process handling: every server is started in its own session with PR_SET_PDEATHSIG=SIGTERM, so
it goes away even if the script itself is killed with SIGKILL; on normal exit, Ctrl-C, SIGTERM
or SIGHUP the registered cleanup stops everything that is still running (SIGTERM, then SIGKILL).

Readiness is established by polling, never by sleeping a fixed time: a server counts as ready
once /proc shows *that process* (same pid, which holds through `taskset` and `valgrind`, both
exec in place) listening on the expected port, followed by an end-to-end GET.
"""

from bench_process import *  # noqa: F401,F403
# `import *` leaves out names starting with "_": the registry of running processes (the list
# itself, never rebound, so `p in bl._procs` sees the one cleanup() stops).
from bench_process import _procs  # noqa: F401
from bench_protocol import *  # noqa: F401,F403
from bench_servers import *  # noqa: F401,F403
from bench_runs import *  # noqa: F401,F403
from bench_report import *  # noqa: F401,F403
