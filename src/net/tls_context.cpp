#include "puppy/net/tls_context.hpp"

#include <openssl/ssl.h>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ssl/context.hpp>
#include <cerrno>
#include <cstdio>
#include <cstring>

namespace puppy::net {
namespace ssl = boost::asio::ssl;
using boost::system::error_code;

namespace {

// Session resumption with client certificates needs a session id context, or a resuming client
// is refused ("session id context uninitialized"). Any fixed string will do.
constexpr char session_id_context[] = "puppy-proxy";

[[noreturn]] void fail(const tls_options& o, const char* option, const std::string& file,
                       const std::string& why) {
  throw tls_config_error(o.option_prefix + option + " " + file + ": " + why);
}

// Fails with the OS's reason if the file cannot be opened for reading: a clearer message than
// OpenSSL's for the commonest mistake (a wrong path, a file the proxy's user may not read).
void require_readable(const tls_options& o, const char* option, const std::string& file) {
  std::FILE* f = std::fopen(file.c_str(), "r");
  if (f == nullptr) fail(o, option, file, std::string("cannot read it: ") + std::strerror(errno));
  std::fclose(f);
}

std::shared_ptr<ssl::context> make_context(ssl::context::method method) {
  auto ctx = std::make_shared<ssl::context>(method);
  SSL_CTX* native = ctx->native_handle();
  SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION);
  // No renegotiation (Redis has none; it would let a read need a write mid-stream for no gain).
  // A peer closing TCP without close_notify reads as an end of stream, as a plain socket's
  // close does: RESP is self-delimiting, so a cut reply is seen as such by whoever reads it.
  SSL_CTX_set_options(native, SSL_OP_NO_RENEGOTIATION | SSL_OP_IGNORE_UNEXPECTED_EOF);
  return ctx;
}

// The certificate chain and its key, if given (a server's, or a client's own).
void load_identity(ssl::context& ctx, const tls_options& o) {
  if (o.cert_file.empty() && o.key_file.empty()) return;
  if (o.cert_file.empty()) {
    throw tls_config_error(o.option_prefix + "-key-file needs " + o.option_prefix + "-cert-file");
  }
  if (o.key_file.empty()) {
    throw tls_config_error(o.option_prefix + "-cert-file needs " + o.option_prefix + "-key-file");
  }
  require_readable(o, "-cert-file", o.cert_file);
  require_readable(o, "-key-file", o.key_file);
  error_code ec;
  ctx.use_certificate_chain_file(o.cert_file, ec);
  if (ec) fail(o, "-cert-file", o.cert_file, "not a PEM certificate (" + ec.message() + ")");
  ctx.use_private_key_file(o.key_file, ssl::context::pem, ec);
  if (ec) {
    fail(o, "-key-file", o.key_file,
         "not an unencrypted PEM private key of " + o.option_prefix + "-cert-file (" +
             ec.message() + ")");
  }
  if (SSL_CTX_check_private_key(ctx.native_handle()) != 1) {
    fail(o, "-key-file", o.key_file, "does not match " + o.option_prefix + "-cert-file");
  }
}

void load_cas(ssl::context& ctx, const tls_options& o) {
  require_readable(o, "-ca-cert-file", o.ca_cert_file);
  error_code ec;
  ctx.load_verify_file(o.ca_cert_file, ec);
  if (ec)
    fail(o, "-ca-cert-file", o.ca_cert_file, "no PEM certificate in it (" + ec.message() + ")");
}

}  // namespace

std::shared_ptr<const tls_context> tls_context::server(const tls_options& o) {
  if (o.cert_file.empty() || o.key_file.empty()) {
    throw tls_config_error("a TLS listener needs " + o.option_prefix + "-cert-file and " +
                           o.option_prefix + "-key-file");
  }
  std::shared_ptr<tls_context> out(new tls_context());
  out->server_ = true;
  out->ctx_ = make_context(ssl::context::tls_server);
  load_identity(*out->ctx_, o);
  if (!o.ca_cert_file.empty()) {
    load_cas(*out->ctx_, o);
  } else if (o.check != peer_check::none) {
    throw tls_config_error("client certificates (" + o.option_prefix + "-auth-clients) need " +
                           o.option_prefix + "-ca-cert-file to check them against");
  }
  SSL_CTX* native = out->ctx_->native_handle();
  SSL_CTX_set_session_id_context(native, reinterpret_cast<const unsigned char*>(session_id_context),
                                 sizeof session_id_context - 1);
  switch (o.check) {
    case peer_check::none:
      out->ctx_->set_verify_mode(ssl::verify_none);
      break;
    case peer_check::required:
      out->ctx_->set_verify_mode(ssl::verify_peer | ssl::verify_fail_if_no_peer_cert);
      break;
    case peer_check::optional:
      out->ctx_->set_verify_mode(ssl::verify_peer);
      break;
  }
  return out;
}

std::shared_ptr<const tls_context> tls_context::client(const tls_options& o) {
  std::shared_ptr<tls_context> out(new tls_context());
  out->ctx_ = make_context(ssl::context::tls_client);
  load_identity(*out->ctx_, o);
  if (!o.ca_cert_file.empty()) {
    load_cas(*out->ctx_, o);
  } else {
    error_code ec;
    out->ctx_->set_default_verify_paths(ec);  // the system's CAs, for managed Redis services
  }
  const bool verify = o.check != peer_check::none;
  out->ctx_->set_verify_mode(verify ? ssl::verify_peer : ssl::verify_none);
  error_code not_ip;
  boost::asio::ip::make_address(o.server_name, not_ip);
  if (!o.server_name.empty() && not_ip) out->sni_ = o.server_name;
  if (verify && !o.server_name.empty()) {
    (not_ip ? out->check_name_ : out->check_ip_) = o.server_name;
  }
  return out;
}

ssl_ctx_st* tls_context::native() const {
  return ctx_->native_handle();
}

}  // namespace puppy::net
