#include "puppy/server/shard_wakes.hpp"

#include <utility>

#include "puppy/cluster/pubsub.hpp"
#include "puppy/cluster/slot.hpp"
#include "puppy/cluster/slot_map.hpp"
#include "puppy/resp/encode.hpp"
#include "puppy/server/cluster_nodes.hpp"
#include "puppy/server/worker.hpp"

namespace puppy::server {

namespace {

std::string shard_subscription(std::string_view name, std::string_view channel) {
  std::string out = "*2\r\n";
  resp::encode::append_bulk(&out, name);
  resp::encode::append_bulk(&out, channel);
  return out;
}

}  // namespace

shard_wakes::registration& shard_wakes::registration::operator=(registration&& o) noexcept {
  if (this != &o) {
    reset();
    hub_ = std::move(o.hub_);
    channel_ = std::move(o.channel_);
    id_ = std::exchange(o.id_, 0);
  }
  return *this;
}

void shard_wakes::registration::reset() {
  if (id_ == 0) return;
  if (const auto hub = hub_.lock()) (*hub)->remove(channel_, id_);
  id_ = 0;
}

shard_wakes::shard_wakes(worker& owner, cluster_nodes& nodes)
    : owner_(owner), nodes_(nodes), self_(std::make_shared<shard_wakes*>(this)) {}

shard_wakes::~shard_wakes() = default;

shard_wakes::registration shard_wakes::add(const std::string& channel, wake_fn wake) {
  registration r;
  r.hub_ = self_;
  r.channel_ = channel;
  r.id_ = next_id_++;
  auto& c = channels_[channel];
  c.waiters.emplace_back(r.id_, std::move(wake));
  renew(channel);
  return r;
}

void shard_wakes::remove(const std::string& channel, std::uint64_t id) {
  const auto it = channels_.find(channel);
  if (it == channels_.end()) return;
  auto& w = it->second.waiters;
  for (auto i = w.begin(); i != w.end(); ++i) {
    if (i->first == id) {
      w.erase(i);
      break;
    }
  }
  if (!w.empty()) return;
  if (!it->second.node.empty() && !closed_) unsubscribe(channel, it->second.node);
  channels_.erase(it);
}

void shard_wakes::renew(const std::string& channel) {
  const auto it = channels_.find(channel);
  if (it == channels_.end() || !it->second.node.empty()) return;
  if (std::chrono::steady_clock::now() - it->second.failed_at < retry_after_failure) return;
  subscribe(channel, it->second);
}

bool shard_wakes::listening(const std::string& channel) const {
  const auto it = channels_.find(channel);
  return it != channels_.end() && it->second.confirmed;
}

void shard_wakes::subscribe(const std::string& channel, channel_state& c) {
  if (closed_ || !nodes_.ready()) return;  // the waiters poll
  const cluster::node* n = nodes_.map().master_of(cluster::key_slot(channel));
  if (n == nullptr) return;
  c.node = n->address();
  c.confirmed = false;
  auto& nl = link_to(c.node, n->port, n->host);
  nl.pending.emplace_back(true, channel);
  nl.l->send(shard_subscription("SSUBSCRIBE", channel), nullptr);
}

void shard_wakes::unsubscribe(const std::string& channel, const std::string& node) {
  const auto it = links_.find(node);
  if (it == links_.end()) return;
  it->second.pending.emplace_back(false, channel);
  it->second.l->send(shard_subscription("SUNSUBSCRIBE", channel), nullptr);
}

shard_wakes::node_link& shard_wakes::link_to(const std::string& address, std::uint16_t port,
                                             const std::string& host) {
  auto& nl = links_[address];
  if (!nl.l) {
    nl.l = std::make_unique<link>(owner_, upstream::host_port{host, port});
    nl.host = host;
    nl.l->count_in(&owner_.stats().node(address));
    nl.l->listen([this, address](std::string_view reply) { on_reply(address, reply); });
  }
  return nl;
}

void shard_wakes::on_reply(const std::string& address, std::string_view reply) {
  if (closed_) return;
  auto& nl = links_[address];
  if (resp_protocol::connection_failed(reply)) {
    // The connection failed (or is down): every subscription on it is gone.
    nl.pending.clear();
    std::vector<std::string> gone;
    for (const auto& [channel, c] : channels_) {
      if (c.node == address) gone.push_back(channel);
    }
    for (const auto& channel : gone) lost(channel, address, true);
    nodes_.refresh(true);
    return;
  }
  const auto r = cluster::classify_pubsub(reply);
  if (r.what == cluster::pubsub_reply::kind::message) {
    if (r.name == "smessage") wake(std::string(r.channel));
    return;
  }
  const bool ours = !nl.pending.empty();
  if (r.what == cluster::pubsub_reply::kind::confirmation && r.shard) {
    const bool subscribed = r.name == "ssubscribe";
    const std::string channel(r.channel);
    if (ours && nl.pending.front() == std::make_pair(subscribed, channel)) {
      nl.pending.pop_front();
      const auto it = channels_.find(channel);
      if (subscribed && it != channels_.end() && it->second.node == address) {
        it->second.confirmed = true;
        wake(channel);  // a publication may have come before the subscription
      } else if (subscribed) {
        unsubscribe(channel, address);  // no longer wanted here (its waiters left, or it moved)
      }
      return;
    }
    if (!subscribed) lost(channel, address, false);  // the node's own: the slot moved away
    return;
  }
  if (!ours) return;  // nothing asked for this: ignored
  // An error answers the oldest request: -MOVED (the slot moved), -CLUSTERDOWN, ...
  const auto [subscribing, channel] = nl.pending.front();
  nl.pending.pop_front();
  if (auto moved = cluster::parse_redirect(reply)) {
    if (moved->to.host.empty()) moved->to.host = nl.host;  // "the node that answered"
    if (moved->what == cluster::redirect::kind::moved) nodes_.moved(*moved);
    if (subscribing) lost(channel, address, false);
    return;
  }
  if (subscribing) lost(channel, address, true);
}

void shard_wakes::lost(const std::string& channel, const std::string& address, bool failure) {
  const auto it = channels_.find(channel);
  if (it == channels_.end() || it->second.node != address) return;
  it->second.node.clear();
  it->second.confirmed = false;
  if (failure) it->second.failed_at = std::chrono::steady_clock::now();
  wake(channel);  // they look again, and renew() the subscription when they wait again
}

void shard_wakes::wake(const std::string& channel) {
  const auto it = channels_.find(channel);
  if (it == channels_.end()) return;
  // A waiter woken may finish and remove itself (or others): call copies.
  std::vector<wake_fn> fns;
  fns.reserve(it->second.waiters.size());
  for (const auto& w : it->second.waiters) {
    if (w.second) fns.push_back(w.second);
  }
  for (auto& fn : fns) fn();
  waiters_.published(channel);
}

void shard_wakes::close() {
  closed_ = true;
  for (auto& [address, nl] : links_) nl.l->close();
  std::vector<std::string> names;
  for (const auto& [channel, c] : channels_) names.push_back(channel);
  for (const auto& channel : names) wake(channel);  // their clients are gone: they end
  waiters_.wake_all();
  channels_.clear();
}

}  // namespace puppy::server
