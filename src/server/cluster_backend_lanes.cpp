// A Redis Cluster upstream: where each request of a client starts, and when (docs/cluster.md,
// "Lanes"). Stateless requests share the worker's node connections and run in parallel; a
// blocking command, WATCH and a transaction run on the client's own connection to their node,
// alone: a request that would change lanes waits (held) until every request in flight was
// answered, so that each runs after the ones the client sent before it, as on one Redis.
#include <boost/asio/post.hpp>
#include <unordered_map>
#include <utility>

#include "cluster_backend_parts.hpp"
#include "puppy/cluster/slot.hpp"
#include "puppy/pget/request.hpp"
#include "puppy/resp/ascii.hpp"
#include "puppy/resp/encode.hpp"
#include "puppy/server/cluster_backend.hpp"
#include "puppy/server/cluster_nodes.hpp"
#include "puppy/server/worker.hpp"

namespace puppy::server {
namespace asio = boost::asio;

using resp::lower_into;

void cluster_backend::submit(const resp::framed_command& cmd, std::string_view bytes,
                             std::uint64_t slot, const std::shared_ptr<reply_sink>& sink) {
  if (held_.empty() && nodes_.ready() && dispatch(cmd.args, cmd.spec, bytes, slot, sink)) return;
  hold(cmd.args, cmd.spec, bytes, slot, sink);
}

void cluster_backend::hold(const args_view& args, const resp::command_spec& spec,
                           std::string_view bytes, std::uint64_t slot, const sink_ptr& sink) {
  held_.push_back(
      {std::vector<std::string>(args.begin(), args.end()), spec, std::string(bytes), slot});
  if (nodes_.ready() || waiting_topology_) return;
  // No topology yet: the requests wait for the read in progress.
  waiting_topology_ = true;
  nodes_.when_ready([this, sink] {
    waiting_topology_ = false;
    if (sink->gone()) return;
    if (!nodes_.ready()) {
      const auto error = resp::encode::error(
          "ERR upstream unavailable (cannot read the cluster's topology: " + nodes_.last_error() +
          ")");
      while (!held_.empty()) {
        sink->answer(held_.front().slot, error);
        held_.pop_front();
      }
    } else {
      drain(sink);
    }
    sink->answers_ready();
  });
}

void cluster_backend::drain(const sink_ptr& sink) {
  if (draining_ || !nodes_.ready()) return;
  draining_ = true;
  while (!held_.empty() && !sink->gone()) {
    held h = std::move(held_.front());
    held_.pop_front();
    const args_view args(h.args.begin(), h.args.end());
    if (!dispatch(args, h.spec, h.bytes, h.slot, sink)) {
      held_.push_front(std::move(h));
      break;
    }
  }
  draining_ = false;
}

cluster_backend::special cluster_backend::classify(const std::string& name) {
  static const std::unordered_map<std::string_view, special> names = {
      {"pget", special::pget},
      {"pset", special::pget},
      {"prelease", special::pget},
      {"pinvalidate", special::pget},
      {"multi", special::multi},
      {"exec", special::exec},
      {"discard", special::exec},
      {"watch", special::watch},
      {"unwatch", special::watch},
      {"reset", special::reset},
      {"quit", special::quit},
      {"subscribe", special::subscription},
      {"psubscribe", special::subscription},
      {"ssubscribe", special::subscription},
      {"unsubscribe", special::subscription},
      {"punsubscribe", special::subscription},
      {"sunsubscribe", special::subscription},
      {"select", special::local},
      {"hello", special::local},
      {"client", special::local},
      {"auth", special::local},
      {"readonly", special::local},
      {"readwrite", special::local},
      {"asking", special::local},
      {"monitor", special::local},
      {"sync", special::local},
      {"psync", special::local}};
  const auto it = names.find(name);
  return it == names.end() ? special::none : it->second;
}

bool cluster_backend::dispatch(const args_view& args, const resp::command_spec& spec,
                               std::string_view bytes, std::uint64_t slot, const sink_ptr& sink) {
  lower_into(args[0], &name_);
  if (owner_.near_on()) next_writes_ = cache::writes_of(spec, args);
  const special kind = classify(name_);
  if (kind == special::pget) {
    if (sub_pending_ > 0) return false;  // subscribed or not: known once confirmed
    if (txn_ || subscribed_context(false)) {
      std::string upper(args[0]);
      for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      sink->answer(slot, "-ERR " + upper +
                             (txn_ ? " is not allowed inside MULTI\r\n"
                                   : " is not allowed while subscribed, in MONITOR or with "
                                     "CLIENT REPLY OFF|SKIP\r\n"));
      return true;
    }
    return pget_request(args, slot, sink);
  }
  if (txn_) return in_transaction(args, bytes, slot, sink);
  if (kind != special::quit && kind != special::reset &&
      subscribed_context(kind == special::subscription)) {
    return pubsub_request(args, bytes, slot, sink);
  }
  switch (kind) {
    case special::multi:
      return start_transaction(bytes, slot, sink);
    case special::watch:
      return watch_request(args, bytes, slot, sink);
    case special::exec:
      if (watch_node_) return watch_request(args, bytes, slot, sink);
      break;  // without MULTI: a master's error
    case special::reset:
      if (inflight_ > 0) return false;  // it closes the own connections: after their replies
      retire_all();
      watch_node_.reset();
      [[fallthrough]];
    case special::quit:
    case special::local:
      if (name_ == "hello" && (!own_.empty() || !subs_.empty())) {
        // A protocol switch: the own connections speak the old one; they go, after their
        // replies (a subscribed client that says HELLO keeps its subscriptions on one Redis:
        // here they end with the connection, as the docs say).
        if (inflight_ > 0) return false;
        const bool was = state_.resp3;
        auto reply = *answer_here(name_, args);
        if (state_.resp3 != was) retire_all();
        sink->answer(slot, reply);
        return true;
      }
      sink->answer(slot, *answer_here(name_, args));
      return true;
    default:
      break;
  }
  if (spec.near_read && near_get_eligible(args)) {
    if (!may_start(lane::shared)) return false;  // answered in its turn
    if (near_get_hit(args, slot, sink)) return true;
  }
  const lookup found = keys_of(args);
  if (found.blocking) {
    if (!may_start(lane::alone)) return false;  // on its own connection, after all before it
    auto j = start_job(lane::alone, sink, slot);
    j->own = true;
    blocking_ = j;
    route(args, bytes, found, j);
    return true;
  }
  if (!may_start(lane::shared)) return false;
  auto j = start_job(lane::shared, sink, slot);
  j->read = found.readonly;
  route(args, bytes, found, j);
  return true;
}

std::shared_ptr<cluster_backend::job> cluster_backend::start_job(lane l, const sink_ptr& sink,
                                                                 std::uint64_t slot) {
  auto j = make_part<job>();
  j->sink = sink;
  j->slot = slot;
  j->counted = true;
  lane_ = l;
  ++inflight_;
  if (!next_writes_.empty()) expect_writes(*j, std::exchange(next_writes_, {}));
  return j;
}

void cluster_backend::complete(job& j, std::string_view reply) {
  if (j.answered) return;
  j.answered = true;
  if (j.gens != nullptr) {  // its writes are done: before anyone is told so
    j.writes.bump(*j.gens);
    j.gens = nullptr;
  }
  j.sink->answer(j.slot, reply);
  if (!j.counted) return;
  j.counted = false;
  if (--inflight_ == 0 && !held_.empty()) drain(j.sink);
}

cluster_backend::link& cluster_backend::own(const cluster::node& n) {
  for (auto& [node, l] : own_) {
    if (node == n) return *l;
  }
  own_.emplace_back(
      n, std::make_unique<link>(owner_, upstream::host_port{n.host, n.port}, link::use::own));
  own_.back().second->count_in(&owner_.stats().node(n.address()));
  if (state_.resp3) own_.back().second->speak_resp3();
  return *own_.back().second;
}

void cluster_backend::retire(const cluster::node& n) {
  if (watch_node_ && *watch_node_ == n) watch_lost_ = true;  // the watch was on that connection
  for (auto it = own_.begin(); it != own_.end(); ++it) {
    if (it->first == n) {
      dispose(std::move(it->second));
      own_.erase(it);
      return;
    }
  }
}

void cluster_backend::dispose(std::unique_ptr<link> l) {
  // Closed now; destroyed after the handlers its close cancelled have run (they use it).
  l->close();
  asio::post(owner_.context(), [dead = std::shared_ptr<link>(std::move(l))] {});
}

bool cluster_backend::blocked() const {
  const auto j = blocking_.lock();
  return j && !j->answered;
}

void cluster_backend::abandon() {
  if (const auto f = waiting_.lock()) pget_done(f, {});
  leave_board();
  retire_all();
}

void cluster_backend::retire_all() {
  while (!own_.empty()) retire(own_.front().first);
  for (auto& s : subs_) dispose(std::move(s->l));
  subs_.clear();
  classic_node_.reset();
  sub_pending_ = 0;
}

}  // namespace puppy::server
