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
// SELECT 0, HELLO 2, CLIENT SETNAME and the like are answered by the proxy. With the near cache
// (docs/near-cache.md, "In front of a Redis Cluster"), fresh PGET values and GET/MGET replies
// under --near-cache-prefix are answered from the worker's copies, filled on the tracking
// connection of the key's master, and every request that may write keys moves their write
// generations when it is sent and when its reply arrives.
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "puppy/cache/near_answer.hpp"
#include "puppy/cluster/keyless.hpp"
#include "puppy/cluster/slot_map.hpp"
#include "puppy/cluster/split.hpp"
#include "puppy/pget/decision.hpp"
#include "puppy/resp/client_state.hpp"
#include "puppy/server/link_protocols.hpp"
#include "puppy/server/pipelined_link.hpp"
#include "puppy/server/read_board.hpp"
#include "puppy/server/routed_backend.hpp"

namespace puppy::server {

class worker;
class cluster_nodes;

class cluster_backend final : public routed_backend {
 public:
  using link = pipelined_link<resp_protocol>;
  // Redirections followed for one request before its last one is returned as an error.
  static constexpr int max_redirects = 16;

  explicit cluster_backend(worker& owner);
  ~cluster_backend() override;

  void submit(const resp::framed_command& cmd, std::string_view bytes, std::uint64_t slot,
              const std::shared_ptr<reply_sink>& sink) override;
  bool needs_bytes() const override { return true; }
  bool blocked() const override;
  // Closes the own and subscribed connections (a node drops a client blocked on a closed
  // connection) and ends a PGET ... WAIT.
  void abandon() override;

 private:
  struct job;
  struct leg;
  struct held;
  struct transaction;
  using leg_ptr = std::shared_ptr<leg>;
  using txn_ptr = std::shared_ptr<transaction>;
  using sink_ptr = std::shared_ptr<reply_sink>;
  using args_view = std::vector<std::string_view>;

  // ---- the front door (cluster_backend_lanes.cpp) ----
  // The commands the front door treats apart (one lookup per request); none: routed.
  enum class special : std::uint8_t {
    none,
    pget,          // the PGET family
    multi,         // MULTI
    exec,          // EXEC, DISCARD
    watch,         // WATCH, UNWATCH
    reset,         // RESET
    quit,          // QUIT
    subscription,  // (P|S)SUBSCRIBE, (P|S)UNSUBSCRIBE
    local          // answered by the proxy (answer_here): SELECT, HELLO, CLIENT, AUTH, ...
  };
  static special classify(const std::string& name);
  // (job, leg, held and transaction are defined in src/server/cluster_backend_parts.hpp.)
  // Starts one request, or returns false if it must wait for the client's requests in flight
  // (they went to another connection: see "lanes" in docs/cluster.md).
  bool dispatch(const args_view& args, const resp::command_spec& spec, std::string_view bytes,
                std::uint64_t slot, const sink_ptr& sink);
  void hold(const args_view& args, const resp::command_spec& spec, std::string_view bytes,
            std::uint64_t slot, const sink_ptr& sink);
  void drain(const sink_ptr& sink);
  // Where a job runs: several shared ones at once; one alone (an own connection); several
  // (un)subscriptions at once on the subscribed connections.
  enum class lane : std::uint8_t { shared, alone, sub };
  // Whether a job of `l` may start now, beside the ones in flight.
  bool may_start(lane l) const { return inflight_ == 0 || (l != lane::alone && lane_ == l); }
  // (The job takes the writes of the request being dispatched: next_writes_.)
  std::shared_ptr<job> start_job(lane l, const sink_ptr& sink, std::uint64_t slot);
  // Answers the job's reply slot; the last job in flight lets held requests go.
  void complete(job& j, std::string_view reply);
  // This client's own connection to `n` (blocking commands, WATCH, transactions).
  link& own(const cluster::node& n);
  // Closes an own connection that failed or is no longer wanted (its state is gone).
  void retire(const cluster::node& n);
  void retire_all();  // the own and the subscribed connections
  void dispose(std::unique_ptr<link> l);

