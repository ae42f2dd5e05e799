#!/bin/bash
# Health check of the puppy-proxy container (docker/Dockerfile's HEALTHCHECK; installed as
# /usr/local/bin/puppy-proxy-healthcheck). Needs only bash: /dev/tcp, no redis-cli.
#   puppy-proxy-healthcheck [--any-reply] [HOST [PORT]]     (default 127.0.0.1 6380)
# Sends PING (after AUTH with $PUPPY_REQUIREPASS when that is set) and exits 0 on +PONG, i.e. when
# the proxy and its upstream answer. --any-reply: exit 0 on any RESP reply (the proxy itself
# is alive even if its upstream is not: -ERR upstream unavailable). Else exits 1 and says why.
set -u
export LC_ALL=C  # ${#password} counts bytes

usage() { sed -n '4,7s/^# \{0,1\}//p' "$0"; }
any_reply=0
case ${1-} in
  --help | -h) usage; exit 0 ;;
  --any-reply) any_reply=1; shift ;;
  -*) echo "puppy-proxy-healthcheck: unknown option $1" >&2; usage >&2; exit 2 ;;
esac
host=${1:-127.0.0.1} port=${2:-6380}

fail() { echo "puppy-proxy-healthcheck: $*" >&2; exit 1; }
# One RESP reply line, without its CR; fails after 2 s of silence.
reply() {
  local line
  IFS= read -r -t 2 line <&3 || fail "no reply from $host:$port"
  printf '%s' "${line%$'\r'}"
}

{ exec 3<>"/dev/tcp/$host/$port"; } 2>/dev/null || fail "cannot connect to $host:$port"
if [ -n "${PUPPY_REQUIREPASS-}" ]; then
  # shellcheck disable=SC2016  # RESP: $4 is a literal bulk header
  printf '*2\r\n$4\r\nAUTH\r\n$%d\r\n%s\r\n' "${#PUPPY_REQUIREPASS}" "$PUPPY_REQUIREPASS" >&3
  r=$(reply) || exit 1
  [[ $r == +OK ]] || [ "$any_reply" = 1 ] || fail "AUTH answered: $r"
fi
# shellcheck disable=SC2016
printf '*1\r\n$4\r\nPING\r\n' >&3
r=$(reply) || exit 1
if [ "$any_reply" = 1 ]; then
  [[ $r == [-+:\$*_,#%~=\(!\>\|]* ]] || fail "not a RESP reply: $r"
else
  [[ $r == +PONG ]] || fail "PING answered: $r"
fi
exit 0
