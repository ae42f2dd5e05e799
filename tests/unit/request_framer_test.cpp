// request_framer: well-formed requests and the caller contract (what is consumed when, what
// partial_bytes()/name_known() say about an unfinished request). Every fixture is fed whole, one
// byte at a time, and split at every offset (see check_framing in resp_test_support.cpp).
#include <catch2/catch.hpp>
#include <string>

#include "puppy/resp/request_framer.hpp"
#include "resp_test_support.hpp"

using namespace std::string_literals;
using puppy::resp::command_kind;
using puppy::resp::frame_error;
using puppy::resp::frame_status;
using puppy::resp::request_framer;
using resp_test::check_framing;
using resp_test::complete_run;
using resp_test::empty_request;
using resp_test::framer_run;
using resp_test::il;
using resp_test::mb;
using resp_test::mb_client;

namespace {

// The expected run of an input that stops in the middle of a request.
framer_run unfinished(std::vector<resp_test::seen_command> commands, std::uint64_t consumed,
                      std::string held, std::uint64_t partial_bytes, bool name_known) {
  framer_run r;
  r.commands = std::move(commands);
  r.consumed = consumed;
  r.held = std::move(held);
  r.partial_bytes = partial_bytes;
  r.name_known = name_known;
  return r;
}

}  // namespace

TEST_CASE("framer: a single multibulk command") {
  check_framing("*1\r\n$4\r\nPING\r\n", complete_run({mb(1, "ping", 14)}));
}

TEST_CASE("framer: pipelined multibulk commands, names lower-cased") {
  check_framing("*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\n*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n",
                complete_run({mb(3, "set", 33), mb(2, "get", 22)}));
  check_framing("*2\r\n$9\r\nSuBsCrIbE\r\n$2\r\nch\r\n",
                complete_run({mb(2, "subscribe", 27, command_kind::pubsub)}));
}

TEST_CASE("framer: inline commands") {
  check_framing("PING\r\n", complete_run({il({"PING"}, "ping", 6)}));
  check_framing("set a \"b c\"\n", complete_run({il({"set", "a", "b c"}, "set", 12)}));
  // Only one CR before the LF is part of the line ending; another one is a blank.
  check_framing("PING\r\r\n", complete_run({il({"PING"}, "ping", 7)}));
  check_framing("  \tECHO   'x y'  \r\n", complete_run({il({"ECHO", "x y"}, "echo", 19)}));
  // A quoted first argument is the command name too.
  check_framing("\"CLIENT\" reply off\n",
                complete_run({il({"CLIENT", "reply", "off"}, "client", 19, command_kind::client)}));
}

TEST_CASE("framer: empty requests are framed with argc 0") {
  check_framing("\r\n", complete_run({empty_request(2, true)}));
  check_framing("\n", complete_run({empty_request(1, true)}));
  check_framing("   \t\r\n", complete_run({empty_request(6, true)}));
  check_framing("*0\r\n", complete_run({empty_request(4, false)}));
  check_framing("*-1\r\n", complete_run({empty_request(5, false)}));
  // protocol.tcl "Negative multibulk length": no error, the next command works.
  check_framing("*-10\r\n*1\r\n$4\r\nPING\r\n",
                complete_run({empty_request(6, false), mb(1, "ping", 14)}));
  // string2ll accepts LLONG_MIN; every count <= 0 is an empty request.
  check_framing("*-9223372036854775808\r\n", complete_run({empty_request(23, false)}));
  // protocol.tcl "Handle an empty query".
  check_framing("\r\n*1\r\n$4\r\nPING\r\n",
                complete_run({empty_request(2, true), mb(1, "ping", 14)}));
}

TEST_CASE("framer: inline and multibulk requests mixed in one stream") {
  check_framing("PING\r\n*1\r\n$4\r\nPING\r\n\r\nECHO hi\n*0\r\nQUIT\r\n",
                complete_run({il({"PING"}, "ping", 6), mb(1, "ping", 14), empty_request(2, true),
                              il({"ECHO", "hi"}, "echo", 8), empty_request(4, false),
                              il({"QUIT"}, "quit", 6, command_kind::quit)}));
}

