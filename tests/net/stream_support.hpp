#pragma once
// Two net::streams connected over loopback TCP, plain or TLS (the test PKI of
// tests/tls/make_certs.sh), both non-blocking, driven by hand from the test's one thread.
#include <poll.h>
#include <sys/socket.h>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "puppy/net/stream.hpp"
#include "puppy/net/tls_context.hpp"

namespace puppy::test {

using boost::system::error_code;
namespace asio = boost::asio;

inline bool would_block(const error_code& ec) {
  return ec == asio::error::would_block || ec == asio::error::try_again;
}

// The test PKI's directory (PUPPY_TLS_DIR, made by the CTest fixture tls_certs).
std::string pki();

std::shared_ptr<const net::tls_context> server_context();
// A client context checking the server's certificate against `ca` (a file of the PKI) and its
// name against `server_name` (empty: no name check).
std::shared_ptr<const net::tls_context> client_context(
    const std::string& ca = "ca.crt", const std::string& server_name = "localhost");

struct loopback {
  // `buffer`: SO_SNDBUF and SO_RCVBUF of both sockets (0: the system's), small to make writes
  // block early.
  explicit loopback(int buffer = 0);
  // Starts TLS (client: `client`, server: `server`) and runs the handshake to its end; returns
  // the client's and the server's outcome.
  std::pair<error_code, error_code> handshake(
      const std::shared_ptr<const net::tls_context>& client,
      const std::shared_ptr<const net::tls_context>& server = server_context());

  asio::io_context ioc;
  net::stream client{ioc};  // connected
  net::stream server{ioc};  // accepted
};

// Waits (poll, at most `ms`) until either socket has something to read or room to write.
void wait_any(loopback& l, int ms = 10);

// Moves `data` from `from` to `to` with write_some/read_some until all of it arrived. On every
// would_block the next write offers the rest from a fresh copy (another address), as a caller
// that moved its unsent bytes into a backlog does. Returns what arrived; counts in *blocked the
// writes that would block and in *largest the most one write_some took.
std::string transfer(loopback& l, net::stream& from, net::stream& to, const std::string& data,
                     int* blocked, std::size_t* largest);

// `n` bytes that differ at every offset modulo 251.
std::string pattern(std::size_t n);

}  // namespace puppy::test
