// net::stream on loopback sockets, plain and TLS: the semantics of a non-blocking socket that the
// server's reactor-style I/O relies on (would_block, partial writes and their retry, a short
// read meaning "drained", end of stream), and TLS failures described as OpenSSL sees them.
#include <sys/ioctl.h>
#include <array>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <catch2/catch.hpp>

#include "stream_support.hpp"

using namespace puppy::test;
using tcp = asio::ip::tcp;
using puppy::net::stream;

namespace {

constexpr int small_buffer = 32 * 1024;  // socket buffers small enough that 1 MiB must block

// Reads until eof or an error other than would_block (waiting as needed); returns the bytes and
// the error that ended it.
std::pair<std::string, error_code> read_to_end(loopback& l, stream& s) {
  std::string out;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < deadline) {
    char buf[65536];
    error_code ec;
    const std::size_t n = s.read_some(asio::buffer(buf), ec);
    if (!ec) {
      out.append(buf, n);
    } else if (would_block(ec)) {
      wait_any(l);
    } else {
      return {out, ec};
    }
  }
  return {out, asio::error::timed_out};
}

// Runs the reactor once, with no operation waiting on the streams: readiness that arrived
// until now is consumed (epoll is edge-triggered), as it is in a running proxy, where the
// reactor never waits long. A wait armed later only fires on new readiness.
void settle(loopback& l) {
  asio::steady_timer t(l.ioc, std::chrono::milliseconds(1));
  t.async_wait([](const error_code&) {});
  l.ioc.run();
  l.ioc.restart();
}

bool wait_until_true(const std::function<bool()>& ready) {
  for (int i = 0; i < 1000; ++i) {
    if (ready()) return true;
    ::poll(nullptr, 0, 10);
  }
  return false;
}

// Waits until the peer's FIN (after all its data) reached `s`'s socket.
void wait_for_fin(stream& s) {
  pollfd p{s.socket().native_handle(), POLLRDHUP, 0};
  REQUIRE(::poll(&p, 1, 10000) == 1);
}

}  // namespace

TEST_CASE("plain: partial writes and would_block, the bytes arrive exactly, then eof") {
  loopback l(small_buffer);
  const std::string data = pattern(1 << 20);
  int blocked = 0;
  std::size_t largest = 0;
  CHECK(transfer(l, l.client, l.server, data, &blocked, &largest) == data);
  CHECK(blocked > 0);
  CHECK(largest > stream::max_record);  // a plain write is the socket's, not cut into records
  error_code ec;
  l.client.shutdown(tcp::socket::shutdown_send, ec);
  const auto [rest, end] = read_to_end(l, l.server);
  CHECK(rest.empty());
  CHECK(end == asio::error::eof);
}

TEST_CASE("TLS: a write blocked half-way is retried from another address; bytes arrive exactly") {
  loopback l(small_buffer);
  const auto [c, s] = l.handshake(client_context());
  REQUIRE(!c);
  REQUIRE(!s);
  const std::string data = pattern(1 << 20);
  int blocked = 0;
  std::size_t largest = 0;
  CHECK(transfer(l, l.client, l.server, data, &blocked, &largest) == data);
  CHECK(blocked > 0);
  CHECK(largest == stream::max_record);  // one record per write
  // And the other way.
  blocked = 0;
  CHECK(transfer(l, l.server, l.client, data, &blocked, &largest) == data);
  CHECK(blocked > 0);
}

TEST_CASE("TLS: small buffers are gathered into one record; the count consumed spans them") {
  loopback l;
  REQUIRE(!l.handshake(client_context()).first);
  const std::array<asio::const_buffer, 3> request = {
      asio::buffer("*1\r\n", 4), asio::buffer("$4\r\n", 4), asio::buffer("PING\r\n", 6)};
  error_code ec;
  CHECK(l.client.write_some(request, ec) == 14);
  CHECK(!ec);
  // Buffers beyond one record: exactly one record's worth is taken.
  const std::string piece(5000, 'x');
  const std::array<asio::const_buffer, 4> many = {asio::buffer(piece), asio::buffer(piece),
                                                  asio::buffer(piece), asio::buffer(piece)};
  CHECK(l.client.write_some(many, ec) == stream::max_record);
  CHECK(!ec);
  l.client.shutdown(tcp::socket::shutdown_send, ec);
  const auto [got, end] = read_to_end(l, l.server);
  CHECK(got == "*1\r\n$4\r\nPING\r\n" + std::string(stream::max_record, 'x'));
  CHECK(end == asio::error::eof);  // close_notify
}

