#!/usr/bin/env bash
# Eviction policy of the near cache: replays Zipf, scan and loop traces against the real
# puppy::cache::near_cache (S3-FIFO) and against an LRU with the same byte accounting; hit ratios
# and ns per access. See bench/README.md ("near-cache-policy.sh"). Compiles
# bench/near_cache_policy.cpp directly against src/cache/near_cache.cpp (no cmake, no build/);
# every option is passed to the program (--help lists them). Results go to
# bench/results/<timestamp>-near-cache-policy/.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$here")"
if [[ " $* " == *" --help "* || " $* " == *" -h "* ]]; then
  sed -n '/^\/\/ Traces/,/^#include/p' "$here/near_cache_policy.cpp" | sed '$d'
  echo "options: --keys N (1000000) --accesses N (4000000) --warmup-percent P (20) --value-size B (100)"
  echo "         --sizes P,P,... (1,5,10) --traces zipf-0.8,zipf-1.0,zipf-1.2,zipf-scan,loop"
  echo "         --scan-every N (80000) --scan-len N (20000) --rounds R (3) --seed S (42)"
  exit 0
fi
out="$here/results/$(date +%Y%m%d-%H%M%S)-near-cache-policy"
mkdir -p "$out"
# The near cache needs only its own source: write_gens is defined there, and the counters of
# metrics/stats.hpp it uses are header-only.
sources=(src/cache/near_cache.cpp)
cmd=(g++ -O2 -std=c++17 -Wall -Wextra -I "$repo/include" "$here/near_cache_policy.cpp")
for s in "${sources[@]}"; do cmd+=("$repo/$s"); done
cmd+=(-o "$out/near_cache_policy")
{
  echo "command: $0 $*"
  echo "compile: ${cmd[*]}"
  echo "compiler: $(g++ --version | head -1)"
  echo "work tree: git $(git -C "$repo" describe --always --dirty 2>/dev/null || echo ?)"
  for f in include/puppy/cache/near_cache.hpp "${sources[@]}" bench/near_cache_policy.cpp; do
    echo "sha256 $f: $(sha256sum "$repo/$f" | cut -c1-16)"
  done
  echo "cpus: $(nproc); loadavg at start: $(cat /proc/loadavg)"
} > "$out/meta.txt"
echo "[$(date +%T)] compiling into $out" >&2
"${cmd[@]}"
echo "[$(date +%T)] running" >&2
start=$SECONDS
"$out/near_cache_policy" --accesses 4000000 "$@" --csv "$out/results.csv" | tee "$out/summary.txt"
{
  echo
  echo "$((SECONDS - start))s; load average at end $(cat /proc/loadavg); results in $out"
} | tee -a "$out/summary.txt"
echo "loadavg at end: $(cat /proc/loadavg)" >> "$out/meta.txt"