TEST_CASE("framer: command kinds come from the command table") {
  check_framing("MONITOR\r\n",
                complete_run({il({"MONITOR"}, "monitor", 9, command_kind::monitor)}));
  check_framing("*1\r\n$5\r\nreset\r\n", complete_run({mb(1, "reset", 15, command_kind::reset)}));
  check_framing("*1\r\n$4\r\nSYNC\r\n",
                complete_run({mb(1, "sync", 14, command_kind::replication)}));
  check_framing("*3\r\n$5\r\nPSYNC\r\n$1\r\n?\r\n$2\r\n-1\r\n",
                complete_run({mb(3, "psync", 30, command_kind::replication)}));
  check_framing("*3\r\n$8\r\nREPLCONF\r\n$3\r\nack\r\n$1\r\n0\r\n",
                complete_run({mb(3, "replconf", 34)}));
  check_framing("psubscribe a*\n",
                complete_run({il({"psubscribe", "a*"}, "psubscribe", 14, command_kind::pubsub)}));
  check_framing("SUNSUBSCRIBE\r\n",
                complete_run({il({"SUNSUBSCRIBE"}, "sunsubscribe", 14, command_kind::pubsub)}));
  check_framing("*1\r\n$11\r\nUnsubscribe\r\n",
                complete_run({mb(1, "unsubscribe", 22, command_kind::pubsub)}));
  check_framing("*1\r\n$12\r\nPUNSUBSCRIBE\r\n",
                complete_run({mb(1, "punsubscribe", 23, command_kind::pubsub)}));
  check_framing("ssubscribe x\r\n",
                complete_run({il({"ssubscribe", "x"}, "ssubscribe", 14, command_kind::pubsub)}));
}

TEST_CASE("framer: CLIENT arguments are captured, others are not") {
  check_framing("*3\r\n$6\r\nCLIENT\r\n$5\r\nREPLY\r\n$3\r\nOFF\r\n",
                complete_run({mb_client({"CLIENT", "REPLY", "OFF"}, 36)}));
  check_framing(
      "client reply skip\r\n",
      complete_run({il({"client", "reply", "skip"}, "client", 19, command_kind::client)}));
  // Captured arguments are binary safe and belong to their own command only.
  check_framing("*2\r\n$6\r\nclient\r\n$3\r\na\0b\r\n*2\r\n$3\r\nget\r\n$1\r\nk\r\n"s,
                complete_run({mb_client({"client", "a\0b"s}, 25), mb(2, "get", 20)}));
  check_framing("*1\r\n$6\r\nCLIENT\r\n*1\r\n$6\r\nclient\r\n",
                complete_run({mb_client({"CLIENT"}, 16), mb_client({"client"}, 16)}));
  // A large captured argument arrives in pieces.
  const std::string big(3000, 'z');
  check_framing("*3\r\n$6\r\nclient\r\n$7\r\nsetname\r\n$3000\r\n" + big + "\r\n",
                complete_run({mb_client({"client", "setname", big}, 4 + 12 + 13 + 3009)}));
}

TEST_CASE("framer: bulk data is binary; CRLF inside it is data") {
  check_framing("*2\r\n$4\r\necho\r\n$6\r\na\r\nb\r\n\r\n", complete_run({mb(2, "echo", 26)}));
  check_framing("*2\r\n$4\r\necho\r\n$0\r\n\r\n", complete_run({mb(2, "echo", 20)}));
  check_framing("*1\r\n$0\r\n\r\n", complete_run({mb(1, "", 10)}));
  check_framing("*1\r\n$4\r\nPI\0G\r\n"s, complete_run({mb(1, "pi\0g"s, 14)}));
}

TEST_CASE("framer: like Redis, the two bytes after bulk data are not checked") {
  check_framing("*1\r\n$4\r\nPINGxy*1\r\n$4\r\nPING\r\n",
                complete_run({mb(1, "ping", 14), mb(1, "ping", 14)}));
  check_framing("*2\r\n$4\r\necho\r\n$1\r\naXY", complete_run({mb(2, "echo", 21)}));
  check_framing("*2\r\n$6\r\nCLIENTAB$2\r\nidXY", complete_run({mb_client({"CLIENT", "id"}, 24)}));
}