TEST_CASE("TLS: one read drains every record waiting; an end after them is reported next") {
  loopback l;
  REQUIRE(!l.handshake(client_context()).first);
  const std::string data = pattern(5 * stream::max_record + 123);
  std::size_t sent = 0;
  while (sent < data.size()) {
    error_code ec;
    sent += l.client.write_some(asio::buffer(data.data() + sent, data.size() - sent), ec);
    REQUIRE(!ec);
  }
  error_code ec;
  l.client.shutdown(tcp::socket::shutdown_send, ec);  // close_notify, then FIN
  wait_for_fin(l.server);
  settle(l);  // as in the proxy, the reactor has seen the socket's edges before the read
  std::string buf(1 << 20, '\0');
  const std::size_t n = l.server.read_some(asio::buffer(buf), ec);
  CHECK(!ec);
  CHECK(n == data.size());  // six records, one read (a single SSL_read would give 16 KiB)
  CHECK(buf.substr(0, n) == data);
  // The end was met in that read; the next read reports it.
  l.server.read_some(asio::buffer(buf), ec);
  CHECK(ec == asio::error::eof);
}

TEST_CASE("TLS: a broken record after data: the data, then the error, without a socket event") {
  loopback l;
  REQUIRE(!l.handshake(client_context()).first);
  error_code ec;
  l.client.write_some(asio::buffer("+OK\r\n", 5), ec);
  REQUIRE(!ec);
  // An application-data record that does not decrypt, straight onto the socket.
  const char forged[] =
      "\x17\x03\x03\x00\x20"
      "0123456789abcdef0123456789abcdef";
  l.client.socket().write_some(asio::buffer(forged, sizeof forged - 1), ec);
  REQUIRE(!ec);
  int queued = 0;
  REQUIRE(wait_until_true([&] {
    ::ioctl(l.server.socket().native_handle(), FIONREAD, &queued);
    return queued >= 22 + 5 + 32;  // +OK's record (5 + 5 + 16 bytes of tag) and the forged one
  }));
  settle(l);
  char buf[4096];
  CHECK(l.server.read_some(asio::buffer(buf), ec) == 5);
  CHECK(!ec);
  CHECK(std::string(buf, 5) == "+OK\r\n");
  // The socket is drained and stays silent: only the stream can say a read will not wait.
  bool woken = false;
  l.server.async_wait_readable([&](const error_code& e) { woken = !e; });
  l.ioc.run_for(std::chrono::seconds(2));
  CHECK(woken);
  l.server.read_some(asio::buffer(buf), ec);
  CHECK(stream::is_tls_error(ec));
  CHECK(l.server.describe(ec) == "decryption failed or bad record mac");
}

TEST_CASE("TLS: a peer that closes TCP without close_notify reads as eof, not an error") {
  loopback l;
  REQUIRE(!l.handshake(client_context()).first);
  error_code ec;
  l.client.write_some(asio::buffer("+OK\r\n", 5), ec);
  REQUIRE(!ec);
  l.client.socket().shutdown(tcp::socket::shutdown_send, ec);  // the socket, under TLS
  const auto [got, end] = read_to_end(l, l.server);
  CHECK(got == "+OK\r\n");
  CHECK(end == asio::error::eof);
}

