#pragma once
// Helpers for the TLS tests: the proxy's TLS arguments and TLS clients, all with the test PKI of
// tests/tls/make_certs.sh (CA, server certificate for localhost and 127.0.0.1, client
// certificate, an unrelated CA).
#include <string>
#include <vector>

#include "client.hpp"
#include "servers.hpp"

namespace puppy::test {

// A path in the test PKI.
inline std::string pki(const std::string& file) {
  return test_pki() + "/" + file;
}

// A TLS listener on a free port with the PKI's server certificate.
inline std::vector<std::string> tls_listener_args() {
  return {"--tls-listen",    "127.0.0.1:0",    "--tls-cert-file",
          pki("server.crt"), "--tls-key-file", pki("server.key")};
}

// Trust the PKI's CA for the upstream's certificate.
inline std::vector<std::string> upstream_ca_args() {
  return {"--upstream-tls-ca-cert-file", pki("ca.crt")};
}

// The proxy's client certificate, for a Redis with tls-auth-clients yes.
inline std::vector<std::string> upstream_cert_args() {
  return {"--upstream-tls-cert-file", pki("client.crt"), "--upstream-tls-key-file",
          pki("client.key")};
}

inline std::vector<std::string> join(std::vector<std::string> a,
                                     const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// A TLS client checking the server's certificate against the PKI's CA.
inline client_options tls_client(bool with_certificate = false, int receive_buffer = 0) {
  client_options o;
  o.tls = true;
  o.ca_file = pki("ca.crt");
  o.server_name = "localhost";
  if (with_certificate) {
    o.cert_file = pki("client.crt");
    o.key_file = pki("client.key");
  }
  o.receive_buffer = receive_buffer;
  return o;
}

// The body of the admin listener's /readyz ("ready\n", "not ready: ...\n").
inline std::string readyz(std::uint16_t metrics_port) {
  raw_client c(metrics_port);
  c.send("GET /readyz HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
  const std::string all = c.read_until_closed();
  const auto end = all.find("\r\n\r\n");
  return end == std::string::npos ? all : all.substr(end + 4);
}

// "$<len>\r\n<value>\r\n"
inline std::string bulk(const std::string& value) {
  return "$" + std::to_string(value.size()) + "\r\n" + value + "\r\n";
}

}  // namespace puppy::test