TEST_CASE("framer: like Redis, a CR in a header line only needs some byte after it") {
  check_framing("*1\rX$4\rYping\rZ", complete_run({mb(1, "ping", 14)}));
  check_framing("*1\r\r$4\r\rping\r\r", complete_run({mb(1, "ping", 14)}));
  // The byte after the CR may even be NUL: strchr found the CR before it.
  check_framing("*1\r\0$4\r\nping\r\n"s, complete_run({mb(1, "ping", 14)}));
  // Without that byte the line is not complete yet.
  check_framing("*1\r", unfinished({}, 0, "*1\r", 0, false));
  check_framing("*1\r\n$4\r", unfinished({}, 4, "$4\r", 4, false));
}

TEST_CASE("framer: command names up to 32 bytes are looked up, longer ones are not") {
  const std::string name32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345";
  const std::string name33 = name32 + "6";
  check_framing("*1\r\n$32\r\n" + name32 + "\r\n",
                complete_run({mb(1, "abcdefghijklmnopqrstuvwxyz012345", 43)}));
  check_framing("*1\r\n$33\r\n" + name33 + "\r\n", complete_run({mb(1, "", 44)}));
  check_framing(name32 + "\r\n",
                complete_run({il({name32}, "abcdefghijklmnopqrstuvwxyz012345", 34)}));
  check_framing(name33 + " x\r\n", complete_run({il({name33, "x"}, "", 37)}));
  // A 33-byte first argument is known to be a plain command as soon as its header is read.
  check_framing("*2\r\n$33\r\nABC", unfinished({}, 12, "", 12, true));
}

TEST_CASE("framer: an unfinished request: what is consumed and what is held") {
  // Header lines are consumed when complete; a short name only with the 2 bytes after it.
  check_framing("*2\r\n$3\r\nge", unfinished({}, 8, "ge", 8, false));
  check_framing("*2\r\n$3\r\nget\r", unfinished({}, 8, "get\r", 8, false));
  check_framing("*2\r\n$3\r\nget\r\n", unfinished({}, 13, "", 13, true));
  check_framing("*2\r\n$3\r\nget\r\n$5", unfinished({}, 13, "$5", 13, true));
  // Argument data is consumed as it streams by.
  check_framing("*2\r\n$3\r\nget\r\n$5\r\nhel", unfinished({}, 20, "", 20, true));
  check_framing("*2\r\n$3\r\nget\r\n$5\r\nhello\r", unfinished({}, 23, "", 23, true));
  // Inline lines are consumed only when complete.
  check_framing("PIN", unfinished({}, 0, "PIN", 0, false));
  check_framing("set \"foo", unfinished({}, 0, "set \"foo", 0, false));
  check_framing("*", unfinished({}, 0, "*", 0, false));
  check_framing("*12", unfinished({}, 0, "*12", 0, false));
  // After complete commands, partial_bytes() counts only the unfinished one.
  check_framing("*1\r\n$4\r\nPING\r\n*2\r\n$3\r\nge",
                unfinished({mb(1, "ping", 14)}, 22, "ge", 8, false));
  check_framing("PING\r\n*2\r\n$3\r\nget\r\n$1\r\n",
                unfinished({il({"PING"}, "ping", 6)}, 23, "", 17, true));
}

TEST_CASE("framer: partial_spec() is the unfinished request's spec once its name is known") {
  request_framer f;
  const std::string a = "*3\r\n$6\r\nCLIENT\r\n$5\r\nREPLY\r\n$2\r\nO";
  const auto r = f.parse(a.data(), a.size());
  CHECK(r.status == frame_status::need_more);
  CHECK(r.consumed == a.size());
  CHECK(f.name_known());
  CHECK(f.partial_spec().kind == command_kind::client);
  CHECK(f.partial_spec().capture_args);
  CHECK(f.partial_bytes() == a.size());
  const std::string b = "N\r\n";
  const auto r2 = f.parse(b.data(), b.size());
  CHECK(r2.status == frame_status::command);
  CHECK(r2.consumed == 3);
  CHECK(f.command().wire_size == a.size() + 3);
  REQUIRE(f.command().args.size() == 3);
  CHECK(f.command().args[2] == "ON");
  CHECK_FALSE(f.name_known());
  CHECK(f.partial_bytes() == 0);

  request_framer g;
  const std::string c = "*2\r\n$3\r\nGeT\r\n";
  CHECK(g.parse(c.data(), c.size()).status == frame_status::need_more);
  CHECK(g.name_known());
  CHECK(g.partial_spec().kind == command_kind::plain);
  CHECK_FALSE(g.partial_spec().capture_args);
}

