// A Redis Cluster upstream: pub/sub on the client's subscribed connections (docs/cluster.md,
// "Pub/sub"). SUBSCRIBE and PSUBSCRIBE go to one master (a cluster forwards every PUBLISH to
// every node), SSUBSCRIBE to the master of its shard channel's slot; each node the client
// subscribes on has one connection of its own (pipelined_link::listen: it relays what the node
// pushes). Every (un)subscription is followed by "PING <marker>", so that the replies of each
// request (however many channels UNSUBSCRIBE names or finds) are known to end at the marker's
// reply; messages in between stay in their place. While the client is subscribed, its other
// commands go to a subscribed connection too, where the node answers them as Redis does in that
// context.
#include <algorithm>
#include <boost/asio/post.hpp>
#include <random>

#include "cluster_backend_parts.hpp"
#include "puppy/cluster/pubsub.hpp"
#include "puppy/cluster/slot.hpp"
#include "puppy/resp/encode.hpp"
#include "puppy/server/cluster_nodes.hpp"
#include "puppy/server/worker.hpp"

namespace puppy::server {
using namespace cluster_wire;

namespace {

// The marker's PING and its two replies (subscribed: an array; else a bulk string).
struct marker {
  std::string request, subscribed_reply, plain_reply;
  marker() {
    std::random_device rd;
    const std::string token =
        "puppy-proxy-end-of-reply-" + std::to_string((std::uint64_t{rd()} << 32) | rd());
    request = "*2\r\n$4\r\nPING\r\n$" + std::to_string(token.size()) + "\r\n" + token + "\r\n";
    plain_reply = "$" + std::to_string(token.size()) + "\r\n" + token + "\r\n";
    subscribed_reply = "*2\r\n$4\r\npong\r\n" + plain_reply;
  }
};

const marker& the_marker() {
  static const marker m;
  return m;
}

}  // namespace

bool cluster_backend::subscribed_context(bool subscription) const {
  if (subscription) return true;
  if (state_.resp3) return false;  // RESP3: any command may be sent while subscribed
  if (sub_pending_ > 0) return true;
  for (const auto& s : subs_) {
    if (s->classic > 0 || s->shard > 0) return true;
  }
  return false;
}

cluster_backend::subscriber& cluster_backend::subscriber_on(const cluster::node& n,
                                                            const sink_ptr& sink) {
  for (auto& s : subs_) {
    if (s->node == n) return *s;
  }
  auto s = std::make_unique<subscriber>();
  s->node = n;
  s->l = std::make_unique<link>(owner_, upstream::host_port{n.host, n.port}, link::use::own);
  s->l->count_in(&owner_.stats().node(n.address()));
  if (state_.resp3) s->l->speak_resp3();
  s->l->listen([this, n, weak = std::weak_ptr<reply_sink>(sink)](std::string_view reply) {
    const auto sink = weak.lock();  // alive: so is this backend, which the client side owns
    if (!sink || sink->gone()) return;
    on_sub_reply(n, reply, sink);
    sink->answers_ready();
  });
  subs_.push_back(std::move(s));
  return *subs_.back();
}

bool cluster_backend::pubsub_request(const args_view& args, std::string_view bytes,
                                     std::uint64_t slot, const sink_ptr& sink) {
  const bool subscription = classify(name_) == special::subscription;
  if (!subscription && sub_pending_ > 0) return false;  // subscribed or not: known then
  if (!may_start(lane::sub)) return false;
  std::vector<cluster::node> to;
  if (!subscription) {
    // A command while subscribed: a subscribed connection answers as Redis does there.
    for (const auto& s : subs_) {
      if (s->classic > 0 || s->shard > 0) {
        to.push_back(s->node);
        break;
      }
    }
    if (to.empty()) return false;  // not subscribed after all: cannot happen (see above)
  } else if (name_ == "ssubscribe" || name_ == "sunsubscribe") {
    if (args.size() > 1) {
      const cluster::node* n = nodes_.map().master_of(cluster::key_slot(args[1]));
      if (n == nullptr) {
        sink->answer(slot, slot_not_served);
        return true;
      }
      to.push_back(*n);
    } else {
      for (const auto& s : subs_) {
        if (s->shard > 0) to.push_back(s->node);
      }
    }
  }
  if (to.empty()) {  // SUBSCRIBE, PSUBSCRIBE, (P)UNSUBSCRIBE; SUNSUBSCRIBE of nothing
    if (!classic_node_) {
      // Where PUBLISH goes too (cluster::keyless::first): its count is of the proxy's
      // subscribers, every client's on the same node.
      if (nodes_.scan_order().empty()) {
        sink->answer(slot, slot_not_served);
        return true;
      }
      classic_node_ = nodes_.scan_order().front();
    }
    to.push_back(*classic_node_);
  }
  auto r = std::make_shared<sub_request>();
  r->j = start_job(lane::sub, sink, slot);
  r->bytes.assign(bytes);
  r->name = name_;
  r->family = subscription;
  r->parts.resize(to.size());
  r->outstanding = to.size();
  for (std::size_t i = 0; i < to.size(); ++i) send_sub(subscriber_on(to[i], sink), r, i);
  return true;
}

void cluster_backend::send_sub(subscriber& s, const std::shared_ptr<sub_request>& r,
                               std::size_t part) {
  s.l->send(r->bytes, nullptr);
  s.l->send(the_marker().request, nullptr);
  s.pending.push_back({r, part, {}});
  ++sub_pending_;
}

void cluster_backend::on_sub_reply(const cluster::node& n, std::string_view reply,
                                   const sink_ptr& sink) {
  auto it = std::find_if(subs_.begin(), subs_.end(), [&n](const auto& s) { return s->node == n; });
  if (it == subs_.end()) return;
  subscriber& s = **it;
  if (resp_protocol::connection_failed(reply)) {
    // The subscriptions are gone with the connection: the client is told as if its Redis
    // closed the connection, after the answers of what it sent before.
    for (auto& w : s.pending) {
      --sub_pending_;
      if (--w.r->outstanding == 0) complete(*w.r->j, reply);
    }
    dispose(std::move(s.l));
    subs_.erase(it);
    sink->end();
    return;
  }
  const marker& m = the_marker();
  if (reply == m.subscribed_reply || reply == m.plain_reply) {
    if (s.pending.empty()) return;
    subscriber::waiting w = std::move(s.pending.front());
    s.pending.pop_front();
    --sub_pending_;
    sub_request& r = *w.r;
    const bool redirect = starts_with(w.reply, "-MOVED ") || starts_with(w.reply, "-ASK ");
    if (redirect && !r.family) {
      // A command with a key of another node's, while subscribed: the node checked the key
      // first; one Redis refuses the command in this context.
      w.reply = resp::encode::error("ERR Can't execute '" + r.name +
                                    "': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / "
                                    "RESET are allowed in this context");
    } else if (redirect && r.redirects < max_redirects) {
      // A shard channel's slot elsewhere (the map was stale): asked again there.
      if (auto to = cluster::parse_redirect(w.reply)) {
        ++r.redirects;
        redirected(*to, &s.node);
        // (ASKING would be refused on a connection already subscribed: -ASK is followed
        // as -MOVED; a shard channel is not data that a migration moves piecemeal.)
        send_sub(subscriber_on(to->to, sink), w.r, w.part);
        return;
      }
    }
    r.parts[w.part] = std::move(w.reply);
    if (--r.outstanding > 0) return;
    std::string all;
    for (const auto& p : r.parts) all += p;
    complete(*r.j, all);
    return;
  }
  const auto what = cluster::classify_pubsub(reply);
  if (what.what == cluster::pubsub_reply::kind::confirmation) {
    (what.shard ? s.shard : s.classic) = what.count;
  }
  if (!s.pending.empty()) {
    s.pending.front().reply.append(reply);
  } else {
    sink->push(reply);  // a message, or the node unsubscribing the client (its slot moved)
  }
}

}  // namespace puppy::server
