#include "stream_support.hpp"

#include <array>
#include <boost/asio/ip/tcp.hpp>
#include <csignal>
#include <stdexcept>

namespace puppy::test {
using tcp = asio::ip::tcp;

namespace {
// OpenSSL writes with write(2): a peer that closed must give an error here, not end the test.
const bool sigpipe_ignored = [] {
  std::signal(SIGPIPE, SIG_IGN);
  return true;
}();
}  // namespace

std::string pki() {
  return PUPPY_TLS_DIR;
}

std::shared_ptr<const net::tls_context> server_context() {
  static const auto ctx = net::tls_context::server(
      {"--tls", pki() + "/server.crt", pki() + "/server.key", "", net::peer_check::none, ""});
  return ctx;
}

std::shared_ptr<const net::tls_context> client_context(const std::string& ca,
                                                       const std::string& server_name) {
  return net::tls_context::client(
      {"--upstream-tls", "", "", pki() + "/" + ca, net::peer_check::required, server_name});
}

loopback::loopback(int buffer) {
  tcp::acceptor acceptor(ioc, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  client.socket().open(tcp::v4());
  if (buffer > 0) {
    client.socket().set_option(asio::socket_base::send_buffer_size(buffer));
    client.socket().set_option(asio::socket_base::receive_buffer_size(buffer));
  }
  client.socket().connect(acceptor.local_endpoint());
  acceptor.accept(server.socket());
  if (buffer > 0) {
    server.socket().set_option(asio::socket_base::send_buffer_size(buffer));
    server.socket().set_option(asio::socket_base::receive_buffer_size(buffer));
  }
  client.socket().set_option(tcp::no_delay(true));
  server.socket().set_option(tcp::no_delay(true));
  client.socket().non_blocking(true);
  server.socket().non_blocking(true);
}

std::pair<error_code, error_code> loopback::handshake(
    const std::shared_ptr<const net::tls_context>& client_ctx,
    const std::shared_ptr<const net::tls_context>& server_ctx) {
  error_code c, s;
  if (!client.connect_tls(*client_ctx, c) || !server.accept_tls(*server_ctx, s)) {
    throw std::runtime_error("cannot start TLS");
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  bool client_done = false, server_done = false;
  while (!(client_done && server_done) && std::chrono::steady_clock::now() < deadline) {
    if (!client_done) {
      client.handshake(c);
      client_done = !would_block(c);
    }
    if (!server_done) {
      server.handshake(s);
      server_done = !would_block(s);
    }
    if (client_done && c) break;  // the server waits for more forever: the client gave up
    if (server_done && s) break;
    wait_any(*this);
  }
  return {c, s};
}

void wait_any(loopback& l, int ms) {
  pollfd fds[2] = {{l.client.socket().native_handle(), POLLIN | POLLOUT, 0},
                   {l.server.socket().native_handle(), POLLIN | POLLOUT, 0}};
  ::poll(fds, 2, ms);
}

std::string transfer(loopback& l, net::stream& from, net::stream& to, const std::string& data,
                     int* blocked, std::size_t* largest) {
  std::string received;
  std::size_t sent = 0;
  std::string moved;  // after a would_block: a copy of the next bytes, offered instead of data's
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (received.size() < data.size() && std::chrono::steady_clock::now() < deadline) {
    bool progress = false;
    while (sent < data.size()) {  // until the socket is full, so that writes do block
      const std::size_t head = moved.empty() ? 0 : moved.size();
      const std::array<asio::const_buffer, 2> offer = {
          asio::buffer(moved), asio::buffer(data.data() + sent + head, data.size() - sent - head)};
      error_code ec;
      const std::size_t n = from.write_some(offer, ec);
      if (would_block(ec)) {
        ++*blocked;
        moved.assign(data, sent, 64 * 1024);  // the same bytes, at another address
        break;
      }
      if (ec) throw std::runtime_error("write_some: " + from.describe(ec));
      *largest = std::max(*largest, n);
      sent += n;
      moved.clear();
      progress = true;
    }
    for (;;) {  // until the socket is drained
      char buf[65536];
      error_code ec;
      const std::size_t n = to.read_some(asio::buffer(buf), ec);
      if (would_block(ec)) break;
      if (ec) throw std::runtime_error("read_some: " + to.describe(ec));
      received.append(buf, n);
      progress = true;
    }
    if (!progress) wait_any(l);
  }
  return received;
}

std::string pattern(std::size_t n) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>(i % 251);
  return s;
}

}  // namespace puppy::test
