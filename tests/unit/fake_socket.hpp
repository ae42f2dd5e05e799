#pragma once
// A non-blocking socket stand-in for the output queues' tests: takes at most `room` bytes in
// all, then would block (or fails with `fail`, once set).
#include <boost/asio/buffer.hpp>
#include <boost/asio/error.hpp>
#include <cstddef>
#include <string>

namespace puppy::test {

struct fake_socket {
  std::size_t room = 1 << 20;
  std::size_t calls = 0;
  std::string taken;
  boost::system::error_code fail;  // returned by every write, once set

  template <class Buffers>
  std::size_t write_some(const Buffers& buffers, boost::system::error_code& ec) {
    ++calls;
    if (fail) {
      ec = fail;
      return 0;
    }
    if (room == 0) {
      ec = boost::asio::error::would_block;
      return 0;
    }
    std::size_t n = 0;
    for (auto it = boost::asio::buffer_sequence_begin(buffers);
         it != boost::asio::buffer_sequence_end(buffers) && room > 0; ++it) {
      const boost::asio::const_buffer b(*it);
      const std::size_t take = std::min(room, b.size());
      taken.append(static_cast<const char*>(b.data()), take);
      room -= take;
      n += take;
    }
    ec = {};
    return n;
  }
};

}  // namespace puppy::test
