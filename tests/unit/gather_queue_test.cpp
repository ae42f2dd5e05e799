// gather_queue: lent and copied bytes written in order, partial writes, and own_rest() making the
// queue independent of the lenders' memory.
#include <boost/asio/buffer.hpp>
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "puppy/server/gather_queue.hpp"

using puppy::server::gather_queue;

namespace {

// A non-blocking socket stand-in: takes at most `room` bytes in all, then would block.
struct fake_socket {
  std::size_t room = 1 << 20;
  std::size_t calls = 0;
  std::string taken;

  template <class Buffers>
  std::size_t write_some(const Buffers& buffers, boost::system::error_code& ec) {
    ++calls;
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

}  // namespace

TEST_CASE("gather_queue: copies only are written as one buffer") {
  gather_queue q;
  std::vector<boost::asio::const_buffer> iov;
  fake_socket s;
  q.copy("abc", 3);
  q.copy("de", 2);
  CHECK(q.size() == 5);
  CHECK_FALSE(q.lends());
  CHECK_FALSE(q.write_to(s, iov));
  CHECK(s.taken == "abcde");
  CHECK(s.calls == 1);
  CHECK(q.empty());
}

TEST_CASE("gather_queue: lent and copied pieces go out in order, adjacent lent bytes merge") {
  gather_queue q;
  std::vector<boost::asio::const_buffer> iov;
  fake_socket s;
  const std::string client = "GET a\r\nGET b\r\n";
  q.copy("<1>", 3);
  q.lend(client.data(), 7);
  q.lend(client.data() + 7, 7);  // the same client's next bytes
  q.copy("<2>", 3);
  CHECK(q.size() == 20);
  CHECK(q.lends());
  CHECK_FALSE(q.write_to(s, iov));
  CHECK(s.taken == "<1>GET a\r\nGET b\r\n<2>");
  CHECK(s.calls == 1);
  CHECK(q.empty());
  CHECK_FALSE(q.lends());
}

TEST_CASE("gather_queue: a partial write resumes where it stopped") {
  gather_queue q;
  std::vector<boost::asio::const_buffer> iov;
  fake_socket s;
  const std::string a = "0123456789";
  q.lend(a.data(), a.size());
  q.copy("xyz", 3);
  s.room = 4;
  CHECK(q.write_to(s, iov) == boost::asio::error::would_block);
  CHECK(q.size() == 9);
  s.room = 7;  // ends inside the copy
  CHECK(q.write_to(s, iov) == boost::asio::error::would_block);
  CHECK(q.size() == 2);
  s.room = 100;
  CHECK_FALSE(q.write_to(s, iov));
  CHECK(s.taken == "0123456789xyz");
  CHECK(q.empty());
}

TEST_CASE("gather_queue: own_rest() copies what is unwritten; the lender's memory may change") {
  gather_queue q;
  std::vector<boost::asio::const_buffer> iov;
  fake_socket s;
  std::string lender = "SET k v\r\n";
  q.copy("*1\r\n", 4);
  q.lend(lender.data(), lender.size());
  s.room = 6;  // the copy and 2 bytes of the lent piece
  CHECK(q.write_to(s, iov) == boost::asio::error::would_block);
  q.own_rest();
  CHECK_FALSE(q.lends());
  CHECK(q.size() == 7);
  lender.assign(lender.size(), '!');  // the client reuses its buffer
  q.copy("PING\r\n", 6);              // queued after the owned rest
  s.room = 100;
  CHECK_FALSE(q.write_to(s, iov));
  CHECK(s.taken == "*1\r\nSET k v\r\nPING\r\n");
}

TEST_CASE("gather_queue: more pieces than one writev takes") {
  gather_queue q;
  std::vector<boost::asio::const_buffer> iov;
  fake_socket s;
  std::vector<std::string> lenders;
  for (int i = 0; i < 150; ++i) lenders.push_back(std::to_string(i) + ",");
  std::string want;
  for (const auto& l : lenders) {
    q.lend(l.data(), l.size());  // separate strings: separate pieces
    q.copy("|", 1);
    want += l + "|";
  }
  CHECK_FALSE(q.write_to(s, iov));
  CHECK(s.taken == want);
  CHECK(s.calls > 1);  // 64 buffers per call at most
  CHECK(q.empty());
}

TEST_CASE("gather_queue: clear() drops everything") {
  gather_queue q;
  const std::string a = "abc";
  q.lend(a.data(), a.size());
  q.copy("d", 1);
  q.clear();
  CHECK(q.empty());
  CHECK_FALSE(q.lends());
  std::vector<boost::asio::const_buffer> iov;
  fake_socket s;
  CHECK_FALSE(q.write_to(s, iov));
  CHECK(s.taken.empty());
}
