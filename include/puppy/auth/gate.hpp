#pragma once
// The proxy's own password (Redis's requirepass), checked by the proxy and separate from the
// credentials it uses upstream. Decides, for each request of a client, what Redis 7 would do:
// AUTH and HELLO ... AUTH are answered or rewritten here (they never reach the upstream, whose
// connection is the proxy's), and until a client has authenticated every other command but
// QUIT and RESET gets NOAUTH. Pure logic over the request's arguments; no sockets.
#include <string>
#include <string_view>
#include <vector>

namespace puppy::auth {

enum class action {
  forward,    // send the request upstream unchanged
  reply,      // answer with `reply`; nothing goes upstream
  rewritten,  // send `request` upstream instead (HELLO without its AUTH option)
};

struct decision {
  action act = action::forward;
  std::string reply;    // action::reply: the whole RESP reply
  std::string request;  // action::rewritten: the whole RESP request
  bool authenticated;   // the client's state once this request has run
};

// `name` is the lower-case command name, `args` every argument (args[0] is the name as sent),
// `password` the proxy's (non-empty). Only AUTH and HELLO need `args`.
decision check(std::string_view name, const std::vector<std::string_view>& args, bool authenticated,
               const std::string& password);

// Whether `name` must reach check() with its arguments captured.
bool needs_arguments(std::string_view name);

}  // namespace puppy::auth
