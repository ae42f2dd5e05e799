// gather_queue: lent and copied bytes written in order, partial writes, and own_rest() making the
// queue independent of the lenders' memory.
#include <boost/asio/buffer.hpp>
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "fake_socket.hpp"
#include "puppy/server/gather_queue.hpp"

using puppy::server::gather_queue;
using puppy::test::fake_socket;

TEST_CASE("gather_queue: copies only are written as one buffer") {
  gather_queue q;
  fake_socket s;
  puppy::server::detail::iov_scratch iov;
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
  fake_socket s;
  puppy::server::detail::iov_scratch iov;
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
  fake_socket s;
  puppy::server::detail::iov_scratch iov;
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
  fake_socket s;
  puppy::server::detail::iov_scratch iov;
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
  fake_socket s;
  puppy::server::detail::iov_scratch iov;
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
  fake_socket s;
  puppy::server::detail::iov_scratch iov;
  CHECK_FALSE(q.write_to(s, iov));
  CHECK(s.taken.empty());
}
