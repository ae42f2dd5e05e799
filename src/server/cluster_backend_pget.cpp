// A Redis Cluster upstream: the PGET family (docs/cluster.md, "PGET"), on the rules of
// pget/decision.hpp, each step a request of its own to the master of the key's slot over the
// shared node connections (so redirections and retries are followed as for any request). The
// status key always shares the key's slot (pget::key_rules::cluster). Every PGET starts with one
// MGET of the key and its status, answered at once when fresh or stale; the lease and the early
// refresh go through the script (EVALSHA, or EVAL with its body on a node that does not have it
// yet: that loads it there), except a lease taken where there is no status at all, which is
// SET status NX GET + GET key, no script, as in a session. With the near cache, a PGET that misses
// its copy while another PGET of the worker reads the key follows that read (the worker's
// read_board) instead of sending its own. PSET/PRELEASE/PINVALIDATE publish the key with SPUBLISH
// on a shard channel of its slot. PGET ... WAIT holds the client's later requests back and looks
// again when the key is published (shard_wakes: the worker's subscriptions to those channels), when
// the lease may end, and every wait_poll while its channel's subscription is not confirmed, until
// its deadline.
#include <algorithm>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include "cluster_backend_parts.hpp"
#include "puppy/cluster/slot.hpp"
#include "puppy/pget/answer.hpp"
#include "puppy/pget/decision.hpp"
#include "puppy/pget/keys.hpp"
#include "puppy/pget/reply.hpp"
#include "puppy/pget/script.hpp"
#include "puppy/resp/encode.hpp"
#include "puppy/server/shard_wakes.hpp"
#include "puppy/server/worker.hpp"
#include "session_pget_util.hpp"

