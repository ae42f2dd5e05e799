// What a PGET answers from each step's reply (pget/answer.hpp), on bytes: the exact reply, what
// comes next, and what is counted, for every engine alike.
#include <catch2/catch.hpp>
#include <cstdint>
#include <string>
#include <string_view>

#include "puppy/pget/answer.hpp"
#include "puppy/pget/decision.hpp"

using namespace puppy::pget;
using namespace std::literals;

namespace {

constexpr std::int64_t now_ms = 1'700'000'000'000;

std::string bulk(std::string_view s) {
  return "$" + std::to_string(s.size()) + "\r\n" + std::string(s) + "\r\n";
}
// MGET key status's reply: a value or nil, a status or nil.
std::string pair(const char* value, const std::string& status) {
  return "*2\r\n" + (value ? bulk(value) : "$-1\r\n"s) +
         (status.empty() ? "$-1\r\n"s : bulk(status));
}
const std::string current = format_current(40, now_ms + 60'000);

}  // namespace

TEST_CASE("pget answer: a read answers fresh, stale and miss at once") {
  std::string out;
  auto a = answer_read(pair("v1", current), now_ms, 0, false, &out);
  CHECK(a.next == after_read::answered);
  CHECK(a.given == state::fresh);
  CHECK(out == "*3\r\n$5\r\nfresh\r\n$2\r\nv1\r\n$-1\r\n");

  out = "kept|";  // appended to, never replaced
  const std::string lease = format_lease("other", now_ms - 10, 40, 0);
  a = answer_read(pair("old", lease), now_ms, 0, false, &out);
  CHECK(a.next == after_read::answered);
  CHECK(a.given == state::stale);
  CHECK(out == "kept|*3\r\n$5\r\nstale\r\n$3\r\nold\r\n$-1\r\n");

  out.clear();
  a = answer_read(pair(nullptr, lease), now_ms, 0, false, &out);
  CHECK(a.given == state::miss);
  CHECK(out == "*3\r\n$4\r\nmiss\r\n$-1\r\n$-1\r\n");

  // RESP3 nils read alike.
  out.clear();
  a = answer_read("*2\r\n$2\r\nv1\r\n_\r\n", now_ms, 0, false, &out);
  CHECK(a.next == after_read::take_lease);
  CHECK_FALSE(a.given);
  CHECK(out.empty());
}

TEST_CASE("pget answer: a read that cannot answer names the next step") {
  std::string out;
  // No status: take the lease.
  auto a = answer_read(pair(nullptr, ""), now_ms, 0, false, &out);
  CHECK(a.next == after_read::take_lease);
  CHECK(out.empty());
  // A current status without its value: a miss now, and the status healed.
  a = answer_read(pair(nullptr, current), now_ms, 0, false, &out);
  CHECK(a.next == after_read::heal);
  CHECK(a.given == state::miss);
  CHECK(out == "*3\r\n$4\r\nmiss\r\n$-1\r\n$-1\r\n");
  // BETA's early refresh is due: the script decides.
  out.clear();
  a = answer_read(pair("v", format_current(1000, now_ms + 10)), now_ms, 1.0, false, &out);
  CHECK(a.next == after_read::script);
  CHECK(out.empty());
}

TEST_CASE("pget answer: PGET ... WAIT is never answered a miss from its read") {
  std::string out;
  const std::string lease = format_lease("other", now_ms - 10, 40, 0);
  for (const auto& bytes : {pair(nullptr, lease), pair(nullptr, ""), pair(nullptr, current)}) {
    out.clear();
    const auto a = answer_read(bytes, now_ms, 0, true, &out);
    CHECK(a.next == after_read::script);
    CHECK_FALSE(a.given);
    CHECK(out.empty());
  }
  const auto a = answer_read(pair("old", lease), now_ms, 0, true, &out);
  CHECK(a.next == after_read::answered);
  CHECK(a.given == state::stale);
}

TEST_CASE("pget answer: a read's errors") {
  std::string out;
  auto a = answer_read("-MOVED 12 127.0.0.1:7000\r\n", now_ms, 0, false, &out);
  CHECK(a.next == after_read::answered);
  CHECK_FALSE(a.given);
  CHECK(out == "-MOVED 12 127.0.0.1:7000\r\n");
  out.clear();
  a = answer_read(":1\r\n", now_ms, 0, true, &out);
  CHECK(a.next == after_read::answered);
  CHECK(out == "-ERR unexpected reply to MGET\r\n");
}

TEST_CASE("pget answer: the lease step") {
  std::string out;
  // SET NX set it (nil): this client regenerates, with the old value if there is one.
  auto a = answer_lease("$-1\r\n", "$3\r\nold\r\n", "tok", now_ms, &out);
  CHECK(a.given == state::lease);
  CHECK_FALSE(a.heal);
  CHECK(out == "*3\r\n$5\r\nlease\r\n$3\r\nold\r\n$3\r\ntok\r\n");
  out.clear();
  a = answer_lease("_\r\n", "_\r\n", "tok", now_ms, &out);
  CHECK(out == "*3\r\n$5\r\nlease\r\n$-1\r\n$3\r\ntok\r\n");

  // Someone else took it in between: stale or miss.
  out.clear();
  const std::string lease = bulk(format_lease("other", now_ms - 10, 40, 0));
  a = answer_lease(lease, "$3\r\nold\r\n", "tok", now_ms, &out);
  CHECK(a.given == state::stale);
  CHECK(out == "*3\r\n$5\r\nstale\r\n$3\r\nold\r\n$-1\r\n");

  // A current status without its value: a miss, and the status healed.
  out.clear();
  a = answer_lease(bulk(current), "$-1\r\n", "tok", now_ms, &out);
  CHECK(a.given == state::miss);
  CHECK(a.heal);
  CHECK(out == "*3\r\n$4\r\nmiss\r\n$-1\r\n$-1\r\n");
}

TEST_CASE("pget answer: the lease step's errors") {
  std::string out;
  // Redis before 7.0 has no SET ... GET: the script from now on.
  auto a = answer_lease("-ERR syntax error\r\n", "$-1\r\n", "tok", now_ms, &out);
  CHECK(a.no_set_get);
  CHECK_FALSE(a.given);
  CHECK(out == "-ERR PGET needs Redis 7.0 or later for its fast path; retry\r\n");
  out.clear();
  a = answer_lease("-OOM command not allowed\r\n", "$-1\r\n", "tok", now_ms, &out);
  CHECK_FALSE(a.no_set_get);
  CHECK(out == "-OOM command not allowed\r\n");
  out.clear();
  a = answer_lease(":1\r\n", "$-1\r\n", "tok", now_ms, &out);
  CHECK(out == "-ERR unexpected reply to SET NX GET\r\n");
  out.clear();
  a = answer_lease("$-1\r\n", "-WRONGTYPE Operation against a key\r\n", "tok", now_ms, &out);
  CHECK_FALSE(a.given);
  CHECK(out == "-WRONGTYPE Operation against a key\r\n");
  out.clear();
  a = answer_lease("$-1\r\n", "*0\r\n", "tok", now_ms, &out);
  CHECK(out == "-ERR unexpected reply to GET\r\n");
}

TEST_CASE("pget answer: the script's get") {
  const std::string lease = "*5\r\n$5\r\nlease\r\n:1\r\n$1\r\nv\r\n$3\r\ntok\r\n:-1\r\n";
  std::string out;
  auto a = answer_get(lease, false, &out);
  CHECK(a.given == state::lease);
  CHECK_FALSE(a.wait);
  CHECK(out == "*3\r\n$5\r\nlease\r\n$1\r\nv\r\n$3\r\ntok\r\n");

  // A fresh answer carries no token, whatever the script returned in its place.
  out.clear();
  a = answer_get("*5\r\n$5\r\nfresh\r\n:1\r\n$1\r\nv\r\n$0\r\n\r\n:-1\r\n", true, &out);
  CHECK(a.given == state::fresh);
  CHECK(out == "*3\r\n$5\r\nfresh\r\n$1\r\nv\r\n$-1\r\n");

  // A miss: answered, or (WAIT) waited on until the lease ends.
  const std::string miss = "*5\r\n$4\r\nmiss\r\n:0\r\n$0\r\n\r\n$0\r\n\r\n:250\r\n";
  out.clear();
  a = answer_get(miss, false, &out);
  CHECK(a.given == state::miss);
  CHECK(out == "*3\r\n$4\r\nmiss\r\n$-1\r\n$-1\r\n");
  out.clear();
  a = answer_get(miss, true, &out);
  CHECK(a.wait);
  CHECK(a.retry_after == 250);
  CHECK_FALSE(a.given);
  CHECK(out.empty());
}

TEST_CASE("pget answer: the script's errors, for gets and writes alike") {
  struct row {
    std::string_view reply;
    bool noscript;
    std::string_view out;
  };
  const row rows[] = {
      {"-NOSCRIPT No matching script.\r\n", true,
       "-ERR the PGET script was flushed from the upstream; try again\r\n"},
      {"-BUSY Redis is busy\r\n", false, "-BUSY Redis is busy\r\n"},
      {"+OK\r\n", false, "-ERR unexpected reply from the PGET script\r\n"},
  };
  for (const auto& r : rows) {
    INFO(r.reply);
    std::string out;
    const auto g = answer_get(r.reply, true, &out);
    CHECK(g.noscript == r.noscript);
    CHECK_FALSE(g.wait);
    CHECK_FALSE(g.given);
    CHECK(out == r.out);
    out.clear();
    const auto w = answer_write(r.reply, &out);
    CHECK(w.noscript == r.noscript);
    CHECK_FALSE(w.value);
    CHECK(out == r.out);
  }
}

TEST_CASE("pget answer: a write's integer") {
  std::string out;
  auto a = answer_write(":1\r\n", &out);
  CHECK(a.value == 1);
  CHECK(out == ":1\r\n");
  out.clear();
  a = answer_write(":0\r\n", &out);
  CHECK(a.value == 0);
  CHECK_FALSE(a.noscript);
  CHECK(out == ":0\r\n");
}