  // ---- stateless routing (cluster_backend.cpp) ----
  // What routing needs of the request (name_): whether the cluster knows its command, whether
  // it blocks (it then runs on an own connection), and whether its keys' positions are known
  // (in keys_; if not, the cluster is asked: COMMAND GETKEYS).
  struct lookup {
    bool known = false;
    bool blocking = false;
    bool readonly = false;
    bool positions = false;
  };
  lookup keys_of(const args_view& args);
  void route(const args_view& args, std::string_view bytes, const lookup& found,
             const std::shared_ptr<job>& j);
  // A reply the proxy gives itself, or nullopt if the command goes to the cluster.
  std::optional<std::string> answer_here(const std::string& name, const args_view& args);
  void route_by_keys(const args_view& args, std::string_view bytes,
                     const std::vector<std::size_t>& positions, const std::shared_ptr<job>& j);
  void route_keyless(const std::string& name, const args_view& args, std::string_view bytes,
                     const std::shared_ptr<job>& j);
  void ask_for_keys(const args_view& args, std::string_view bytes, const std::shared_ptr<job>& j);
  void send(const leg_ptr& l);
  void on_reply(const leg_ptr& l, std::string_view reply);
  // A -MOVED/-ASK from `asked` to follow: counted, the map corrected (MOVED), an empty host
  // filled in.
  void redirected(cluster::redirect& r, const cluster::node* asked);
  // Sends `l` again after a back-off, unless its deadline passed (false). `refresh`: read the
  // topology again first.
  bool retry_later(const leg_ptr& l, bool refresh);
  void finish_leg(const leg_ptr& l, std::string_view reply);

  // ---- transactions and WATCH (cluster_backend_txn.cpp) ----
  bool start_transaction(std::string_view bytes, std::uint64_t slot, const sink_ptr& sink);
  bool in_transaction(const args_view& args, std::string_view bytes, std::uint64_t slot,
                      const sink_ptr& sink);
  // WATCH, UNWATCH; EXEC and DISCARD without MULTI after WATCH.
  bool watch_request(const args_view& args, std::string_view bytes, std::uint64_t slot,
                     const sink_ptr& sink);
  // The transaction runs on `n` from now on: what was kept for it is sent there.
  void decide(const txn_ptr& t, const cluster::node& n);
  // A request inside the transaction (`record`: sent again if the transaction moves).
  void queue(const txn_ptr& t, std::string_view bytes, std::optional<std::uint16_t> key_slot,
             std::uint64_t slot, const sink_ptr& sink, bool record);
  void send_queued(const txn_ptr& t, std::string_view bytes, std::optional<std::uint16_t> key_slot,
                   bool record, const std::shared_ptr<job>& j);
  void on_queued(const txn_ptr& t, job& j, std::optional<std::uint16_t> key_slot, bool record,
                 std::string_view reply);
  void exec(const txn_ptr& t, bool discard, std::string_view bytes, std::uint64_t slot,
            const sink_ptr& sink);
  // Sends the transaction again, whole, to `n` (its slot moved): MULTI, the commands, EXEC.
  void replay(const txn_ptr& t, const cluster::node& n, bool asking,
              const std::shared_ptr<job>& exec_job);
  void on_exec_reply(const txn_ptr& t, const std::shared_ptr<job>& j, std::string_view reply);

  // ---- the PGET family (cluster_backend_pget.cpp) ----
  struct pget_flow;
  using pget_ptr = std::shared_ptr<pget_flow>;
  using step_fn = std::function<void(std::string_view)>;
  bool pget_request(const args_view& args, std::uint64_t slot, const sink_ptr& sink);
  // One request of the flow's own to the master of its key's slot (redirections followed).
  void pget_send(const pget_ptr& f, std::string bytes, step_fn then);
  // A script call, sent again with the script's body if the node does not have it yet.
  void pget_script(const pget_ptr& f, std::function<std::string(bool with_body)> call,
                   step_fn then);
  void pget_read(const pget_ptr& f);
  void on_pget_read(const pget_ptr& f, std::string_view reply);
  // The read found no status: take the lease with SET status NX GET + GET key, two plain
  // commands (as a session does), decided on both replies; with Redis < 7.0, the script.
  void pget_lease(const pget_ptr& f);
  void on_pget_lease(const pget_ptr& f);
  void pget_heal(const pget_ptr& f);  // drops the status of an evicted value
  void pget_script_get(const pget_ptr& f);
  void on_pget_script_get(const pget_ptr& f, std::string_view reply);
  void pget_write(const pget_ptr& f);
  // PGET ... WAIT: the key was published (or may have been), or this waiter is to look for the
  // key's waiters: look again now, or after the look on its way.
  void on_pget_wake(const pget_ptr& f);
  // PGET ... WAIT found no value: look again when the lease may end, when the wait runs out, or
  // soon while the channel's subscription is not confirmed (through the key's waiters, which
  // share one look), unless it is woken first.
  void pget_wait_more(const pget_ptr& f, std::int64_t retry_after_ms);
  // A waiting flow's look found `reply` (`given`: its state, if a PGET answer): the other
  // waiters of the key get it if it has a value, else they go on waiting.
  void pget_share(const pget_ptr& f, std::optional<pget::state> given, const std::string& reply);
  // The flow's answer; a waiting flow leaves the shard_wakes.
  void pget_done(const pget_ptr& f, std::string_view reply);
  // The worker's read board: a PGET that follows another's read of its key (held in joined_
  // until it is answered), and the reads this backend leads (abandoned when its client goes).
  void pget_follow(const pget_ptr& f);
  void on_followed_read(const pget_ptr& f, const std::string_view* reply);
  void leave_board();