namespace puppy::server {
using clock = std::chrono::steady_clock;
using detail::count;
using detail::error_reply;
using detail::wall_clock_ms;

namespace {

// How often a waiting PGET looks again while its channel's subscription is not confirmed.
constexpr std::chrono::milliseconds wait_poll{25};
// ... and at least this often while it is: a subscribed connection that went silent without
// closing, or a client that went away, is noticed within it.
constexpr std::chrono::milliseconds max_quiet_wait{1000};

}  // namespace

bool cluster_backend::pget_request(const args_view& args, std::uint64_t slot,
                                   const sink_ptr& sink) {
  pget::request r;
  if (std::string err = pget::parse(args, owner_.config().pget_defaults, &r); !err.empty()) {
    sink->answer(slot, error_reply(err));
    return true;
  }
  std::string status_key, err;
  if (!pget::status_key(r.key, owner_.config().pget_keys, &status_key, &err)) {
    sink->answer(slot, error_reply(err));
    return true;
  }
  // PGET ... WAIT holds the client's later requests back, like a blocking command.
  const bool waits = r.kind == pget::op::get && r.wait_ms > 0;
  const lane l = waits ? lane::alone : lane::shared;
  if (!may_start(l)) return false;
  const bool near = r.kind == pget::op::get && near_usable();
  const double xfetch = r.kind == pget::op::get && r.beta > 0 ? owner_.xfetch_factor(r.beta) : 0;
  if (near && near_pget_hit(r.key, xfetch, slot, sink)) return true;
  auto f = std::make_shared<pget_flow>();
  f->backend = this;
  f->j = start_job(l, sink, slot);
  f->kind = r.kind;
  f->key.assign(r.key);
  f->status_key = std::move(status_key);
  f->token.assign(r.token);
  f->value.assign(r.value);
  f->timeout = r.timeout;
  f->update_time = r.update_time;
  f->backoff = r.backoff;
  f->slot = cluster::key_slot(r.key);
  f->channel = pget::shard_wake_channel(owner_.config().pget_keys, f->status_key);
  if (r.kind != pget::op::get) {
    if (owner_.near_on()) expect_writes(*f->j, cache::pget_writes(f->key, f->status_key));
    pget_write(f);
    return true;
  }
  f->xfetch = xfetch;
  f->fill = near;
  f->wait = waits;
  if (waits) {
    f->listen.assign(pget::shard_channel_name(f->channel));
    blocking_ = f->j;
    waiting_ = f;
  }
  f->deadline = clock::now() + std::chrono::milliseconds(r.wait_ms);
  if (near && !waits && owner_.reads().joinable(f->key)) {
    pget_follow(f);  // another PGET of this worker reads the key now: decide from its answer
    return true;
  }
  pget_read(f);
  return true;
}

void cluster_backend::pget_send(const pget_ptr& f, std::string bytes, step_fn then) {
  auto step = make_part<job>();
  step->sink = f->j->sink;
  step->then = std::move(then);
  auto l = make_part<leg>();
  l->j = step;
  l->bytes = std::move(bytes);
  l->slot = f->slot;
  send(l);
}

void cluster_backend::pget_script(const pget_ptr& f,
                                  std::function<std::string(bool with_body)> call, step_fn then) {
  pget_send(f, call(false), [this, f, call, then](std::string_view reply) {
    if (reply.rfind("-NOSCRIPT", 0) == 0) {
      pget_send(f, call(true), then);  // EVAL: the node has the script from now on
      return;
    }
    then(reply);
  });
}

void cluster_backend::pget_read(const pget_ptr& f) {
  f->in_flight = true;
  if (f->fill) near_stamp(*f);
  if (f->fill && !f->wait && !owner_.reads().reading(f->key)) {
    owner_.reads().lead(f->key, f.get(), f->taken);
    f->leads = true;
    leading_.push_back(f);
  }
  std::string read;
  pget::encode_read(f->key, f->status_key, &read);
  pget_send(f, std::move(read), [this, f](std::string_view reply) { on_pget_read(f, reply); });
}

void cluster_backend::on_pget_read(const pget_ptr& f, std::string_view reply) {
  if (f->leads) {  // its followers decide from the same reply
    f->leads = false;
    leading_.erase(std::find(leading_.begin(), leading_.end(), f));
    owner_.reads().done(f->key, f.get(), reply);
  }
  if (f->j->sink->gone()) {  // no second step (a lease) for a client that went
    pget_done(f, {});
    return;
  }
  std::string out;
  const auto a = pget::answer_read(reply, wall_clock_ms(), f->xfetch, f->wait, &out);
  if (a.given) count(owner_, *a.given);
  // A current status without its value (evicted): a miss, and the status is dropped so that
  // the next reader gets the lease.
  if (a.next == pget::after_read::heal && !f->followed) pget_heal(f);
  if (a.next == pget::after_read::answered || a.next == pget::after_read::heal) {
    if (f->fill && a.given == pget::state::fresh) near_fill(*f);
    pget_share(f, a.given, out);
    pget_done(f, out);
    return;
  }
  if (a.next == pget::after_read::take_lease && fast_ok_) {
    pget_lease(f);
    return;
  }
  pget_script_get(f);
}

void cluster_backend::pget_lease(const pget_ptr& f) {
  // Both to the key's master, one after the other; decided once both replies are in (a leg
  // redirected and sent again may be answered after the other).
  owner_.new_token(f->lease_token);
  f->lease_now = wall_clock_ms();
  f->lease_replies = 0;
  std::string both;
  std::size_t get_at = 0;
  const std::string_view token(f->lease_token, sizeof f->lease_token);
  pget::encode_fast_get(f->request(), f->status_key, token, f->lease_now, &both, &get_at);
  pget_send(f, both.substr(0, get_at), [this, f](std::string_view reply) {
    f->lease_status.assign(reply);
    if (++f->lease_replies == 2) on_pget_lease(f);
  });
  pget_send(f, both.substr(get_at), [this, f](std::string_view reply) {
    f->lease_value.assign(reply);
    if (++f->lease_replies == 2) on_pget_lease(f);
  });
}

void cluster_backend::on_pget_lease(const pget_ptr& f) {
  std::string out;
  const std::string_view token(f->lease_token, sizeof f->lease_token);
  const auto a = pget::answer_lease(f->lease_status, f->lease_value, token, f->lease_now, &out);
  if (a.no_set_get) {
    fast_ok_ = false;  // Redis before 7.0: no SET NX GET; scripts from now on
    owner_.log().warn("a cluster node refused SET NX GET (Redis < 7.0?); PGET uses a script now");
  }
  if (a.heal) pget_heal(f);
  if (a.given) count(owner_, *a.given);
  pget_done(f, out);
}

void cluster_backend::pget_heal(const pget_ptr& f) {
  pget_script(
      f,
      [f](bool with_body) {
        // (The heal call has no EVAL form: without the script, the node is given it, and the
        // status is dropped by the next reader's heal.)
        std::string heal;
        if (with_body) {
          pget::encode_load(&heal);
        } else {
          pget::encode_heal(f->key, f->status_key, &heal);
        }
        return heal;
      },
      [](std::string_view) {});
}

void cluster_backend::pget_follow(const pget_ptr& f) {
  joined_.push_back(f);
  owner_.reads().join(f->key, {f, 0, f->timeout, f->update_time, f->xfetch});
}

void cluster_backend::pget_flow::on_joined_read(const std::string&, const read_board::follower&,
                                                const std::string_view* reply) {
  auto& joined = backend->joined_;
  for (auto it = joined.begin(); it != joined.end(); ++it) {
    if (it->get() != this) continue;
    const pget_ptr f = std::move(*it);
    joined.erase(it);
    backend->on_followed_read(f, reply);
    return;
  }
}

void cluster_backend::on_followed_read(const pget_ptr& f, const std::string_view* reply) {
  if (reply == nullptr) {  // the leader went without an answer: read (the first one leads)
    if (f->j->sink->gone()) return;
    if (owner_.reads().joinable(f->key)) {
      pget_follow(f);
    } else {
      pget_read(f);
    }
    return;
  }
  f->fill = false;  // the leader fills the copy
  f->followed = true;
  on_pget_read(f, *reply);
  f->j->sink->answers_ready();  // (the leader's node connection flushes only its own client)
}

void cluster_backend::leave_board() {
  joined_.clear();  // their client went: nothing to answer
  for (const auto& f : leading_) {
    f->leads = false;
    // Its followers read for themselves (in a handler of its own: this may run inside a node
    // connection's dispatch). `f` is kept until then so that no other flow takes its address.
    boost::asio::post(owner_.context(),
                      [&board = owner_.reads(), f] { board.abandon(f->key, f.get()); });
  }
  leading_.clear();
}

void cluster_backend::pget_script_get(const pget_ptr& f) {
  pget_script(
      f,
      [this, f](bool with_body) {
        std::string call;
        const std::string xfetch = f->xfetch > 0 ? std::to_string(f->xfetch) : "";
        pget::encode_call(f->request(), f->status_key, owner_.new_token(), xfetch, f->channel,
                          wall_clock_ms(), with_body, &call);
        return call;
      },
      [this, f](std::string_view reply) { on_pget_script_get(f, reply); });
}

void cluster_backend::on_pget_script_get(const pget_ptr& f, std::string_view reply) {
  std::string out;
  const auto a = pget::answer_get(reply, f->wait, &out);
  if (!a.wait) {
    if (a.given) count(owner_, *a.given);
    pget_share(f, a.given, out);
    pget_done(f, out);
    return;
  }
  if (clock::now() >= f->deadline) {
    pget_wait_more(f, a.retry_after);  // (answers the miss: the wait ran out)
    return;
  }
  // Someone else regenerates: look again when the key is published, when the lease may end,
  // and, while the wake-up subscription is not confirmed, soon.
  f->in_flight = false;
  shard_wakes& hub = *owner_.shard_wake_hub();
  if (!f->wake) {
    f->wake = hub.add(f->listen, {});  // woken through hub.waiters()
    hub.waiters().add(f->listen, f);
    owner_.stats().pget_waits.add();
  } else {
    hub.renew(f->listen);
  }
  if (std::exchange(f->woken, false)) {
    pget_read(f);  // published while this look was on its way
    return;
  }
  hub.waiters().outcome(f->listen, f.get(), nullptr, a.retry_after);  // the others wait too
  pget_wait_more(f, a.retry_after);
}

void cluster_backend::pget_wait_more(const pget_ptr& f, std::int64_t retry_after_ms) {
  const auto now = clock::now();
  if (now >= f->deadline) {
    std::string out;
    pget::encode_pget_reply(pget::state::miss, nullptr, nullptr, &out);
    count(owner_, pget::state::miss);
    pget_done(f, out);
    return;
  }
  shard_wakes& hub = *owner_.shard_wake_hub();
  auto next = std::min(f->deadline, now + max_quiet_wait);
  if (retry_after_ms >= 0) {
    next = std::min(next, now + std::chrono::milliseconds(retry_after_ms + 1));
  }
  if (!hub.listening(f->listen)) next = std::min(next, now + wait_poll);
  if (!f->timer) f->timer = std::make_unique<boost::asio::steady_timer>(owner_.context());
  f->timer->expires_at(next);
  f->timer->async_wait([this, f](const boost::system::error_code& ec) {
    // Cancelled, or overtaken: woken (on_pget_wake) after the timer had fired.
    if (ec || f->in_flight || f->j->answered) return;
    if (f->j->sink->gone()) {
      pget_done(f, {});
      return;
    }
    // Through the key's waiters: if one of them is looking, its outcome is this one's too.
    owner_.shard_wake_hub()->waiters().ask(f->listen, f);
  });
}

void cluster_backend::pget_share(const pget_ptr& f, std::optional<pget::state> given,
                                 const std::string& reply) {
  if (!f->wait || !f->wake) return;
  const bool value = given == pget::state::fresh || given == pget::state::stale;
  // A lease is this waiter's alone: the others go on waiting for its PSET.
  owner_.shard_wake_hub()->waiters().outcome(f->listen, f.get(), value ? &reply : nullptr, -1);
}

void cluster_backend::on_pget_wake(const pget_ptr& f) {
  if (f->j->answered) return;
  if (f->j->sink->gone()) {
    pget_done(f, {});
    return;
  }
  if (f->in_flight) {
    f->woken = true;  // the look on its way may have missed it
    return;
  }
  if (f->timer) f->timer->cancel();
  pget_read(f);
}

void cluster_backend::pget_flow::on_wake() {
  backend->on_pget_wake(shared_from_this());
}

void cluster_backend::pget_flow::attempt_now(bool) {
  backend->on_pget_wake(shared_from_this());
}

bool cluster_backend::pget_flow::takes_peer_outcome() {
  if (in_flight || j->answered) return false;  // its own look answers it
  if (!j->sink->gone()) return true;
  backend->pget_done(shared_from_this(), {});
  return false;
}

void cluster_backend::pget_flow::on_peer_answer(const std::string& reply) {
  if (!takes_peer_outcome()) return;
  if (const auto s = pget::pget_reply_state(reply)) count(backend->owner_, *s);
  backend->pget_done(shared_from_this(), reply);
  j->sink->answers_ready();  // (the looking waiter's node connection flushes only its client)
}

void cluster_backend::pget_flow::on_peer_miss(std::int64_t retry_after_ms) {
  if (!takes_peer_outcome()) return;
  backend->pget_wait_more(shared_from_this(), retry_after_ms);
  j->sink->answers_ready();  // (a wait that ran out is answered now)
}

void cluster_backend::pget_done(const pget_ptr& f, std::string_view reply) {
  if (f->wake) {
    // (If it was the one looking for the key's waiters, another one looks now.)
    owner_.shard_wake_hub()->waiters().remove(f->listen, f.get());
  }
  f->wake.reset();
  if (f->timer) f->timer->cancel();
  if (reply.empty()) return;  // the client went away: nothing to answer
  complete(*f->j, reply);
}

void cluster_backend::pget_write(const pget_ptr& f) {
  pget_script(
      f,
      [f](bool with_body) {
        std::string call;
        pget::encode_call(f->request(), f->status_key, "", "", f->channel, wall_clock_ms(),
                          with_body, &call);
        return call;
      },
      [this, f](std::string_view reply) {
        std::string out;
        const auto a = pget::answer_write(reply, &out);
        if (a.value && f->kind == pget::op::set) {
          (*a.value == 1 ? owner_.stats().pset_accepted : owner_.stats().pset_refused).add();
        }
        complete(*f->j, out);
      });
}

}  // namespace puppy::server
