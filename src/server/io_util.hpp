#pragma once
// Small helpers for the reactor-style I/O of sessions and shared upstream connections.
#include <boost/asio/buffer.hpp>
#include <boost/asio/error.hpp>

namespace puppy::server::detail {

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

}  // namespace puppy::server::detail
