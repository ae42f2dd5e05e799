// A Redis Cluster upstream: routing, redirections, retries, splits (see cluster_backend.hpp).
#include "puppy/server/cluster_backend.hpp"

#include <algorithm>
#include <atomic>
#include <boost/asio/steady_timer.hpp>
#include <charconv>

#include "cluster_backend_parts.hpp"
#include "puppy/cluster/key_specs.hpp"
#include "puppy/cluster/slot.hpp"
#include "puppy/resp/ascii.hpp"
#include "puppy/resp/encode.hpp"
#include "puppy/server/cluster_nodes.hpp"
#include "puppy/server/worker.hpp"

namespace puppy::server {
using namespace cluster_wire;
namespace asio = boost::asio;
using clock = std::chrono::steady_clock;

using resp::lower;
using resp::lower_into;

namespace {

// The keys of a COMMAND GETKEYS reply (an array of bulk strings); nullopt if it is not one.
std::optional<std::vector<std::string>> getkeys_reply(std::string_view r) {
  const auto number = [&r](char prefix) -> std::optional<std::int64_t> {
    const auto crlf = r.find("\r\n");
    std::int64_t v = 0;
    if (r.empty() || r[0] != prefix || crlf == std::string_view::npos) return std::nullopt;
    const auto res = std::from_chars(r.data() + 1, r.data() + crlf, v);
    if (res.ec != std::errc() || res.ptr != r.data() + crlf || v < 0) return std::nullopt;
    r.remove_prefix(crlf + 2);
    return v;
  };
  const auto n = number('*');
  if (!n) return std::nullopt;
  std::vector<std::string> keys;
  for (std::int64_t i = 0; i < *n; ++i) {
    const auto len = number('$');
    if (!len || r.size() < static_cast<std::size_t>(*len) + 2) return std::nullopt;
    keys.emplace_back(r.substr(0, static_cast<std::size_t>(*len)));
    r.remove_prefix(static_cast<std::size_t>(*len) + 2);
  }
  return keys;
}

}  // namespace

cluster_backend::cluster_backend(worker& owner) : owner_(owner), nodes_(*owner.cluster()) {
  static std::atomic<std::int64_t> next_id{0};  // CLIENT ID, unique across the worker threads
  state_.id = ++next_id;
}

cluster_backend::~cluster_backend() {
  leave_board();
  retire_all();
}

void cluster_backend::route(const args_view& args, std::string_view bytes, const lookup& found,
                            const std::shared_ptr<job>& j) {
  if (!found.known) {  // a command the cluster does not know: it says so itself
    route_keyless(name_, args, bytes, j);
  } else if (!found.positions) {
    ask_for_keys(args, bytes, j);
  } else if (keys_.empty()) {
    route_keyless(name_, args, bytes, j);
  } else {
    route_by_keys(args, bytes, keys_, j);
  }
}

cluster_backend::lookup cluster_backend::keys_of(const args_view& args) {
  lookup found;
  const cluster_nodes::command_route* r = nodes_.route(name_);
  if (r != nullptr && r->container && args.size() > 1) {
    // A container command (OBJECT, XINFO, ...): its subcommand has the key specs.
    std::string full = name_ + "|";
    lower_into(args[1], &scratch_);
    full += scratch_;
    if (const auto* sub = nodes_.route(full)) r = sub;
  }
  keys_.clear();
  if (r == nullptr) return found;
  found.known = true;
  found.blocking = r->blocking;
  found.readonly = r->readonly;
  if (r->blocking && (name_ == "xread" || name_ == "xreadgroup")) {
    found.blocking = false;  // they block only with BLOCK
    for (const auto a : args) {
      if (resp::iequals(a, "block")) found.blocking = true;
    }
  }
  found.positions = cluster::key_positions(*r->specs, args, name_ == "spublish", &keys_);
  return found;
}

void cluster_backend::route_by_keys(const args_view& args, std::string_view bytes,
                                    const std::vector<std::size_t>& positions,
                                    const std::shared_ptr<job>& j) {
  const std::uint16_t first = cluster::key_slot(args[positions.front()]);
  bool same = true;
  for (const std::size_t p : positions) {
    if (cluster::key_slot(args[p]) != first) {
      same = false;
      break;
    }
  }
  if (same) {
    auto l = make_part<leg>();
    l->j = j;
    l->bytes.assign(bytes);
    l->slot = first;
    send(l);
    return;
  }
  j->plan = j->own ? std::nullopt : cluster::plan_split(args);
  if (!j->plan) {
    complete(*j, crossslot);
    return;
  }
  j->how = job::merge::split;
  j->replies.resize(j->plan->parts.size());
  j->outstanding = j->plan->parts.size();
  for (std::size_t i = 0; i < j->plan->parts.size(); ++i) {
    auto l = make_part<leg>();
    l->j = j;
    l->index = i;
    l->bytes = std::move(j->plan->parts[i].request);
    l->slot = j->plan->parts[i].slot;
    send(l);
  }
}

void cluster_backend::route_keyless(const std::string& name, const args_view& args,
                                    std::string_view bytes, const std::shared_ptr<job>& j) {
  const auto& masters = nodes_.scan_order();
  if (masters.empty()) {
    complete(*j, slot_not_served);
    return;
  }
  const std::string sub = args.size() > 1 ? lower(args[1]) : std::string();
  j->policy = j->own ? cluster::keyless::any_node : cluster::keyless_policy(name, sub);
  const auto one = [&](const cluster::node& n, std::string request, std::size_t index) {
    auto l = make_part<leg>();
    l->j = j;
    l->index = index;
    l->bytes = std::move(request);
    l->by_slot = false;
    l->target = n;
    send(l);
  };
  switch (j->policy) {
    case cluster::keyless::any_node:
      one(*nodes_.any(), std::string(bytes), 0);
      return;
    case cluster::keyless::first:
      one(masters.front(), std::string(bytes), 0);
      return;
    case cluster::keyless::scan: {
      if (args.size() < 2) {  // the node's arity error
        one(*nodes_.any(), std::string(bytes), 0);
        return;
      }
      const auto c = cluster::decode_scan_cursor(args[1], masters.size());
      if (!c) {
        complete(*j, "-ERR invalid cursor\r\n");
        return;
      }
      j->how = job::merge::scan;
      j->scan_node = c->node;
      j->masters = masters.size();
      j->scan_want = cluster::scan_count(args);
      j->args.assign(args.begin(), args.end());  // for the next master's SCAN 0
      one(masters[c->node], cluster::scan_request(args, c->cursor), 0);
      return;
    }
    default:
      break;
  }
  j->how = job::merge::keyless;
  j->replies.resize(masters.size());
  j->outstanding = masters.size();
  j->scan_node = spread_++ % masters.size();       // where RANDOMKEY starts looking
  const std::vector<cluster::node> all = masters;  // send() may change the order
  for (std::size_t i = 0; i < all.size(); ++i) one(all[i], std::string(bytes), i);
}

void cluster_backend::ask_for_keys(const args_view& args, std::string_view bytes,
                                   const std::shared_ptr<job>& j) {
  std::string request = resp::encode::array_header(args.size() + 2);
  resp::encode::append_bulk(&request, "COMMAND");
  resp::encode::append_bulk(&request, "GETKEYS");
  for (const auto a : args) resp::encode::append_bulk(&request, a);
  j->how = job::merge::getkeys;
  j->original.assign(bytes);
  j->args.assign(args.begin(), args.end());
  auto l = make_part<leg>();
  l->j = j;
  l->bytes = std::move(request);
  l->by_slot = false;
  l->target = *nodes_.any();
  send(l);
}

void cluster_backend::send(const leg_ptr& l) {
  cluster_nodes::link* to = nullptr;
  if (l->j->own && l->j->how != job::merge::getkeys) {
    const cluster::node* n =
        l->asking || !l->by_slot ? &l->target : nodes_.map().master_of(l->slot);
    if (n != nullptr) {
      l->sent_to = *n;
      to = &own(*n);
    }
  } else if (l->asking || !l->by_slot) {
    to = &nodes_.at(l->target, state_.resp3);
  } else {
    const auto reads = owner_.config().cluster_reads;
    if (l->j->read && reads != settings::read_from::master) {
      to = nodes_.replica_for(l->slot, state_.resp3, reads == settings::read_from::prefer_replica);
    }
    if (to == nullptr) to = nodes_.for_slot(l->slot, state_.resp3);
  }
  if (to == nullptr) {
    if (!retry_later(l, true)) finish_leg(l, slot_not_served);
    return;
  }
  if (l->asking) to->send(asking_request, [](std::string_view) {});
  to->send(l->bytes.view(), [this, l](std::string_view reply) { on_reply(l, reply); });
}

void cluster_backend::on_reply(const leg_ptr& l, std::string_view reply) {
  if (l->j->sink->gone()) return;
  if (reply.empty() || reply[0] != '-') {
    finish_leg(l, reply);
    return;
  }
  if (starts_with(reply, "-MOVED ") || starts_with(reply, "-ASK ")) {
    auto r = cluster::parse_redirect(reply);
    if (r && l->redirects < max_redirects) {
      ++l->redirects;
      const cluster::node* asked = l->j->own                  ? &l->sent_to
                                   : l->asking || !l->by_slot ? &l->target
                                                              : nodes_.map().master_of(l->slot);
      redirected(*r, asked);
      l->asking = r->what == cluster::redirect::kind::ask;
      if (l->asking || !l->by_slot) l->target = r->to;
      send(l);
      return;
    }
  } else if (starts_with(reply, "-TRYAGAIN")) {
    if (retry_later(l, false)) return;
  } else if (starts_with(reply, "-CLUSTERDOWN") ||
             starts_with(reply, resp_protocol::unavailable_prefix)) {
    // Only a connection that failed goes: -CLUSTERDOWN came over a healthy one.
    if (l->j->own && reply[1] != 'C') retire(l->sent_to);
    if (retry_later(l, true)) return;
  } else if (starts_with(reply, resp_protocol::lost_prefix)) {
    if (l->j->own) retire(l->sent_to);
    // Not sent again, as it may have run; but a read (a replica's, say) changed nothing.
    if (l->j->read && !l->j->own && retry_later(l, true)) return;
    nodes_.refresh(true);
  }
  finish_leg(l, reply);
}

void cluster_backend::redirected(cluster::redirect& r, const cluster::node* asked) {
  if (asked != nullptr) owner_.stats().node(asked->address()).redirects.add();
  if (r.to.host.empty() && asked != nullptr) r.to.host = asked->host;  // "the node that answered"
  if (r.what == cluster::redirect::kind::moved) {
    owner_.stats().cluster_moved.add();
    nodes_.moved(r);
  } else {
    owner_.stats().cluster_ask.add();
  }
}

bool cluster_backend::retry_later(const leg_ptr& l, bool refresh) {
  const auto now = clock::now();
  if (!l->deadline) l->deadline = now + owner_.config().cluster_retry_timeout;
  if (now >= *l->deadline) return false;
  if (refresh) nodes_.refresh(true);
  owner_.stats().cluster_retries.add();
  const auto step = std::chrono::milliseconds(10) * (1 << std::min(l->retries, 5));
  const auto wait = std::min<clock::duration>(step, *l->deadline - now);
  ++l->retries;
  l->asking = false;
  if (!l->timer) l->timer = std::make_unique<asio::steady_timer>(owner_.context());
  l->timer->expires_after(wait);
  l->timer->async_wait([this, l](const boost::system::error_code& ec) {
    if (!ec && !l->j->sink->gone()) send(l);
  });
  return true;
}

void cluster_backend::finish_leg(const leg_ptr& l, std::string_view reply) {
  job& j = *l->j;
  reply_sink& sink = *j.sink;
  switch (j.how) {
    case job::merge::none:
      if (j.then) {
        const auto then = j.then;  // may start the next step, with this job's leg
        then(reply);
        break;
      }
      if (j.watch && reply == "+OK\r\n") watch_node_ = l->sent_to;
      complete(j, reply);
      break;
    case job::merge::scan: {
      // A master's last page leaves room for more: the next master's first page joins it.
      const auto page = cluster::parse_scan_page(reply);
      if (!page) {
        complete(j, !reply.empty() && reply[0] == '-'
                        ? reply
                        : std::string_view("-ERR unexpected reply from a node\r\n"));
        break;
      }
      j.scan_elements.append(page->elements);
      j.scan_got += page->count;
      const auto& masters = nodes_.scan_order();
      if (page->cursor == 0 && j.scan_node + 1 < j.masters && j.scan_got < j.scan_want &&
          masters.size() == j.masters) {
        ++j.scan_node;
        const args_view args(j.args.begin(), j.args.end());
        auto next = make_part<leg>();
        next->j = l->j;
        next->bytes = cluster::scan_request(args, 0);
        next->by_slot = false;
        next->target = masters[j.scan_node];
        send(next);
        return;
      }
      const auto cursor = cluster::next_scan_cursor(page->cursor, j.scan_node, j.masters);
      complete(j, cursor ? cluster::scan_reply(*cursor, j.scan_got, j.scan_elements)
                         : "-ERR a node's SCAN cursor does not fit in the proxy's cursor\r\n");
      break;
    }
    case job::merge::getkeys: {
      const args_view args(j.args.begin(), j.args.end());
      const auto keys = getkeys_reply(reply);
      j.how = job::merge::none;
      const auto j_ptr = l->j;
      if (!keys || keys->empty()) {
        // No keys ("The command has no key arguments"), or an error the command itself will
        // give: a master answers it.
        route_keyless(lower(args[0]), args, j.original, j_ptr);
        return;
      }
      const std::uint16_t first = cluster::key_slot(keys->front());
      for (const auto& k : *keys) {
        if (cluster::key_slot(k) != first) {
          complete(j, crossslot);
          sink.answers_ready();
          return;
        }
      }
      auto next = make_part<leg>();
      next->j = j_ptr;
      next->bytes = std::move(j.original);
      next->slot = first;
      send(next);
      return;
    }
    case job::merge::split:
    case job::merge::keyless: {
      j.replies[l->index].assign(reply);
      if (--j.outstanding > 0) return;
      const std::vector<std::string_view> views(j.replies.begin(), j.replies.end());
      complete(j, j.how == job::merge::split
                      ? cluster::merge_replies(*j.plan, views)
                      : cluster::merge_keyless(j.policy, views, j.scan_node));
      break;
    }
  }
  sink.answers_ready();
}

}  // namespace puppy::server
