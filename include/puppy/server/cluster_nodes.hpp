#pragma once
// A worker's view of a Redis Cluster: which node serves each slot (cluster/slot_map.hpp), where
// each command's keys are (cluster/key_specs.hpp, from the cluster's own COMMAND), and one
// pipelined connection to each node (pipelined_link<resp_protocol>) that the worker's clients
// share. The topology is read with CLUSTER SLOTS at start, again after a -MOVED, when a node
// cannot be reached, and every cluster_refresh_interval; at most one read is in flight, and
// reads prompted by events are at least min_refresh_gap apart. COMMAND is read with the first
// topology and again whenever the set of masters changes (a rolling upgrade may bring new
// commands). With the near cache, the worker's tracking connection to each master it fills from
// (tracking_for) lives here too: copies are dropped when a slot changes owner, and a connection
// to a node that is no longer a master is closed.
#include <array>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "puppy/cluster/key_specs.hpp"
#include "puppy/cluster/slot_map.hpp"
#include "puppy/server/link_protocols.hpp"
#include "puppy/server/pipelined_link.hpp"
#include "puppy/upstream/address.hpp"

namespace puppy::server {

class worker;
class tracking_link;

class cluster_nodes {
 public:
  using link = pipelined_link<resp_protocol>;
  static constexpr std::chrono::milliseconds min_refresh_gap{100};

  cluster_nodes(worker& owner, const std::vector<upstream::host_port>& seeds);
  ~cluster_nodes();
  cluster_nodes(const cluster_nodes&) = delete;
  cluster_nodes& operator=(const cluster_nodes&) = delete;

  // Whether the slot map and the command specifications are known.
  bool ready() const { return map_.has_value() && specs_loaded_; }
  // Runs `fn` once a topology read ends (at once if ready()); `fn` checks ready() itself.
  void when_ready(std::function<void()> fn);
  // Why the last topology read failed ("" if it did not).
  const std::string& last_error() const { return last_error_; }

  const cluster::slot_map& map() const { return *map_; }
  // What routing needs of a command, from COMMAND: its key specs, whether it is flagged
  // "blocking", whether its subcommands have the specs (a container: OBJECT, XINFO, ...).
  struct command_route {
    const std::vector<cluster::key_spec>* specs = nullptr;
    bool blocking = false;
    bool readonly = false;  // flagged "readonly": a replica may answer (--read-from)
    bool container = false;
  };
  // `name` in lower case ("container|sub" for a subcommand); null if the cluster does not know
  // it. Valid until the next topology read.
  const command_route* route(const std::string& name) const;

  // The connection to `n` (made on first use); `resp3`: the one that speaks RESP3, for clients
  // that said HELLO 3; `replica`: one that said READONLY, for reads from a replica.
  link& at(const cluster::node& n, bool resp3 = false, bool replica = false);
  // The connection to the master serving `slot`, or null if no node serves it.
  link* for_slot(std::uint16_t slot, bool resp3 = false);
  // A connection to a replica of `slot`'s master (each in turn; `skip_down`: not one known to be
  // down), or null if it has none (or none up).
  link* replica_for(std::uint16_t slot, bool resp3, bool skip_down);
  // The near cache's tracking connection to the master serving `slot` (made on first use), or
  // null if no node serves it. Fills of a key go to its slot's master.
  tracking_link* tracking_for(std::uint16_t slot);
  // Masters in the order of the first slot each serves: SCAN visits them in this order.
  const std::vector<cluster::node>& scan_order() const { return scan_order_; }
  // A master for a keyless command (each in turn), or null if no master is known.
  const cluster::node* any();

  // A -MOVED: the map is corrected at once and read again soon.
  void moved(const cluster::redirect& r);
  // Reads the topology again soon. `failure`: a node could not be reached.
  void refresh(bool failure);
  void close();

 private:
  void start_read();
  void try_candidate(std::size_t index);
  void on_slots(std::size_t index, std::string_view reply);
  void finish_read(const std::string& error);
  void arm_timer(std::chrono::milliseconds after);
  void set_map(cluster::slot_map map);
  // The near cache after a change of the map: every copy dropped if a slot changed owner (the
  // new owner does not track the keys the old one read for it), and the tracking connections
  // to nodes that are no longer masters closed.
  void near_after(const cluster::slot_map& before);
  void update_scan_order();
  void index_commands();

  worker& owner_;
  std::vector<cluster::node> seeds_;
  std::optional<cluster::slot_map> map_;
  cluster::key_spec_table specs_;
  std::unordered_set<std::string> blocking_;
  std::unordered_set<std::string> readonly_;
  std::unordered_map<std::string, command_route> routes_;  // from specs_ and blocking_
  bool specs_loaded_ = false;
  bool want_specs_ = true;
  // By "host:port", per kind: [resp3 + 2 * replica].
  std::array<std::unordered_map<std::string, std::unique_ptr<link>>, 4> links_;
  std::size_t next_replica_ = 0;
  std::vector<cluster::node> scan_order_;
  std::vector<link*> master_links_;   // by index in map_->masters(), made on first use
  std::vector<link*> master_links3_;  // RESP3
  // The near cache's, by "host:port"; never destroyed before the worker (a link's handlers
  // refer to it), only closed.
  std::unordered_map<std::string, std::unique_ptr<tracking_link>> tracking_;
  std::vector<cluster::node> candidates_;  // of the read in flight
  std::string read_errors_;                // of the read in flight
  bool reading_ = false;
  bool read_again_ = false;
  std::chrono::steady_clock::time_point last_read_{};
  boost::asio::steady_timer timer_;
  std::vector<std::function<void()>> waiting_;
  std::size_t next_any_ = 0;
  std::string last_error_;
  bool closed_ = false;
};

}  // namespace puppy::server
