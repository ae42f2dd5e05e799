#pragma once
// Follows a Redis primary through Redis Sentinel (redis-sentinel://), as the Sentinel clients'
// guide describes: ask the sentinels in turn for the primary's address (SENTINEL
// get-master-addr-by-name; the one that answered last first), check with ROLE that the node
// there says it is the master, and publish it (upstream::primary, which every upstream
// connection reads when it connects); stay subscribed to +switch-master on one sentinel.
//
// A round (at most one at a time) starts with what is most likely right: an address a sentinel
// announced with +switch-master, else the primary known now (a sentinel that has not heard of a
// failover yet must not move the proxy back to a demoted primary that still calls itself
// master), else the sentinels. Rounds run at start, on an announcement, when the subscription
// is lost, and when a worker says a connection to the primary failed or was refused writes
// (suspect()).
//
// Whenever a sentinel has named a primary that checks out, that sentinel is asked which other
// sentinels watch it (SENTINEL sentinels), and those the proxy does not know are added to the
// end of the list it asks (at most upstream::sentinel::max_known_sentinels in all), as the
// guide suggests: a proxy given one sentinel survives that sentinel's loss.
//
// Runs on one io_context (worker 0's); on_move runs there once the primary has moved to a new
// address (not for the first one learned).
#include <spdlog/logger.h>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "puppy/server/worker.hpp"
#include "puppy/upstream/address.hpp"
#include "puppy/upstream/primary.hpp"

namespace puppy::server {

class sentinel_watch {
 public:
  struct options {
    std::vector<upstream::host_port> sentinels;  // resolved
    std::string master_name;
    std::string sentinel_login;  // AUTH for the sentinels (RESP), or empty
    // After a round in which no sentinel named a primary that says it is the master.
    std::chrono::milliseconds retry{200};
    // Learn the other sentinels (off with TLS data nodes: a sentinel that reaches those, with
    // tls-replication and a tls-port, announces that port unless announce-port is set, and the
    // proxy asks sentinels in the clear).
    bool learn = true;
  };

  // `data`: how to reach the data nodes (TLS, login, connect timeout) for the ROLE check.
  sentinel_watch(boost::asio::io_context& ioc, const settings& data, options o,
                 std::shared_ptr<upstream::primary> primary, spdlog::logger& log,
                 std::function<void()> on_move);
  ~sentinel_watch();
  sentinel_watch(const sentinel_watch&) = delete;
  sentinel_watch& operator=(const sentinel_watch&) = delete;

  void start();
  void stop();
  // Asks the sentinels again (unless a round is running). Safe from any thread.
  void suspect();

 private:
  class exchange;
  void round();  // starts a round (asking_ is set)
  // The round's k-th sentinel asked (counted from first_), the address it names checked.
  void ask(std::size_t k);
  // ROLE at `where`; if it says master, it is published, else the round goes on with the k-th
  // sentinel.
  void check_role(const upstream::host_port& where, std::size_t k);
  void publish(const upstream::host_port& where);
  // The primary was named by sentinel `index` and checked: ask first next time, and ask it for
  // the other sentinels (learn).
  void named_by(std::size_t index);
  void learn(std::size_t index);
  void round_failed();  // no sentinel named a working primary: again after opt_.retry
  void subscribe(std::size_t index);

  boost::asio::io_context& ioc_;
  settings data_;      // the data nodes: TLS, login, timeouts
  settings sentinel_;  // the sentinels: their login, no TLS
  options opt_;
  std::shared_ptr<upstream::primary> primary_;
  spdlog::logger& log_;
  std::function<void()> on_move_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  bool stopped_ = false;
  bool asking_ = false;
  bool again_ = false;  // suspect() during a round: one more round after it
  std::optional<upstream::host_port> announced_;  // by +switch-master, not yet checked
  std::size_t first_ = 0;               // the sentinel asked first: the one that answered last
  std::size_t answered_ = 0;            // the sentinel whose answer is being checked
  std::size_t round_sentinels_ = 0;     // how many the round asking now asks (ask())
  bool failing_ = false;                // rounds fail (logged once until one succeeds)
  bool role_refused_ = false;           // ROLE answered -NOPERM (logged once)
  bool list_refused_ = false;           // SENTINEL sentinels answered an error (logged once)
  std::string last_why_;                // why the last sentinel or node asked did not do
  std::shared_ptr<exchange> current_;   // the question of the round in progress
  std::shared_ptr<exchange> learning_;  // SENTINEL sentinels, if asked now
  boost::asio::steady_timer retry_timer_;
  // The subscription to +switch-master: on sentinel sub_index_.
  std::shared_ptr<exchange> sub_;
  std::uint64_t sub_id_ = 0;  // which subscription sub_ is: callbacks of an older one are ignored
  std::size_t sub_index_ = 0;
  boost::asio::steady_timer resub_timer_;
};

}  // namespace puppy::server
