#!/usr/bin/env bash
# Installs every Debian 12 package that building, testing and benchmarking puppy-proxy needs,
# and the npm packages of the Node client tests. Installs only what is missing; as root it runs
# apt-get, otherwise it prints the exact command to run and exits 1.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  build-essential cmake pkg-config git
  libboost-dev libhiredis-dev libspdlog-dev libcli11-dev catch2 libssl-dev
  redis-server redis-tools memcached nutcracker libmemcached-tools
  python3 python3-redis nodejs npm
  valgrind procps iproute2
  clang libclang-rt-14-dev  # libFuzzer and its sanitizer runtimes (scripts/fuzz.sh)
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
# The machine may carry its own node/npm outside Debian's packages; that is fine.
if command -v node >/dev/null && command -v npm >/dev/null; then
  tmp=(); for p in "${missing[@]}"; do [[ $p == nodejs || $p == npm ]] || tmp+=("$p"); done
  missing=("${tmp[@]+"${tmp[@]}"}")
fi

if [ ${#missing[@]} -gt 0 ]; then
  cmd="apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ${missing[*]}"
  if [ "$(id -u)" = 0 ]; then
    echo "install-deps: installing ${missing[*]}"
    # Debian's redis-server/memcached packages try to start a system service; tests start their own.
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
    bash -c "$cmd"
  else
    echo "install-deps: missing packages; run as root:" >&2
    echo "  sudo bash -c '$cmd'" >&2
    exit 1
  fi
fi

# Node client tests (ioredis): pinned by tests/clients/node/package-lock.json.
if [ -f tests/clients/node/package.json ] && [ ! -d tests/clients/node/node_modules/ioredis ]; then
  (cd tests/clients/node && npm ci --no-audit --no-fund --loglevel=error)
fi
