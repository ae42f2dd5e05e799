#!/usr/bin/env bash
# Installs every Debian 12 package that building, testing and benchmarking puppy-proxy needs,
# and the npm packages of the Node client tests. Installs only what is missing; as root it runs
# apt-get, otherwise it prints the exact command to run and exits 1.
#   --build-only  only what building the puppy-proxy binary needs (compiler, cmake, -dev
#                 packages; no test servers, no npm), as docker/Dockerfile's build stage uses it
#   --print       print the selected packages, one a line, and exit without installing
set -euo pipefail
cd "$(dirname "$0")/.."

build_only=0 print_only=0
for arg in "$@"; do
  case $arg in
    --build-only) build_only=1 ;;
    --print) print_only=1 ;;
    *) echo "install-deps: unknown option $arg (known: --build-only, --print)" >&2; exit 2 ;;
  esac
done

if [ "$build_only" = 1 ]; then
  # Enough for `scripts/build.sh -DBUILD_TESTING=OFF`: the proxy's libraries and binary.
  packages=(build-essential cmake pkg-config libboost-dev libhiredis-dev libspdlog-dev libcli11-dev
    libssl-dev)
else
packages=(
  build-essential cmake pkg-config git
  libboost-dev libhiredis-dev libspdlog-dev libcli11-dev catch2 libssl-dev
  redis-server redis-tools memcached nutcracker libmemcached-tools
  openssl  # the TLS tests' throwaway certificates (tests/tls/make_certs.sh)
  python3 python3-redis nodejs npm
  # the Django backend (clients/python, tests/clients/django, examples/django) and installing
  # its package with Debian's pip into a venv
  python3-django python3-django-redis python3-venv python3-setuptools
  # PGET examples in other languages (tests/clients/*/, docs/pget.md): each client library and
  # its interpreter or compiler
  ruby-redis php-cli php-redis libredis-perl lua-redis lua5.1
  golang-go golang-gopkg-redis.v5-dev  # go-redis v5 in /usr/share/gocode; Go is ~460 MB
  valgrind procps iproute2
  clang libclang-rt-14-dev  # libFuzzer and its sanitizer runtimes (scripts/fuzz.sh)
)
fi
if [ "$print_only" = 1 ]; then
  printf '%s\n' "${packages[@]}"
  exit 0
fi

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

# Node client tests (ioredis, node-redis): pinned by tests/clients/node/package-lock.json. Runs
# when either is missing, so a checkout installed before one was added gets it too.
if [ "$build_only" = 0 ] && [ -f tests/clients/node/package.json ] \
  && { [ ! -d tests/clients/node/node_modules/ioredis ] \
       || [ ! -d tests/clients/node/node_modules/redis ]; }; then
  (cd tests/clients/node && npm ci --no-audit --no-fund --loglevel=error)
fi