TEST_CASE("framer: parse() stops after one request; the caller calls it again") {
  request_framer f;
  const std::string in = "*1\r\n$4\r\nPING\r\nPING\r\n*0\r\n";
  auto r = f.parse(in.data(), in.size());
  CHECK(r.status == frame_status::command);
  CHECK(r.consumed == 14);
  r = f.parse(in.data() + 14, in.size() - 14);
  CHECK(r.status == frame_status::command);
  CHECK(r.consumed == 6);
  CHECK(f.command().is_inline);
  r = f.parse(in.data() + 20, in.size() - 20);
  CHECK(r.status == frame_status::command);
  CHECK(r.consumed == 4);
  CHECK(f.command().argc == 0);
  r = f.parse(in.data() + 24, 0);
  CHECK(r.status == frame_status::need_more);
  CHECK(r.consumed == 0);
}

TEST_CASE("framer: a big value streams through without being held") {
  request_framer f;
  std::string buf = "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$100000\r\n";
  const std::uint64_t head = buf.size();  // 4 + 9 + 7 + 9
  REQUIRE(head == 29);
  auto r = f.parse(buf.data(), buf.size());
  CHECK(r.status == frame_status::need_more);
  CHECK(r.consumed == head);
  CHECK(f.partial_bytes() == head);
  std::uint64_t sent = 0;
  const std::string chunk(999, 'v');
  while (sent + chunk.size() <= 100000) {
    r = f.parse(chunk.data(), chunk.size());
    REQUIRE(r.status == frame_status::need_more);
    REQUIRE(r.consumed == chunk.size());  // nothing is held
    sent += chunk.size();
    REQUIRE(f.partial_bytes() == head + sent);
    REQUIRE(f.name_known());
  }
  const std::string rest = std::string(100000 - sent, 'v') + "\r\n*1\r\n$4\r\nPING\r\n";
  r = f.parse(rest.data(), rest.size());
  CHECK(r.status == frame_status::command);
  CHECK(r.consumed == 100000 - sent + 2);
  CHECK(f.command().wire_size == head + 100002);
  CHECK(f.command().argc == 3);
  CHECK(f.command().name == "set");
  CHECK(f.command().args.empty());
  r = f.parse(rest.data() + r.consumed, rest.size() - r.consumed);
  CHECK(r.status == frame_status::command);
  CHECK(f.command().name == "ping");
}

TEST_CASE("framer: protocol.tcl pipelined BLPOP regression") {
  const std::string proto = "*3\r\n$5\r\nBLPOP\r\n$6\r\nnolist\r\n$1\r\n0\r\n";
  check_framing(proto + proto, complete_run({mb(3, "blpop", 34), mb(3, "blpop", 34)}));
}

TEST_CASE("framer: protocol.tcl large number of args (MSET with 20003 arguments)") {
  std::string in = "*20003\r\n$4\r\nmset\r\n";
  for (int i = 0; i < 10000; ++i) in += "$1\r\nk\r\n$1\r\nv\r\n";
  in += "$4\r\n{k}2\r\n$2\r\nv2\r\n";
  REQUIRE(in.size() == 140036);
  const framer_run expected = complete_run({mb(20003, "mset", 140036)});
  CHECK(resp_test::run_whole(in) == expected);
  CHECK(resp_test::run_bytewise(in) == expected);
  for (std::size_t at : {1, 8, 17, 18, 19, 70000, 140034, 140035}) {
    INFO("split at " << at);
    CHECK(resp_test::run_split(in, at) == expected);
  }
}

