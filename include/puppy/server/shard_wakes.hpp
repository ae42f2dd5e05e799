#pragma once
// PGET ... WAIT wake-ups with a Redis Cluster upstream. PSET, PRELEASE and PINVALIDATE SPUBLISH
// the key on a shard channel of the key's own slot (pget::shard_wake_channel); a worker hears
// them on one subscribed connection per node, where the channels its waiters wait on are
// SSUBSCRIBEd (on the master of the channel's slot), and SUNSUBSCRIBEd when the last waiter of a
// channel is gone.
//
// A channel is woken when it is published, when its subscription is confirmed (a publication
// may have come before it), and when the subscription is lost (the connection failed, or the
// slot moved: the node ends the subscription itself, or answers -MOVED): each time its waiters
// should look again. Then every registration's wake function runs, and the channel's waiters in
// waiters() share one look (wake_waiters.hpp; one channel per key). While listening() is false,
// waiters poll.
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "puppy/server/link_protocols.hpp"
#include "puppy/server/pipelined_link.hpp"
#include "puppy/server/wake_waiters.hpp"

namespace puppy::server {

class cluster_nodes;
class worker;

class shard_wakes {
 public:
  using wake_fn = std::function<void()>;
  // After a subscription failed (an error other than a moved slot, or its connection), it is
  // not tried again for this long; its waiters poll meanwhile. (Else a node that is down would
  // have the waiters look again each time their subscription is refused, at once.)
  static constexpr std::chrono::milliseconds retry_after_failure{250};

  // A waiter's place: leaves the channel when reset or destroyed (a waiter dropped without an
  // answer, its client gone, leaves no registration behind). Harmless after the hub is gone.
  class registration {
   public:
    registration() = default;
    registration(registration&& o) noexcept { *this = std::move(o); }
    registration& operator=(registration&& o) noexcept;
    ~registration() { reset(); }
    void reset();
    explicit operator bool() const { return id_ != 0; }

   private:
    friend class shard_wakes;
    std::weak_ptr<shard_wakes*> hub_;
    std::string channel_;
    std::uint64_t id_ = 0;
  };

  shard_wakes(worker& owner, cluster_nodes& nodes);
  ~shard_wakes();
  shard_wakes(const shard_wakes&) = delete;
  shard_wakes& operator=(const shard_wakes&) = delete;

  // Registers a waiter of `channel` (subscribing if no one waited on it). `wake` may be empty
  // (a waiter of waiters(), woken through it).
  registration add(const std::string& channel, wake_fn wake);
  // The waiters that share their looks, by channel.
  wake_waiters& waiters() { return waiters_; }
  // Subscribes `channel` again if its subscription was lost (and the back-off after an error
  // is over). A waiter calls it each time it goes back to waiting.
  void renew(const std::string& channel);
  // Whether `channel`'s subscription is confirmed, so that its waiters will be woken.
  bool listening(const std::string& channel) const;
  // Shutting down: every waiter is woken (to see that its client is gone), nothing more is sent.
  void close();

 private:
  void remove(const std::string& channel, std::uint64_t id);
  using link = pipelined_link<resp_protocol>;
  struct channel_state {
    std::string node;  // the node it is subscribed on (or being subscribed); "": none
    bool confirmed = false;
    std::chrono::steady_clock::time_point failed_at{};  // the last failure (not a move)
    std::vector<std::pair<std::uint64_t, wake_fn>> waiters;
  };
  struct node_link {
    std::unique_ptr<link> l;
    std::string host;  // the node's, for a -MOVED naming no host ("the node that answered")
    // (SSUBSCRIBE or SUNSUBSCRIBE, channel) sent, whose reply has not come: a reply that is
    // not the oldest's is the node's own doing (a slot that moved away).
    std::deque<std::pair<bool, std::string>> pending;
  };

  void subscribe(const std::string& channel, channel_state& c);
  void unsubscribe(const std::string& channel, const std::string& node);
  node_link& link_to(const std::string& address, std::uint16_t port, const std::string& host);
  void on_reply(const std::string& address, std::string_view reply);
  // The subscription of `channel` on `address` ended (or failed): its waiters look again.
  // `failure`: not because its slot moved (renew() waits retry_after_failure).
  void lost(const std::string& channel, const std::string& address, bool failure);
  void wake(const std::string& channel);

  worker& owner_;
  cluster_nodes& nodes_;
  std::unordered_map<std::string, channel_state> channels_;
  std::unordered_map<std::string, node_link> links_;  // by "host:port"
  wake_waiters waiters_;
  std::uint64_t next_id_ = 1;
  bool closed_ = false;
  std::shared_ptr<shard_wakes*> self_;  // registrations hold it weakly
};

}  // namespace puppy::server
