#pragma once
// Where a client's requests go when the upstream is a Redis Cluster (docs/cluster.md): each is
// sent, as the client wrote it, to the master serving its keys' slot over the worker's shared
// node connections (cluster_nodes), and its reply handed to the client side in the request's
// reply slot (routed_backend.hpp). Keys are found from the cluster's own command
// specifications (COMMAND GETKEYS asked when they cannot say). Redirections never reach the
// client: -MOVED corrects the map and the request goes to the named node; -ASK sends it there
// once, after ASKING; TRYAGAIN, CLUSTERDOWN and a node that cannot be reached are retried with
// a back-off until settings.cluster_retry_timeout, then the error is returned. A request that
// was written to a node whose connection then failed is not sent again (it may have run).
// MGET, MSET, DEL, UNLINK, EXISTS and TOUCH across slots are split per slot (cluster/split.hpp);
// keyless commands follow cluster/keyless.hpp. Connection state is kept here, not on a node:
// SELECT 0, HELLO 2, CLIENT SETNAME and the like are answered by the proxy.
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "puppy/cluster/keyless.hpp"
#include "puppy/cluster/slot_map.hpp"
#include "puppy/cluster/split.hpp"
#include "puppy/resp/client_state.hpp"
#include "puppy/server/routed_backend.hpp"

namespace puppy::server {

class worker;
class cluster_nodes;

class cluster_backend final : public routed_backend {
 public:
  // Redirections followed for one request before its last one is returned as an error.
  static constexpr int max_redirects = 16;

  explicit cluster_backend(worker& owner);
  ~cluster_backend() override;

  void submit(const resp::framed_command& cmd, std::string_view bytes, std::uint64_t slot,
              const std::shared_ptr<reply_sink>& sink) override;
  bool quit() const override { return state_.quit; }
  bool needs_bytes() const override { return true; }

 private:
  struct job;
  struct leg;
  using leg_ptr = std::shared_ptr<leg>;

  void route(const std::vector<std::string_view>& args, std::string_view bytes, std::uint64_t slot,
             const std::shared_ptr<reply_sink>& sink);
  // A reply the proxy gives itself, or nullopt if the command goes to the cluster.
  std::optional<std::string> answer_here(const std::string& name,
                                         const std::vector<std::string_view>& args);
  void route_by_keys(const std::vector<std::string_view>& args, std::string_view bytes,
                     const std::vector<std::size_t>& positions, const std::shared_ptr<job>& j);
  void route_keyless(const std::string& name, const std::vector<std::string_view>& args,
                     std::string_view bytes, const std::shared_ptr<job>& j);
  void ask_for_keys(const std::vector<std::string_view>& args, std::string_view bytes,
                    const std::shared_ptr<job>& j);
  void send(const leg_ptr& l);
  void on_reply(const leg_ptr& l, std::string_view reply);
  // Sends `l` again after a back-off, unless its deadline passed (false). `refresh`: read the
  // topology again first.
  bool retry_later(const leg_ptr& l, bool refresh);
  void finish_leg(const leg_ptr& l, std::string_view reply);

  worker& owner_;
  cluster_nodes& nodes_;
  resp::client_state state_;
  std::string name_;  // scratch: the command's lower-case name
  std::size_t spread_ = 0;
};

}  // namespace puppy::server
