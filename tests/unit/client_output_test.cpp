// client_output: replies in request order across reply slots, views gathered into one write,
// what the socket does not take kept as a copy (views free after write()), the backlog drained.
#include <catch2/catch.hpp>
#include <string>

#include "fake_socket.hpp"
#include "puppy/metrics/stats.hpp"
#include "puppy/server/client_output.hpp"

using puppy::server::client_output;
using puppy::test::fake_socket;

TEST_CASE("client_output: views, copies and appended replies go out in order in one write") {
  puppy::metrics::counter bytes;
  client_output out(bytes);
  fake_socket s;
  const std::string upstream = "+OK\r\n:1\r\n";
  out.view(upstream.data(), 5);
  out.view(upstream.data() + 5, 4);  // adjacent: one piece
  out.copy("-ERR x\r\n");
  REQUIRE(out.may_append());
  const std::size_t at = out.appending().size();
  out.appending() += "$1\r\nv\r\n";
  out.appended(at);
  CHECK(out.queued());
  CHECK_FALSE(out.write(s));
  CHECK(s.taken == "+OK\r\n:1\r\n-ERR x\r\n$1\r\nv\r\n");
  CHECK(s.calls == 1);
  CHECK(bytes.value() == s.taken.size());
  CHECK(out.idle());
}

TEST_CASE("client_output: replies after an open slot wait for its answer") {
  puppy::metrics::counter bytes;
  client_output out(bytes);
  fake_socket s;
  out.copy("+A\r\n");
  const auto first = out.reserve();
  const std::string relayed = "+C\r\n";
  out.view(relayed.data(), relayed.size());  // held (copied) behind the slot
  const auto second = out.reserve();
  out.copy("+E\r\n");
  CHECK_FALSE(out.may_append());
  CHECK(out.slots() == 2);
  CHECK(out.held_bytes() == 8);

  out.answer(second, "+D\r\n");  // the later slot first: kept
  CHECK_FALSE(out.write(s));
  CHECK(s.taken == "+A\r\n");
  out.answer(first, "+B\r\n");  // now everything, in request order
  CHECK_FALSE(out.slots_open());
  CHECK(out.held_bytes() == 0);
  CHECK_FALSE(out.write(s));
  CHECK(s.taken == "+A\r\n+B\r\n+C\r\n+D\r\n+E\r\n");
}

TEST_CASE("client_output: a partial write keeps a copy, so the views' buffers are free") {
  puppy::metrics::counter bytes;
  client_output out(bytes);
  fake_socket s;
  s.room = 3;
  std::string upstream = "$5\r\nhello\r\n";
  out.view(upstream.data(), upstream.size());
  out.copy(":7\r\n");
  CHECK_FALSE(out.write(s));
  CHECK(s.taken == "$5\r");
  CHECK(out.backlog_size() == upstream.size() + 4 - 3);
  upstream.assign(upstream.size(), 'x');  // the upstream's buffer is reused

  // More replies go behind the backlog, not before it, even if the socket had room now.
  s.room = 1 << 20;
  out.copy("+later\r\n");
  CHECK_FALSE(out.write(s));
  CHECK(s.taken == "$5\r");
  CHECK_FALSE(out.write_backlog(s));
  CHECK(s.taken == "$5\r\nhello\r\n:7\r\n+later\r\n");
  CHECK(out.backlog_size() == 0);
  CHECK(out.idle());
}

TEST_CASE("client_output: write_backlog reports would_block with bytes left, and socket errors") {
  puppy::metrics::counter bytes;
  client_output out(bytes);
  fake_socket s;
  s.room = 0;
  out.copy("+OK\r\n");
  CHECK_FALSE(out.write(s));  // would block: not an error, all of it kept
  CHECK(out.backlog_size() == 5);
  out.set_waiting(true);
  CHECK_FALSE(out.idle());
  out.copy(":1\r\n");
  CHECK_FALSE(out.write(s));  // waiting: added to the backlog without a write
  CHECK(s.calls == 1);
  out.set_waiting(false);
  s.room = 2;
  CHECK(out.write_backlog(s) == boost::asio::error::would_block);
  CHECK(out.backlog_size() == 7);
  s.fail = boost::asio::error::connection_reset;
  CHECK(out.write_backlog(s) == boost::asio::error::connection_reset);

  client_output other(bytes);
  other.copy("+OK\r\n");
  CHECK(other.write(s) == boost::asio::error::connection_reset);
}

TEST_CASE("client_output: clear() forgets what was queued, open slots stay") {
  puppy::metrics::counter bytes;
  client_output out(bytes);
  fake_socket s;
  out.copy("+OK\r\n");
  const auto slot = out.reserve();
  out.clear();
  CHECK_FALSE(out.queued());
  CHECK(out.slots_open());
  out.answer(slot, "+B\r\n");
  CHECK_FALSE(out.write(s));
  CHECK(s.taken == "+B\r\n");
}
