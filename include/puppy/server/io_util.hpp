#pragma once
// Small helpers for the reactor-style I/O of sessions and shared upstream connections.
#include <boost/asio/buffer.hpp>
#include <boost/asio/error.hpp>
#include <cstddef>
#include <vector>

namespace puppy::server::detail {

// Reads in a row a connection's handler makes before it lets the other connections of its
// thread run (fairness between a busy pipeline and the rest).
constexpr int max_read_turns = 16;

// Whether a non-blocking socket operation failed only because it would have blocked.
inline bool would_block(const boost::system::error_code& ec) {
  return ec == boost::asio::error::would_block || ec == boost::asio::error::try_again;
}

// A contiguous run of buffers, usable as an Asio buffer sequence without copying it.
struct buffer_range {
  const boost::asio::const_buffer* first;
  const boost::asio::const_buffer* last;
  const boost::asio::const_buffer* begin() const { return first; }
  const boost::asio::const_buffer* end() const { return last; }
};

// Room for the buffers of one gathered write (writev), allocated once per connection.
class iov_scratch {
 public:
  static constexpr std::size_t max_iov = 64;  // buffers per write call
  iov_scratch() : buffers_(max_iov) {}
  boost::asio::const_buffer* data() { return buffers_.data(); }

 private:
  std::vector<boost::asio::const_buffer> buffers_;
};

// Writes pieces[*index...] (starting *off bytes into the first) to a non-blocking socket as far
// as it takes them, up to iov_scratch::max_iov pieces per call. A piece is {data, offset, len}:
// `len` bytes at `data`, or, when data is null, at `owned + offset`. Advances *index and *off
// past what was written. Returns success when everything was written, else the error that
// stopped it (would_block included).
template <class Socket, class Piece>
boost::system::error_code write_pieces(Socket& socket, const std::vector<Piece>& pieces,
                                       const char* owned, std::size_t* index, std::size_t* off,
                                       iov_scratch& scratch) {
  boost::asio::const_buffer* const iov = scratch.data();
  while (*index < pieces.size()) {
    std::size_t count = 0;
    for (std::size_t i = *index; i < pieces.size() && count < iov_scratch::max_iov; ++i) {
      const Piece& p = pieces[i];
      const char* bytes = p.data != nullptr ? p.data : owned + p.offset;
      const std::size_t skip = i == *index ? *off : 0;
      iov[count++] = boost::asio::const_buffer(bytes + skip, p.len - skip);
    }
    boost::system::error_code ec;
    std::size_t n = socket.write_some(buffer_range{iov, iov + count}, ec);
    if (ec) return ec;
    while (n > 0) {
      const std::size_t left = pieces[*index].len - *off;
      if (n >= left) {
        n -= left;
        ++*index;
        *off = 0;
      } else {
        *off += n;
        n = 0;
      }
    }
  }
  return {};
}

}  // namespace puppy::server::detail
