// reply_ledger: which reply of a Redis connection is relayed, captured, or followed by a reply
// the proxy made; pass-through and RESET; bad replies. Bytes in, the client's bytes out.
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "fake_socket.hpp"
#include "puppy/metrics/stats.hpp"
#include "puppy/server/reply_ledger.hpp"

using puppy::server::captured_reply;
using puppy::server::client_output;
using puppy::server::reply_ledger;
using puppy::test::fake_socket;

namespace {

struct recorder : puppy::server::ledger_listener {
  std::vector<std::string> captured;  // "kind/slot/bytes"
  int counted = 0;
  int lost = 0;
  int readonly = 0;
  void on_captured(const captured_reply& c, std::string_view bytes) override {
    captured.push_back(std::to_string(c.kind) + "/" + std::to_string(c.slot) + "/" +
                       std::string(bytes));
  }
  void on_counted() override { ++counted; }
  void on_accounting_lost() override { ++lost; }
  void on_readonly() override { ++readonly; }
};

struct fixture {
  puppy::metrics::counter bytes;
  client_output out{bytes};
  recorder heard;
  reply_ledger ledger{out, heard, 1000};
  fake_socket client;

  // Everything the client got so far.
  std::string sent_to_client() {
    REQUIRE_FALSE(out.write(client));
    return client.taken;
  }
  // As the session does: the relayed views are written before the read buffer is reused.
  bool relay(const std::string& bytes) {
    const bool ok = ledger.relay(bytes.data(), bytes.size());
    REQUIRE_FALSE(out.write(client));
    return ok;
  }
};

}  // namespace

TEST_CASE("reply_ledger: a local reply takes its request's place among relayed replies") {
  fixture f;
  f.ledger.sent_one();
  f.ledger.sent_one();
  f.ledger.reply_local("-ERR local\r\n");  // the third request, answered here
  f.ledger.sent_one();
  CHECK_FALSE(f.ledger.idle());
  CHECK(f.relay("+A\r\n$1\r"));
  CHECK(f.relay("\nb\r\n+C\r\n"));
  CHECK(f.sent_to_client() == "+A\r\n$1\r\nb\r\n-ERR local\r\n+C\r\n");
  CHECK(f.ledger.answered());
  CHECK(f.ledger.received() == 3);
  CHECK(f.ledger.idle());
  f.ledger.reply_local("+OK\r\n");  // nothing outstanding: at once
  CHECK(f.sent_to_client() == "+A\r\n$1\r\nb\r\n-ERR local\r\n+C\r\n+OK\r\n");
}

TEST_CASE("reply_ledger: -READONLY is relayed, and heard once per read that holds one") {
  fixture f;
  for (int i = 0; i < 4; ++i) f.ledger.sent_one();
  CHECK(f.relay("-READONLY You can't write against a read only replica.\r\n-READ"));
  CHECK(f.heard.readonly == 1);
  CHECK(f.relay("ONLY x\r\n"));  // split: the scanner's head still sees it
  CHECK(f.heard.readonly == 2);
  CHECK(f.relay("-ERR READONLY is not first\r\n+READONLY\r\n"));
  CHECK(f.heard.readonly == 2);
  CHECK(f.sent_to_client() ==
        "-READONLY You can't write against a read only replica.\r\n-READONLY x\r\n"
        "-ERR READONLY is not first\r\n+READONLY\r\n");
  CHECK(f.ledger.answered());
}

TEST_CASE("reply_ledger: a captured reply is read, not relayed, even split across reads") {
  fixture f;
  f.ledger.sent_one();
  f.ledger.sent_captured(5, 7);
  f.ledger.sent_one();
  CHECK(f.relay("+A\r\n*2\r\n$1\r\nx"));
  CHECK(f.heard.captured.empty());
  CHECK(f.relay("\r\n$-1\r\n+C\r\n"));
  REQUIRE(f.heard.captured.size() == 1);
  CHECK(f.heard.captured[0] == "5/7/*2\r\n$1\r\nx\r\n$-1\r\n");
  CHECK(f.sent_to_client() == "+A\r\n+C\r\n");
  CHECK(f.heard.counted == 0);  // not asked for
}

