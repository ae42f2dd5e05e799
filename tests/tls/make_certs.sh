#!/usr/bin/env bash
# make_certs.sh DIR: a throwaway test PKI for the TLS tests, made fresh at test time (CTest
# fixture tls_certs), never committed. EC P-256 keys (fast to make), valid ten years:
#   ca.crt/ca.key              the test CA
#   server.crt/server.key      signed by it: CN localhost, SAN DNS:localhost and IP:127.0.0.1
#   client.crt/client.key      signed by it: a client certificate (clientAuth)
#   other-ca.crt/other-ca.key  an unrelated CA, for certificate checks that must fail
#   bad.pem                    not PEM at all, for start-up checks
set -euo pipefail
dir=${1:?usage: make_certs.sh DIR}
mkdir -p "$dir"
cd "$dir"
key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }
ca() {  # ca NAME CN
  key "$1.key"
  openssl req -x509 -new -key "$1.key" -out "$1.crt" -days 3650 -subj "/CN=$2" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
}
leaf() {  # leaf NAME CN SERIAL EXTENSIONS
  key "$1.key"
  openssl req -new -key "$1.key" -out "$1.csr" -subj "/CN=$2"
  printf '%s\n' "$4" >"$1.ext"
  openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -set_serial "$3" -days 3650 \
    -extfile "$1.ext" -out "$1.crt" 2>/dev/null
  rm -f "$1.csr" "$1.ext"
}
ca ca "puppy-proxy test CA"
ca other-ca "unrelated test CA"
leaf server localhost 1001 "subjectAltName=DNS:localhost,IP:127.0.0.1
extendedKeyUsage=serverAuth"
leaf client puppy-test-client 1002 "extendedKeyUsage=clientAuth"
echo "this is not a PEM file" >bad.pem
chmod 600 ./*.key