  // ---- the near cache (cluster_backend_near.cpp) ----
  // Whether this client may be answered from copies and its reads fill them: not in MULTI, not
  // subscribed. (SELECT of another database, CLIENT TRACKING, MONITOR and CLIENT REPLY are
  // refused in front of a cluster.)
  bool near_usable() const;
  // A GET/MGET whose keys are all under --near-cache-prefix, from a RESP2 client.
  bool near_get_eligible(const args_view& args) const;
  // Answers a GET/MGET from copies if every key has one (true); else asks for fills of the keys
  // without one, each on its master's tracking connection.
  bool near_get_hit(const args_view& args, std::uint64_t slot, const sink_ptr& sink);
  // Answers a PGET `fresh` from the copy of `key` (true), BETA decided from the copy.
  bool near_pget_hit(std::string_view key, double xfetch, std::uint64_t slot, const sink_ptr& sink);
  // Before a PGET's read: the generations its fill will be checked against.
  void near_stamp(pget_flow& f);
  // After a PGET answered fresh by its node: the key read again on its master's tracking
  // connection.
  void near_fill(const pget_flow& f);
  // `w` may be written by `j`, sent now: the generations are bumped now, and again when `j` is
  // answered (complete) or dropped.
  void expect_writes(job& j, cache::write_note w);

  // ---- pub/sub (cluster_backend_pubsub.cpp) ----
  struct subscriber;
  struct sub_request;
  // Whether the request goes to the subscribed connections: it is an (un)subscription
  // (`subscription`), or the client is subscribed (or may be: confirmations are awaited).
  bool subscribed_context(bool subscription) const;
  bool pubsub_request(const args_view& args, std::string_view bytes, std::uint64_t slot,
                      const sink_ptr& sink);
  subscriber& subscriber_on(const cluster::node& n, const sink_ptr& sink);
  void send_sub(subscriber& s, const std::shared_ptr<sub_request>& r, std::size_t part);
  void on_sub_reply(const cluster::node& n, std::string_view reply, const sink_ptr& sink);

  worker& owner_;
  cluster_nodes& nodes_;
  std::string name_;               // scratch: the command's lower-case name
  std::string scratch_;            // scratch: a subcommand's name
  std::vector<std::size_t> keys_;  // scratch: the key positions keys_of() found
  // What the request being dispatched may write (with the near cache): start_job() takes it.
  cache::write_note next_writes_;
  std::string near_reply_;                 // scratch: an answer from copies
  std::vector<std::string_view> missing_;  // scratch: keys without a copy
  std::size_t spread_ = 0;
  std::deque<held> held_;  // requests waiting for the ones in flight (or for the topology)
  bool waiting_topology_ = false;
  bool draining_ = false;
  std::size_t inflight_ = 0;  // jobs started and not answered
  // The request in flight that blocks (a blocking command, PGET ... WAIT), and a waiting
  // PGET's flow (to end it when the client goes).
  std::weak_ptr<job> blocking_;
  std::weak_ptr<pget_flow> waiting_;
  // PGETs following another's read on the worker's read board (kept alive here: the board holds
  // them weakly), and the PGETs whose reads lead on it.
  std::vector<pget_ptr> joined_;
  std::vector<pget_ptr> leading_;
  lane lane_ = lane::shared;  // of the jobs in flight
  bool fast_ok_ = true;       // the nodes take SET NX GET (Redis 7.0): else the lease is a script
  std::vector<std::pair<cluster::node, std::unique_ptr<link>>> own_;
  txn_ptr txn_;                                    // MULTI was started and not yet ended
  std::optional<cluster::node> watch_node_;        // WATCH holds keys on this node's own connection
  bool watch_lost_ = false;                        // and that connection went: EXEC must fail
  std::vector<std::unique_ptr<subscriber>> subs_;  // subscribed connections, one per node
  std::optional<cluster::node> classic_node_;      // where SUBSCRIBE and PSUBSCRIBE go
  std::size_t sub_pending_ = 0;  // (un)subscriptions sent, their confirmations not all in
};

}  // namespace puppy::server
