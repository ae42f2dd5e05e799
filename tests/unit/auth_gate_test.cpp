// auth::check: what a client of a proxy with a password gets for AUTH, HELLO and the rest,
// with Redis 7.0's exact replies (checked against redis-server --requirepass by hand and by
// the integration tests).
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "puppy/auth/gate.hpp"

using puppy::auth::action;
using puppy::auth::check;

namespace {

const std::string secret = "s3cret";
const std::string wrongpass = "-WRONGPASS invalid username-password pair or user is disabled.\r\n";

puppy::auth::decision run(std::vector<std::string_view> args, bool authenticated) {
  std::string name(args.front());
  for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return check(name, args, authenticated, secret);
}

}  // namespace

TEST_CASE("auth gate: before AUTH only AUTH, HELLO, QUIT and RESET get through") {
  auto d = run({"GET", "k"}, false);
  CHECK(d.act == action::reply);
  CHECK(d.reply == "-NOAUTH Authentication required.\r\n");
  CHECK_FALSE(d.authenticated);
  CHECK(run({"PGET", "k"}, false).reply == "-NOAUTH Authentication required.\r\n");
  CHECK(run({"QUIT"}, false).act == action::forward);
  d = run({"RESET"}, false);
  CHECK(d.act == action::forward);
  CHECK_FALSE(d.authenticated);
}

TEST_CASE("auth gate: AUTH with the password, with user default, wrong, and bad arity") {
  auto d = run({"AUTH", "s3cret"}, false);
  CHECK(d.act == action::reply);
  CHECK(d.reply == "+OK\r\n");
  CHECK(d.authenticated);
  CHECK(run({"auth", "default", "s3cret"}, false).reply == "+OK\r\n");
  CHECK(run({"AUTH", "s3cre"}, false).reply == wrongpass);
  CHECK(run({"AUTH", "s3cret!"}, false).reply == wrongpass);
  CHECK(run({"AUTH", ""}, false).reply == wrongpass);
  CHECK(run({"AUTH", "alice", "s3cret"}, false).reply == wrongpass);
  CHECK_FALSE(run({"AUTH", "nope"}, false).authenticated);
  // A failed AUTH does not log an authenticated client out (Redis 7).
  d = run({"AUTH", "nope"}, true);
  CHECK(d.reply == wrongpass);
  CHECK(d.authenticated);
  CHECK(run({"AUTH"}, false).reply == "-ERR wrong number of arguments for 'auth' command\r\n");
  CHECK(run({"AUTH", "a", "b", "c"}, false).reply == "-ERR syntax error\r\n");
}

TEST_CASE("auth gate: HELLO") {
  const std::string noauth =
      "-NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO "
      "AUTH <user> <pass> option can be used to authenticate the client and select the RESP "
      "protocol version at the same time\r\n";
  CHECK(run({"HELLO"}, false).reply == noauth);
  CHECK(run({"HELLO", "3"}, false).reply == noauth);
  CHECK(run({"HELLO", "3", "SETNAME", "x"}, false).reply == noauth);
  CHECK(run({"HELLO", "4"}, false).reply == "-NOPROTO unsupported protocol version\r\n");
  CHECK(run({"HELLO", "x"}, false).reply ==
        "-ERR Protocol version is not an integer or out of range\r\n");
  CHECK(run({"HELLO", "3", "AUTH", "default"}, false).reply ==
        "-ERR Syntax error in HELLO option 'AUTH'\r\n");
  CHECK(run({"HELLO", "3", "AUTH", "default", "bad"}, false).reply == wrongpass);

  // The login is the proxy's business: the upstream gets HELLO without it.
  auto d = run({"HELLO", "3", "AUTH", "default", "s3cret"}, false);
  CHECK(d.act == action::rewritten);
  CHECK(d.request == "*2\r\n$5\r\nHELLO\r\n$1\r\n3\r\n");
  CHECK(d.authenticated);
  d = run({"hello", "2", "auth", "default", "s3cret", "setname", "app"}, false);
  CHECK(d.request == "*4\r\n$5\r\nhello\r\n$1\r\n2\r\n$7\r\nSETNAME\r\n$3\r\napp\r\n");
  // Authenticated: HELLO goes upstream as it is.
  d = run({"HELLO", "3"}, true);
  CHECK(d.act == action::forward);
  CHECK(d.authenticated);
  CHECK(run({"HELLO"}, true).act == action::forward);
}

TEST_CASE("auth gate: RESET logs out; other commands pass once authenticated") {
  CHECK(run({"GET", "k"}, true).act == action::forward);
  auto d = run({"RESET"}, true);
  CHECK(d.act == action::forward);
  CHECK_FALSE(d.authenticated);
}
