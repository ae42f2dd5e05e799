#include "puppy/auth/gate.hpp"

#include <cctype>
#include <charconv>

#include "puppy/resp/encode.hpp"

namespace puppy::auth {
namespace {

using resp::encode::bulk;

// Redis 7.0's texts.
constexpr const char* noauth = "-NOAUTH Authentication required.\r\n";
constexpr const char* wrongpass =
    "-WRONGPASS invalid username-password pair or user is disabled.\r\n";
constexpr const char* hello_noauth =
    "-NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO "
    "AUTH <user> <pass> option can be used to authenticate the client and select the RESP "
    "protocol version at the same time\r\n";

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const auto x = static_cast<unsigned char>(a[i]);
    const auto y = static_cast<unsigned char>(b[i]);
    if (std::tolower(x) != std::tolower(y)) return false;
  }
  return true;
}

// Compares in time that depends only on the lengths, so a wrong guess says nothing about how
// much of it was right.
bool same_secret(std::string_view given, const std::string& secret) {
  if (secret.empty()) return false;
  unsigned char diff = given.size() == secret.size() ? 0 : 1;
  for (std::size_t i = 0; i < given.size(); ++i) {
    diff |= static_cast<unsigned char>(given[i] ^ secret[i % secret.size()]);
  }
  return diff == 0;
}

bool valid_login(std::string_view user, std::string_view password, const std::string& secret) {
  const bool user_ok = user == "default";
  return same_secret(password, secret) && user_ok;
}

decision answer(std::string reply, bool authenticated) {
  return {action::reply, std::move(reply), {}, authenticated};
}

decision auth_command(const std::vector<std::string_view>& args, bool authenticated,
                      const std::string& secret) {
  if (args.size() < 2)
    return answer("-ERR wrong number of arguments for 'auth' command\r\n", authenticated);
  if (args.size() > 3) return answer("-ERR syntax error\r\n", authenticated);
  const bool ok =
      args.size() == 2 ? same_secret(args[1], secret) : valid_login(args[1], args[2], secret);
  // A failed AUTH leaves an authenticated client authenticated, as in Redis 7.
  return ok ? answer("+OK\r\n", true) : answer(wrongpass, authenticated);
}

decision hello_command(const std::vector<std::string_view>& args, bool authenticated,
                       const std::string& secret) {
  if (args.size() >= 2) {
    long long version = 0;
    const auto* end = args[1].data() + args[1].size();
    const auto [ptr, ec] = std::from_chars(args[1].data(), end, version);
    if (ec != std::errc() || ptr != end || args[1].empty()) {
      return answer("-ERR Protocol version is not an integer or out of range\r\n", authenticated);
    }
    if (version < 2 || version > 3) {
      return answer("-NOPROTO unsupported protocol version\r\n", authenticated);
    }
  }
  bool login = false;
  std::string_view user, password, name;
  bool named = false;
  for (std::size_t j = 2; j < args.size(); ++j) {
    const std::size_t more = args.size() - 1 - j;
    if (iequals(args[j], "auth") && more >= 2) {
      login = true;
      user = args[j + 1];
      password = args[j + 2];
      j += 2;
    } else if (iequals(args[j], "setname") && more >= 1) {
      named = true;
      name = args[j + 1];
      ++j;
    } else {
      return answer("-ERR Syntax error in HELLO option '" + std::string(args[j]) + "'\r\n",
                    authenticated);
    }
  }
  if (login && !valid_login(user, password, secret)) return answer(wrongpass, authenticated);
  if (!login && !authenticated) return answer(hello_noauth, authenticated);
  if (!login) return {action::forward, {}, {}, true};
  // The upstream connection is the proxy's: it gets the same HELLO without the login.
  std::string request = resp::encode::array_header(named ? 4 : 2) + bulk(args[0]) + bulk(args[1]);
  if (named) request += bulk("SETNAME") + bulk(name);
  return {action::rewritten, {}, std::move(request), true};
}

}  // namespace

bool needs_arguments(std::string_view name) {
  return name == "auth" || name == "hello";
}

decision check(std::string_view name, const std::vector<std::string_view>& args, bool authenticated,
               const std::string& password) {
  if (name == "auth") return auth_command(args, authenticated, password);
  if (name == "hello") return hello_command(args, authenticated, password);
  if (name == "reset") return {action::forward, {}, {}, false};  // RESET logs the client out
  if (name == "quit" || authenticated) return {action::forward, {}, {}, authenticated};
  return answer(noauth, false);
}

}  // namespace puppy::auth
