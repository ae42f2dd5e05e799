// raw_client over TLS: blocking OpenSSL on the client's socket, with SO_RCVTIMEO/SO_SNDTIMEO
// bounding each call so that a silent server fails the test instead of hanging it.
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <stdexcept>

#include "client.hpp"

namespace puppy::test {
namespace {

// OpenSSL's last error as text (and clears the queue).
std::string openssl_error() {
  const unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (e == 0) return errno != 0 ? std::strerror(errno) : "connection closed";
  char text[256];
  ERR_error_string_n(e, text, sizeof text);
  return text;
}

void set_timeout(int fd, int option, std::chrono::milliseconds left) {
  const auto ms = std::max<long long>(1, left.count());
  timeval tv{static_cast<time_t>(ms / 1000), static_cast<suseconds_t>(ms % 1000 * 1000)};
  setsockopt(fd, SOL_SOCKET, option, &tv, sizeof tv);
}

}  // namespace

raw_client::~raw_client() {
  if (ssl_ != nullptr) SSL_free(ssl_);
  if (ctx_ != nullptr) SSL_CTX_free(ctx_);
  if (fd_ >= 0) close(fd_);
}

void raw_client::start_tls(const client_options& o, std::uint16_t port) {
  std::signal(SIGPIPE, SIG_IGN);  // OpenSSL writes with write(2)
  ctx_ = SSL_CTX_new(TLS_client_method());
  bool ok = ctx_ != nullptr;
  // A server that closes without close_notify reads as a close, as a plain socket's does.
  if (ok) SSL_CTX_set_options(ctx_, SSL_OP_IGNORE_UNEXPECTED_EOF);
  if (ok && !o.ca_file.empty()) {
    ok = SSL_CTX_load_verify_locations(ctx_, o.ca_file.c_str(), nullptr) == 1;
    SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, nullptr);
  }
  if (ok && !o.cert_file.empty()) {
    ok = SSL_CTX_use_certificate_chain_file(ctx_, o.cert_file.c_str()) == 1 &&
         SSL_CTX_use_PrivateKey_file(ctx_, o.key_file.c_str(), SSL_FILETYPE_PEM) == 1;
  }
  if (ok) ssl_ = SSL_new(ctx_);
  ok = ok && ssl_ != nullptr && SSL_set_fd(ssl_, fd_) == 1;
  if (ok && !o.server_name.empty()) ok = SSL_set_tlsext_host_name(ssl_, o.server_name.c_str()) == 1;
  set_timeout(fd_, SO_RCVTIMEO, 10s);
  set_timeout(fd_, SO_SNDTIMEO, 10s);
  if (!ok || SSL_connect(ssl_) != 1) {
    const std::string why = openssl_error();
    // The constructor throws, so the destructor will not run: free what it would.
    if (ssl_ != nullptr) SSL_free(ssl_);
    if (ctx_ != nullptr) SSL_CTX_free(ctx_);
    close(fd_);
    throw std::runtime_error("TLS handshake with port " + std::to_string(port) + ": " + why);
  }
}

void raw_client::send_tls(std::string_view bytes) {
  set_timeout(fd_, SO_SNDTIMEO, 30s);
  while (!bytes.empty()) {
    std::size_t n = 0;
    if (SSL_write_ex(ssl_, bytes.data(), bytes.size(), &n) != 1) {
      throw std::runtime_error("TLS write: " + openssl_error());
    }
    bytes.remove_prefix(n);
  }
}

bool raw_client::fill_tls(std::chrono::steady_clock::time_point deadline) {
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) throw std::runtime_error("timed out waiting for a reply");
    set_timeout(fd_, SO_RCVTIMEO, left);
    char chunk[65536];
    std::size_t n = 0;
    errno = 0;
    if (SSL_read_ex(ssl_, chunk, sizeof chunk, &n) == 1) {
      buf_.append(chunk, n);
      return true;
    }
    switch (SSL_get_error(ssl_, 0)) {
      case SSL_ERROR_WANT_READ:  // SO_RCVTIMEO ran out, or a handshake message came
      case SSL_ERROR_WANT_WRITE:
        continue;
      case SSL_ERROR_ZERO_RETURN:
        return false;
      case SSL_ERROR_SYSCALL:
        if (errno == EAGAIN || errno == EINTR) continue;
        ERR_clear_error();
        return false;  // closed without close_notify, or reset
      default:
        throw std::runtime_error("TLS read: " + openssl_error());
    }
  }
}

bool raw_client::tls_pending() const {
  return ssl_ != nullptr && SSL_pending(ssl_) > 0;
}

void raw_client::send_close_notify() {
  SSL_shutdown(ssl_);
  ERR_clear_error();
}

}  // namespace puppy::test