TEST_CASE("TLS: a blocked writer's wait fires once the reader drains") {
  loopback l(small_buffer);
  REQUIRE(!l.handshake(client_context()).first);
  const std::string data = pattern(1 << 20);
  std::size_t sent = 0;
  error_code ec;
  while (!would_block(ec)) {
    sent += l.client.write_some(asio::buffer(data.data() + sent, data.size() - sent), ec);
  }
  bool woken = false;
  l.client.async_wait_writable([&](const error_code& e) { woken = !e; });
  l.ioc.poll();
  CHECK_FALSE(woken);
  char buf[65536];
  while (!woken) {
    l.server.read_some(asio::buffer(buf), ec);
    l.ioc.run_for(std::chrono::milliseconds(10));
  }
  // The retry goes on where it stopped.
  const std::size_t n =
      l.client.write_some(asio::buffer(data.data() + sent, data.size() - sent), ec);
  CHECK((!ec || would_block(ec)));
  CHECK(n <= stream::max_record);
}

TEST_CASE("TLS: plain text to a TLS server is an error that names it") {
  loopback l;
  error_code ec;
  REQUIRE(l.server.accept_tls(*server_context(), ec));
  l.client.socket().write_some(asio::buffer("PING\r\n", 6), ec);
  wait_any(l, 1000);
  std::pair<std::string, error_code> r = read_to_end(l, l.server);
  CHECK(r.first.empty());
  CHECK(r.second != asio::error::eof);
  CHECK(l.server.describe(r.second) == "wrong version number");
}

TEST_CASE("TLS: the client checks the server's certificate, its name and its IP address") {
  SECTION("signed by another CA") {
    loopback l;
    const auto [c, s] = l.handshake(client_context("other-ca.crt"));
    CHECK(l.client.describe(c).rfind("certificate verify failed (", 0) == 0);
  }
  SECTION("another name") {
    loopback l;
    const auto [c, s] = l.handshake(client_context("ca.crt", "redis.example.com"));
    CHECK(l.client.describe(c) == "certificate verify failed (hostname mismatch)");
  }
  SECTION("another IP address") {
    loopback l;
    const auto [c, s] = l.handshake(client_context("ca.crt", "127.0.0.2"));
    CHECK(l.client.describe(c) == "certificate verify failed (IP address mismatch)");
  }
  SECTION("the right IP address, and the right name") {
    loopback a;
    CHECK(!a.handshake(client_context("ca.crt", "127.0.0.1")).first);
    loopback b;
    CHECK(!b.handshake(client_context("ca.crt", "localhost")).first);
  }
}

TEST_CASE("TLS contexts: unusable settings are refused with the option at fault") {
  using puppy::net::peer_check;
  using puppy::net::tls_config_error;
  using puppy::net::tls_context;
  const std::string d = pki();
  const auto server_error = [](puppy::net::tls_options o) {
    try {
      tls_context::server(o);
    } catch (const tls_config_error& e) {
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  CHECK(server_error({"--tls", "", d + "/server.key", "", peer_check::none, ""}) ==
        "a TLS listener needs --tls-cert-file and --tls-key-file");
  CHECK(server_error({"--tls", "/nonexistent.crt", d + "/server.key", "", peer_check::none, ""}) ==
        "--tls-cert-file /nonexistent.crt: cannot read it: No such file or directory");
  CHECK(server_error({"--tls", d + "/bad.pem", d + "/server.key", "", peer_check::none, ""})
            .rfind("--tls-cert-file " + d + "/bad.pem: not a PEM certificate (", 0) == 0);
  CHECK(server_error({"--tls", d + "/server.crt", d + "/client.key", "", peer_check::none, ""})
            .rfind("--tls-key-file " + d + "/client.key: ", 0) == 0);
  CHECK(
      server_error({"--tls", d + "/server.crt", d + "/server.key", "", peer_check::required, ""}) ==
      "client certificates (--tls-auth-clients) need --tls-ca-cert-file "
      "to check them against");
  CHECK(server_error({"--tls", d + "/server.crt", d + "/server.key", d + "/bad.pem",
                      peer_check::required, ""})
            .rfind("--tls-ca-cert-file " + d + "/bad.pem: no PEM certificate in it", 0) == 0);
  try {
    tls_context::client({"--upstream-tls", "", d + "/client.key", "", peer_check::required, ""});
    FAIL("accepted a key without a certificate");
  } catch (const tls_config_error& e) {
    CHECK(std::string(e.what()) == "--upstream-tls-key-file needs --upstream-tls-cert-file");
  }
}
