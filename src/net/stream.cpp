#include "puppy/net/stream.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <boost/asio/ssl/error.hpp>
#include <cerrno>

#include "puppy/net/tls_context.hpp"

namespace puppy::net {
namespace asio = boost::asio;
using boost::system::error_code;

namespace {

// An error from OpenSSL's queue as an error_code: a system call's errno as such, anything else
// in Asio's SSL category, whose message() is OpenSSL's reason ("certificate verify failed").
error_code from_queue(unsigned long e) {
  if (ERR_SYSTEM_ERROR(e)) return {ERR_GET_REASON(e), boost::system::system_category()};
  return {static_cast<int>(e), asio::error::get_ssl_category()};
}

}  // namespace

stream::~stream() {
  free_tls();
}

void stream::free_tls() {
  if (ssl_ == nullptr) return;
  SSL_free(ssl_);
  ssl_ = nullptr;
  read_wants_ = tcp::socket::wait_read;
  write_wants_ = tcp::socket::wait_write;
  deferred_ = {};
  retry_ = false;
  broken_ = false;
  std::string().swap(staged_);
}

bool stream::start_tls(const tls_context& ctx, error_code& ec) {
  free_tls();
  verify_result_ = X509_V_OK;
  ERR_clear_error();
  ssl_ = SSL_new(ctx.native());
  if (ssl_ == nullptr || SSL_set_fd(ssl_, socket_.native_handle()) != 1) {
    const unsigned long e = ERR_get_error();
    ec = e != 0 ? from_queue(e) : error_code(asio::error::no_memory);
    free_tls();
    return false;
  }
  // Partial writes: a write reports each record once sent, so bytes are consumed record by
  // record. Moving buffer: a retried write comes from staged_, not the caller's buffer.
  // Release buffers: an idle connection does not keep OpenSSL's two ~17 KiB record buffers.
  SSL_set_mode(ssl_, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                         SSL_MODE_RELEASE_BUFFERS);
  ec = {};
  return true;
}

bool stream::accept_tls(const tls_context& ctx, error_code& ec) {
  if (!start_tls(ctx, ec)) return false;
  SSL_set_accept_state(ssl_);
  return true;
}

bool stream::connect_tls(const tls_context& ctx, error_code& ec) {
  if (!start_tls(ctx, ec)) return false;
  SSL_set_connect_state(ssl_);
  bool ok = true;
  if (!ctx.sni().empty()) ok = SSL_set_tlsext_host_name(ssl_, ctx.sni().c_str()) == 1;
  if (!ctx.check_name().empty()) {
    SSL_set_hostflags(ssl_, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    ok = ok && SSL_set1_host(ssl_, ctx.check_name().c_str()) == 1;
  }
  if (!ctx.check_ip().empty()) {
    ok = ok && X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl_), ctx.check_ip().c_str()) == 1;
  }
  if (!ok) {
    const unsigned long e = ERR_get_error();
    ec = e != 0 ? from_queue(e) : error_code(asio::error::invalid_argument);
    free_tls();
    return false;
  }
  return true;
}

void stream::handshake(error_code& ec) {
  if (ssl_ == nullptr) {
    ec = {};
    return;
  }
  ERR_clear_error();
  if (SSL_do_handshake(ssl_) == 1) {
    read_wants_ = tcp::socket::wait_read;
    ec = {};
    return;
  }
  ec = failure(&read_wants_);
}

std::size_t stream::tls_read(const asio::mutable_buffer& buffer, error_code& ec) {
  if (deferred_) {
    ec = deferred_;
    deferred_ = {};
    return 0;
  }
  char* const out = static_cast<char*>(buffer.data());
  std::size_t got = 0;
  read_wants_ = tcp::socket::wait_read;
  // One SSL_read returns one record; go on until OpenSSL has to wait for the socket, so that a
  // short read means the socket is drained, as for a plain socket.
  while (got < buffer.size()) {
    ERR_clear_error();
    std::size_t n = 0;
    if (SSL_read_ex(ssl_, out + got, buffer.size() - got, &n) == 1) {
      got += n;
      continue;
    }
    const error_code e = failure(&read_wants_);
    if (got == 0) {
      ec = e;
      return 0;
    }
    if (e != asio::error::would_block) deferred_ = e;  // the bytes first; async_wait_* at once
    break;
  }
  ec = {};
  return got;
}

std::size_t stream::tls_write(const void* data, std::size_t len, error_code& ec) {
  ERR_clear_error();
  std::size_t n = 0;
  if (SSL_write_ex(ssl_, data, len, &n) == 1) {
    retry_ = false;
    ec = {};
    return n;
  }
  ec = failure(&write_wants_);
  if (ec == asio::error::would_block && !retry_) {
    // OpenSSL may have encrypted these bytes already: the retry must offer them again.
    if (data != staged_.data()) staged_.assign(static_cast<const char*>(data), len);
    retry_ = true;
  }
  return 0;
}

error_code stream::failure(tcp::socket::wait_type* wants) {
  const int saved_errno = errno;
  const int kind = SSL_get_error(ssl_, 0);
  switch (kind) {
    case SSL_ERROR_WANT_READ:
      *wants = tcp::socket::wait_read;
      return asio::error::would_block;
    case SSL_ERROR_WANT_WRITE:
      *wants = tcp::socket::wait_write;
      return asio::error::would_block;
    case SSL_ERROR_ZERO_RETURN:
      return asio::error::eof;
    default:
      break;
  }
  broken_ = true;
  const unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (kind == SSL_ERROR_SYSCALL && e == 0) {
    // The socket failed (errno), or ended where OpenSSL did not allow it.
    return saved_errno != 0 ? error_code(saved_errno, boost::system::system_category())
                            : error_code(asio::error::eof);
  }
  verify_result_ = SSL_get_verify_result(ssl_);
  return e != 0 ? from_queue(e) : error_code(asio::error::connection_aborted);
}

std::string stream::describe(const error_code& ec) const {
  std::string text = ec.message();
  if (ec.category() == asio::error::get_ssl_category() &&
      ERR_GET_REASON(static_cast<unsigned long>(ec.value())) == SSL_R_CERTIFICATE_VERIFY_FAILED &&
      verify_result_ != X509_V_OK) {
    text += std::string(" (") + X509_verify_cert_error_string(verify_result_) + ")";
  }
  return text;
}

bool stream::is_tls_error(const error_code& ec) {
  return ec.category() == asio::error::get_ssl_category();
}

void stream::close_notify() {
  if (ssl_ == nullptr || broken_ || !SSL_is_init_finished(ssl_) ||
      (SSL_get_shutdown(ssl_) & SSL_SENT_SHUTDOWN) != 0) {
    return;
  }
  ERR_clear_error();
  SSL_shutdown(ssl_);  // sends close_notify if the socket takes it; waits for nothing
  ERR_clear_error();
}

void stream::shutdown(tcp::socket::shutdown_type what, error_code& ec) {
  if (what != tcp::socket::shutdown_receive) close_notify();
  socket_.shutdown(what, ec);
}

void stream::close(error_code& ec) {
  close_notify();
  free_tls();
  socket_.close(ec);
}

}  // namespace puppy::net
