// A Redis Cluster upstream: MULTI/EXEC and WATCH on the client's own connection to the node of
// the transaction's first key (docs/cluster.md, "Transactions").
//
// MULTI's node is decided by the first command with a key: MULTI and the keyless commands before
// it are kept until then, or until the end of the event loop's turn (a client that waits for
// MULTI's +OK gets it from a master picked then; the transaction moves, sent again whole, if its
// first key is served elsewhere). After WATCH the transaction runs where the watched keys are.
// A queued command whose key the node redirects (another slot) gets -CROSSSLOT, and the node
// aborts the transaction at EXEC, as Redis Cluster does. If the transaction's own slot moved
// (-MOVED/-ASK while queuing, or at EXEC), it is sent again, whole, to the slot's new node; with
// WATCH it cannot move (the watch is on the old node): EXEC answers a null array, as when a
// watched key changed. So it does if the connection that had the watch went (watch_lost_): the
// transaction then runs on a new connection, where nothing is watched, and is discarded at EXEC.
// If the own connection fails, nothing more of the transaction is sent (even if it failed
// between its commands): EXEC answers -EXECABORT.
#include <boost/asio/post.hpp>

#include "cluster_backend_parts.hpp"
#include "puppy/cluster/slot.hpp"
#include "puppy/server/cluster_nodes.hpp"
#include "puppy/server/worker.hpp"