TEST_CASE("reply_ledger: RESP3 pushes are relayed but not counted") {
  fixture f;
  f.ledger.sent_captured(1);
  f.ledger.sent_one();
  CHECK(f.relay(">2\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\nk\r\n:9\r\n+B\r\n"));
  REQUIRE(f.heard.captured.size() == 1);
  CHECK(f.heard.captured[0] == "1/0/:9\r\n");
  CHECK(f.sent_to_client() == ">2\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\nk\r\n+B\r\n");
  CHECK(f.ledger.answered());
}

TEST_CASE("reply_ledger: shared deliveries, whole or in parts, relayed or captured") {
  fixture f;
  f.ledger.watch_each_reply(true);
  f.ledger.sent_one();
  f.ledger.sent_captured(3);
  f.ledger.sent_one();
  const std::string a = "$5\r\nhe";
  const std::string b = "llo\r\n";
  f.ledger.deliver(a.data(), a.size(), false);
  f.ledger.deliver(b.data(), b.size(), true);
  const std::string c1 = ":4";
  const std::string c2 = "2\r\n";
  f.ledger.deliver(c1.data(), c1.size(), false);
  f.ledger.deliver(c2.data(), c2.size(), true);
  const std::string d = "+D\r\n";
  f.ledger.deliver(d.data(), d.size(), true);
  REQUIRE(f.heard.captured.size() == 1);
  CHECK(f.heard.captured[0] == "3/0/:42\r\n");
  CHECK(f.sent_to_client() == "$5\r\nhello\r\n+D\r\n");
  CHECK(f.heard.counted == 3);
  CHECK(f.ledger.answered());
}

TEST_CASE("reply_ledger: pass-through relays uncounted until RESET's +RESET") {
  fixture f;
  f.ledger.sent_one();
  f.ledger.enter_passthrough(false);  // SUBSCRIBE
  f.ledger.sent_one();                // not counted
  CHECK(f.ledger.passthrough());
  CHECK(f.relay("+OK\r\n*3\r\n$9\r\nsubscribe\r\n$1\r\nc\r\n:1\r\n"));
  CHECK(f.ledger.received() == 1);
  CHECK_FALSE(f.ledger.counting());
  f.ledger.await_reset();
  f.ledger.sent_one();  // PING after RESET: counted once +RESET came
  CHECK(f.relay("+RESET\r\n"));
  CHECK_FALSE(f.ledger.passthrough());
  CHECK(f.ledger.sent() == 2);
  f.ledger.reply_local("-ERR after\r\n");
  CHECK(f.relay("+PONG\r\n"));
  CHECK(f.sent_to_client() ==
        "+OK\r\n*3\r\n$9\r\nsubscribe\r\n$1\r\nc\r\n:1\r\n+RESET\r\n+PONG\r\n-ERR after\r\n");
}

TEST_CASE("reply_ledger: a replication stream is not even scanned") {
  fixture f;
  f.ledger.enter_passthrough(true);  // SYNC
  CHECK(f.relay("$3\r\nnot-resp-after-this \x01\x02"));
  CHECK(f.sent_to_client() == "$3\r\nnot-resp-after-this \x01\x02");
}

TEST_CASE("reply_ledger: an invalid reply stops the relay after what came before it") {
  fixture f;
  f.ledger.sent_one();
  f.ledger.sent_one();
  CHECK_FALSE(f.relay("+A\r\n?bad\r\n"));
  CHECK_FALSE(f.ledger.error_message().empty());
  CHECK(f.sent_to_client().rfind("+A\r\n", 0) == 0);
}

TEST_CASE("reply_ledger: more replies than requests: told once, then relayed uncounted") {
  fixture f;
  f.ledger.sent_one();
  CHECK(f.relay("+A\r\n+B\r\n+C\r\n"));
  CHECK(f.heard.lost == 1);
  CHECK(f.ledger.passthrough());
  CHECK(f.sent_to_client() == "+A\r\n+B\r\n+C\r\n");
}

TEST_CASE("reply_ledger: watch_each_reply hears every counted reply") {
  fixture f;
  f.ledger.sent_one();
  f.ledger.sent_one();
  CHECK(f.relay("+A\r\n"));
  CHECK(f.heard.counted == 0);  // the fast path: one view, no call per reply
  f.ledger.watch_each_reply(true);
  CHECK(f.relay("+B\r\n"));
  CHECK(f.heard.counted == 1);
  CHECK(f.sent_to_client() == "+A\r\n+B\r\n");
}