TEST_CASE("framer: reset() forgets the request in progress and the last error") {
  request_framer f;
  const std::string partial = "*2\r\n$3\r\nget\r\n$1\r\n";
  CHECK(f.parse(partial.data(), partial.size()).status == frame_status::need_more);
  CHECK(f.name_known());
  f.reset();
  CHECK_FALSE(f.name_known());
  CHECK(f.partial_bytes() == 0);
  const std::string bad = "*1\r\nfoo\r\n";
  CHECK(f.parse(bad.data(), bad.size()).status == frame_status::error);
  CHECK(f.error() == frame_error::expected_dollar);
  f.reset();
  CHECK(f.error() == frame_error::none);
  CHECK(f.error_message().empty());
  CHECK(f.partial_bytes() == 0);
  const std::string ok = "ECHO x\r\n";
  const auto r = f.parse(ok.data(), ok.size());
  CHECK(r.status == frame_status::command);
  CHECK(r.consumed == 8);
  CHECK(f.command().argc == 2);
  CHECK(f.command().name == "echo");
  CHECK(f.command().is_inline);
}

TEST_CASE("framer: a fresh framer reports no error") {
  request_framer f;
  CHECK(f.error() == frame_error::none);
  CHECK(f.error_message().empty());
  CHECK(f.partial_bytes() == 0);
  CHECK_FALSE(f.name_known());
}

namespace {

// Frames `in` with set_capture_keys(max_len), fed whole and split at every offset; returns each
// command's args (the same every way, else the test fails).
std::vector<std::vector<std::string>> keys_framed(const std::string& in, std::size_t max_len) {
  std::vector<std::vector<std::string>> first;
  for (std::size_t cut = 0; cut <= in.size(); ++cut) {
    request_framer f;
    f.set_capture_keys(max_len);
    std::vector<std::vector<std::string>> got;
    std::string buf;
    for (const std::string& part : {in.substr(0, cut), in.substr(cut)}) {
      buf += part;
      std::size_t pos = 0;
      for (;;) {
        const auto r = f.parse(buf.data() + pos, buf.size() - pos);
        pos += r.consumed;
        if (r.status != frame_status::command) break;
        const auto& cmd = f.command();
        got.emplace_back(cmd.args.begin(), cmd.args.end());
        if (!cmd.keys_only && !cmd.spec.capture_args && !cmd.is_inline) got.back().clear();
      }
      buf.erase(0, pos);
    }
    if (cut == 0) first = got;
    INFO("split at " << cut);
    REQUIRE(got == first);
  }
  return first;
}

}  // namespace

TEST_CASE("framer: set_capture_keys copies the short arguments of commands that may write") {
  using args = std::vector<std::string>;
  const std::string value(20, 'v');
  // SET: the key (8 bytes at most here) is kept, the 20-byte value is left out; the name as sent.
  CHECK(keys_framed("*3\r\n$3\r\nSET\r\n$4\r\nkey1\r\n$20\r\n" + value + "\r\n", 8) ==
        std::vector<args>{{"SET", "key1"}});
  // At the edge: max_len bytes are copied, max_len + 1 are not.
  CHECK(keys_framed("*3\r\n$3\r\nDEL\r\n$8\r\n12345678\r\n$9\r\n123456789\r\n", 8) ==
        std::vector<args>{{"DEL", "12345678"}});
  // Read-only commands are not copied, but the near cache's reads (GET, MGET) are.
  CHECK(keys_framed("*2\r\n$7\r\nHGETALL\r\n$1\r\nh\r\n*3\r\n$4\r\nMGET\r\n$1\r\na\r\n$1\r\nb\r\n",
                    8) == std::vector<args>{{}, {"MGET", "a", "b"}});
  // Unknown commands may write: copied.
  CHECK(keys_framed("*2\r\n$6\r\nMYCMD1\r\n$1\r\nk\r\n", 8) == std::vector<args>{{"MYCMD1", "k"}});
  // Off (0): nothing copied.
  CHECK(keys_framed("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n", 0) == std::vector<args>{{}});
}