namespace puppy::server {
using namespace cluster_wire;
namespace asio = boost::asio;
using clock = std::chrono::steady_clock;

namespace {

constexpr std::string_view discard_request = "*1\r\n$7\r\nDISCARD\r\n";
constexpr std::string_view execabort =
    "-EXECABORT Transaction discarded because of previous errors.\r\n";
// EXEC's reply when a watched key changed.
std::string_view null_array(bool resp3) {
  return resp3 ? "_\r\n" : "*-1\r\n";
}

void ignore(std::string_view) {}

}  // namespace

bool cluster_backend::start_transaction(std::string_view bytes, std::uint64_t slot,
                                        const sink_ptr& sink) {
  if (!may_start(lane::alone)) return false;  // on its own connection, after all before it
  auto t = std::make_shared<transaction>();
  txn_ = t;
  t->watched = watch_node_.has_value();
  queue(t, bytes, std::nullopt, slot, sink, true);
  if (watch_node_) {
    if (own(*watch_node_).down()) retire(*watch_node_);  // the watch went with the connection
    decide(t, *watch_node_);
    return true;
  }
  // The next requests of this turn may name its first key; else a master is picked then.
  asio::post(owner_.context(), [this, t, sink] {
    if (t->decided || sink->gone()) return;
    if (const cluster::node* n = nodes_.any()) {
      decide(t, *n);
    } else {
      t->broken = true;
      for (auto& k : t->kept) complete(*k.j, slot_not_served);
      t->kept.clear();
    }
    sink->answers_ready();
  });
  return true;
}

bool cluster_backend::in_transaction(const args_view& args, std::string_view bytes,
                                     std::uint64_t slot, const sink_ptr& sink) {
  const txn_ptr t = txn_;
  t->writes.add(next_writes_);  // (bumped when queued, by its own job, and again at EXEC)
  if (name_ == "exec" || name_ == "discard") {
    exec(t, name_ == "discard", bytes, slot, sink);
    return true;
  }
  if (name_ == "reset") {
    if (inflight_ > 0) return false;
    txn_.reset();
    watch_node_.reset();
    retire_all();  // the node discards the transaction with the connection
  }
  if (name_ == "quit" || name_ == "reset") {
    sink->answer(slot, *answer_here(name_, args));
    return true;
  }
  if (name_ == "multi" || name_ == "watch") {  // the node's error, without aborting
    queue(t, bytes, std::nullopt, slot, sink, false);
    return true;
  }
  const lookup found = keys_of(args);
  std::optional<std::uint16_t> key_slot;
  if (found.positions && !keys_.empty()) key_slot = cluster::key_slot(args[keys_.front()]);
  if (key_slot && !t->key_slot) {
    t->key_slot = key_slot;
    if (const cluster::node* n = nodes_.map().master_of(*key_slot)) {
      if (!t->decided) {
        queue(t, bytes, key_slot, slot, sink, true);
        decide(t, *n);
        return true;
      }
      if (!(*n == t->node) && !t->watched && !t->broken) {
        // MULTI went to a master picked for it: the transaction moves to its key's node.
        own(t->node).send(discard_request, ignore);
        t->node = *n;
        link& l = own(*n);
        for (const auto& r : t->requests) l.send(r, ignore);
      }
    }
  }
  queue(t, bytes, key_slot, slot, sink, true);
  return true;
}

void cluster_backend::decide(const txn_ptr& t, const cluster::node& n) {
  t->decided = true;
  t->node = n;
  auto kept = std::move(t->kept);
  t->kept.clear();
  for (auto& k : kept) send_queued(t, k.bytes, k.key_slot, k.record, k.j);
}

void cluster_backend::queue(const txn_ptr& t, std::string_view bytes,
                            std::optional<std::uint16_t> key_slot, std::uint64_t slot,
                            const sink_ptr& sink, bool record) {
  auto j = start_job(lane::alone, sink, slot);
  if (record) t->requests.emplace_back(bytes);
  if (!t->decided) {
    t->kept.push_back({std::string(bytes), key_slot, record, j});
    return;
  }
  send_queued(t, bytes, key_slot, record, j);
}

void cluster_backend::send_queued(const txn_ptr& t, std::string_view bytes,
                                  std::optional<std::uint16_t> key_slot, bool record,
                                  const std::shared_ptr<job>& j) {
  if (t->broken) {
    complete(*j, t->broken_reply);
    return;
  }
  own(t->node).send(bytes, [this, t, j, key_slot, record](std::string_view reply) {
    if (j->sink->gone()) return;
    on_queued(t, *j, key_slot, record, reply);
    j->sink->answers_ready();
  });
}

void cluster_backend::on_queued(const txn_ptr& t, job& j, std::optional<std::uint16_t> key_slot,
                                bool record, std::string_view reply) {
  if (is_redirect(reply)) {
    auto r = cluster::parse_redirect(reply);
    if (r && key_slot && key_slot == t->key_slot && !t->watched) {
      // The transaction's slot moved: it runs there at EXEC (the node aborts it here).
      redirected(*r, &t->node);
      if (!t->moved) t->moved = r;
      complete(j, "+QUEUED\r\n");
      return;
    }
    t->failed = true;
    complete(j, crossslot);  // the node aborts the transaction at EXEC
    return;
  }
  if (resp_protocol::connection_failed(reply)) {
    t->broken = true;
    t->broken_reply.assign(reply);
    retire(t->node);
    nodes_.refresh(true);
  } else if (record && !reply.empty() && reply[0] == '-') {
    t->failed = true;
  }
  complete(j, reply);
}

void cluster_backend::exec(const txn_ptr& t, bool discard, std::string_view bytes,
                           std::uint64_t slot, const sink_ptr& sink) {
  const bool watch_lost = t->watched && watch_lost_;
  txn_.reset();
  watch_node_.reset();  // EXEC and DISCARD end every WATCH
  auto j = start_job(lane::alone, sink, slot);
  if (!discard) expect_writes(*j, std::move(t->writes));  // the queued writes run now
  if (!t->decided) {
    if (const cluster::node* n = nodes_.any()) {
      decide(t, *n);
    } else {
      t->broken = true;
      t->broken_reply = slot_not_served;
      for (auto& k : t->kept) complete(*k.j, slot_not_served);
      t->kept.clear();
    }
  }
  if (!t->broken && own(t->node).down()) {  // it failed since the last command, taking MULTI
    t->broken = true;
    retire(t->node);
    nodes_.refresh(true);
  }
  if (t->broken) {
    complete(*j, discard ? std::string_view("+OK\r\n") : execabort);
    return;
  }
  if (watch_lost && !discard && !t->failed) {  // as if a watched key changed
    own(t->node).send(discard_request, ignore);
    complete(*j, null_array(state_.resp3));
    return;
  }
  if (discard || !t->moved || t->failed) {
    t->exec.assign(bytes);
    own(t->node).send(bytes, [this, t, j](std::string_view reply) {
      if (j->sink->gone()) return;
      on_exec_reply(t, j, reply);
      j->sink->answers_ready();
    });
    return;
  }
  own(t->node).send(discard_request, ignore);
  if (t->watched) {  // the watch is on the old node: as if a watched key changed
    complete(*j, null_array(state_.resp3));
    return;
  }
  t->exec.assign(bytes);
  replay(t, t->moved->to, t->moved->what == cluster::redirect::kind::ask, j);
}

void cluster_backend::replay(const txn_ptr& t, const cluster::node& n, bool asking,
                             const std::shared_ptr<job>& exec_job) {
  t->node = n;
  link& l = own(n);
  if (asking) l.send(asking_request, ignore);  // it holds until EXEC inside a transaction
  for (const auto& r : t->requests) l.send(r, ignore);
  l.send(t->exec, [this, t, exec_job](std::string_view reply) {
    if (exec_job->sink->gone()) return;
    on_exec_reply(t, exec_job, reply);
    exec_job->sink->answers_ready();
  });
}

void cluster_backend::on_exec_reply(const txn_ptr& t, const std::shared_ptr<job>& j,
                                    std::string_view reply) {
  if (is_redirect(reply) && t->redirects < max_redirects) {
    if (auto r = cluster::parse_redirect(reply)) {
      ++t->redirects;
      if (t->watched) {
        complete(*j, null_array(state_.resp3));
        return;
      }
      redirected(*r, &t->node);
      replay(t, r->to, r->what == cluster::redirect::kind::ask, j);
      return;
    }
  }
  const bool again = starts_with(reply, "-TRYAGAIN") || starts_with(reply, "-CLUSTERDOWN");
  if (again && !t->watched) {
    const auto now = clock::now();
    if (!t->deadline) t->deadline = now + owner_.config().cluster_retry_timeout;
    if (now < *t->deadline) {
      owner_.stats().cluster_retries.add();
      const auto step = std::chrono::milliseconds(10) * (1 << std::min(t->retries, 5));
      ++t->retries;
      if (!t->timer) t->timer = std::make_unique<asio::steady_timer>(owner_.context());
      t->timer->expires_after(std::min<clock::duration>(step, *t->deadline - now));
      t->timer->async_wait([this, t, j](const boost::system::error_code& ec) {
        if (ec || j->sink->gone()) return;
        const cluster::node* n = t->key_slot ? nodes_.map().master_of(*t->key_slot) : nullptr;
        replay(t, n != nullptr ? *n : t->node, false, j);
      });
      return;
    }
  }
  if (resp_protocol::connection_failed(reply)) {
    retire(t->node);
    nodes_.refresh(true);
  }
  complete(*j, reply);
}

bool cluster_backend::watch_request(const args_view& args, std::string_view bytes,
                                    std::uint64_t slot, const sink_ptr& sink) {
  if (name_ == "unwatch" && watch_node_ && !watch_lost_ && own(*watch_node_).down()) {
    retire(*watch_node_);  // the watch went with its connection
  }
  if (name_ == "unwatch" && (!watch_node_ || watch_lost_)) {
    watch_node_.reset();  // nothing is watched (any more): UNWATCH never fails
    sink->answer(slot, "+OK\r\n");
    return true;
  }
  if (!may_start(lane::alone)) return false;  // on its own connection, after all before it
  if (name_ == "watch") {
    if (!watch_node_) watch_lost_ = false;  // the first WATCH: a new connection may have it
    const lookup found = keys_of(args);
    if (watch_node_ && found.positions && !keys_.empty()) {
      const cluster::node* n = nodes_.map().master_of(cluster::key_slot(args[keys_.front()]));
      if (n != nullptr && !(*n == *watch_node_)) {
        sink->answer(slot, crossslot);  // keys watched on two nodes: no transaction can use both
        return true;
      }
    }
    auto j = start_job(lane::alone, sink, slot);
    j->own = true;
    j->watch = true;
    route(args, bytes, found, j);
    return true;
  }
  // UNWATCH, and EXEC or DISCARD without MULTI: the node that has the watch answers.
  const cluster::node n = *watch_node_;
  if (name_ == "unwatch") watch_node_.reset();
  auto j = start_job(lane::alone, sink, slot);
  own(n).send(bytes, [this, j, n](std::string_view reply) {
    if (j->sink->gone()) return;
    if (resp_protocol::connection_failed(reply)) retire(n);
    complete(*j, reply);
    j->sink->answers_ready();
  });
  return true;
}

}  // namespace puppy::server
