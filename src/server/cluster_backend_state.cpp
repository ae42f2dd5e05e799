// A Redis Cluster upstream: the connection state the proxy keeps for each client, since the
// node connections are shared (docs/cluster.md, "Connection state").
#include <cctype>

#include "puppy/resp/ascii.hpp"
#include "puppy/resp/encode.hpp"
#include "puppy/server/cluster_backend.hpp"
#include "puppy/server/upstream_start.hpp"
#include "puppy/server/worker.hpp"

namespace puppy::server {

using resp::lower;

std::optional<std::string> cluster_backend::answer_here(const std::string& name,
                                                        const args_view& args) {
  namespace enc = resp::encode;
  const auto arity = [&name] {
    return enc::error("ERR wrong number of arguments for '" + name + "' command");
  };
  if (name == "select") {
    if (args.size() != 2) return arity();
    if (args[1] == "0") return enc::simple("OK");
    return enc::error("ERR SELECT is not allowed in cluster mode");
  }
  if (name == "quit") {
    state_.quit = true;
    return enc::simple("OK");
  }
  if (name == "hello") {
    // To its clients the proxy is one Redis: mode standalone (a client told "cluster" might
    // start speaking the cluster protocol).
    return resp::answer_hello(args, state_, "standalone");
  }
  if (name == "client") {
    if (args.size() < 2) return arity();
    if (auto r = resp::answer_client(args, state_)) return r;
    return enc::error("ERR CLIENT " + lower(args[1]) +
                      " is not supported through puppy-proxy in front of a Redis Cluster");
  }
  if (name == "auth") {
    // The proxy logs in to the nodes itself; a client's AUTH is checked against that login.
    if (args.size() != 2 && args.size() != 3) return arity();
    const std::string& login = owner_.config().upstream_login;
    if (login.empty()) {
      return enc::error(
          "ERR AUTH <password> called without any password configured for the default user. "
          "Are you sure your configuration is correct?");
    }
    const std::string asked = args.size() == 2
                                  ? login_request({}, std::string(args[1]))
                                  : login_request(std::string(args[1]), std::string(args[2]));
    const bool same = asked == login || (args.size() == 3 && args[1] == "default" &&
                                         login_request({}, std::string(args[2])) == login);
    if (same) return enc::simple("OK");
    return enc::error("WRONGPASS invalid username-password pair or user is disabled.");
  }
  if (name == "readonly" || name == "readwrite" || name == "asking") return enc::simple("OK");
  if (name == "reset") {
    const auto id = state_.id;
    state_ = {};
    state_.id = id;
    return enc::simple("RESET");
  }
  if (name == "monitor" || name == "sync" || name == "psync") {
    std::string upper = name;
    for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return enc::error("ERR " + upper +
                      " is not supported through puppy-proxy in front of a Redis Cluster");
  }
  return std::nullopt;
}

}  // namespace puppy::server
