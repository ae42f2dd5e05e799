#pragma once
// TLS configuration built once at start-up: an OpenSSL SSL_CTX (made and configured through
// Boost.Asio's ssl::context) and, for the client side, what to check about the server. One
// context is shared by every connection of every worker thread; OpenSSL allows that as long as
// nothing changes the context once connections use it, and nothing does.
#include <memory>
#include <stdexcept>
#include <string>

struct ssl_ctx_st;
namespace boost::asio::ssl {
class context;
}

namespace puppy::net {

// A TLS setting that cannot be used; what() names the option at fault and why.
class tls_config_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Whether the other side must show a certificate signed by ca_cert_file. For a server these are
// Redis's tls-auth-clients no / yes / optional; for a client, required is --upstream-tls-verify
// yes (none: any certificate is accepted, for testing only).
enum class peer_check { none, required, optional };

struct tls_options {
  // How the options are called on the command line, "--tls" or "--upstream-tls": a message
  // about cert_file names "<prefix>-cert-file".
  std::string option_prefix;
  std::string cert_file;     // PEM certificate chain (a server's, or a client's own); may be empty
  std::string key_file;      // PEM private key of cert_file, unencrypted; with cert_file only
  std::string ca_cert_file;  // PEM CAs that sign the other side's certificate; empty: client
                             // side: the system's CAs; server side: no client certificates
  peer_check check = peer_check::none;
  // Client side only: the name sent as SNI and required in the server's certificate. An IP
  // address is not sent (SNI carries names only) and is checked against the certificate's IP
  // addresses instead. Empty: no SNI, and no name check.
  std::string server_name;
};

class tls_context {
 public:
  // Throws tls_config_error for a file that cannot be read or is not PEM, a key that does not
  // match its certificate, a key without a certificate, client certificates required without a
  // CA to check them against.
  static std::shared_ptr<const tls_context> server(const tls_options& options);
  static std::shared_ptr<const tls_context> client(const tls_options& options);

  ssl_ctx_st* native() const;
  bool is_server() const { return server_; }
  // Client side: the SNI to send (empty: none), and the DNS name or IP address the server's
  // certificate must carry (empty: not checked).
  const std::string& sni() const { return sni_; }
  const std::string& check_name() const { return check_name_; }
  const std::string& check_ip() const { return check_ip_; }

 private:
  tls_context() = default;
  std::shared_ptr<boost::asio::ssl::context> ctx_;
  bool server_ = false;
  std::string sni_;
  std::string check_name_;
  std::string check_ip_;
};

}  // namespace puppy::net
