#pragma once
// The connection state a client keeps with a Redis server, for upstreams that have no one
// connection per client to keep it (a memcached pool, a Redis Cluster behind shared node
// connections): HELLO's protocol and name, CLIENT SETNAME/GETNAME/ID/INFO, QUIT. No sockets.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace puppy::resp {

struct client_state {
  bool resp3 = false;
  std::string name;
  std::int64_t id = 0;
  bool quit = false;  // QUIT was answered: close after the reply
  // For CLIENT INFO: the client's address, the proxy's (ip:port), the client socket.
  std::string addr, laddr;
  int fd = -1;
  std::chrono::steady_clock::time_point since = std::chrono::steady_clock::now();
};

// HELLO [protover [AUTH user pass] [SETNAME name]] answered as Redis does, the server described
// as `mode` ("standalone", "cluster"). With resp3_allowed false, HELLO 3 gets -NOPROTO.
std::string answer_hello(const std::vector<std::string_view>& args, client_state& st,
                         std::string_view mode, bool resp3_allowed = true);
// CLIENT SETNAME/GETNAME/SETINFO/ID/INFO/LIST; nullopt for any other subcommand. INFO is the
// line Redis 7.0 writes, with what the proxy knows of the client (its own connection's figures:
// no query buffer, no subscriptions counted); LIST is that one line (this client only).
std::optional<std::string> answer_client(const std::vector<std::string_view>& args,
                                         client_state& st);

}  // namespace puppy::resp
