// PGET ... WAIT in a session: a miss holds the client's later requests back (like a blocking
// command) and looks again when the key is published (the wake hub), when the lease may have
// expired, or when the wait runs out; the other waiters of the key on this worker share one look.
#include <spdlog/spdlog.h>
#include <algorithm>
#include <boost/asio/steady_timer.hpp>

#include "puppy/pget/decision.hpp"
#include "puppy/pget/reply.hpp"
#include "puppy/pget/script.hpp"
#include "puppy/server/session.hpp"
#include "puppy/server/shared_upstream.hpp"
#include "puppy/server/wake_hub.hpp"
#include "puppy/server/worker.hpp"
#include "session_pget_util.hpp"

namespace puppy::server {
using clock = std::chrono::steady_clock;
using detail::count;
using detail::wall_clock_ms;

namespace {

// While the wake-up subscription is down, a waiting PGET looks again this often.
constexpr auto poll_without_subscription = std::chrono::milliseconds(50);
// How soon a waiting PGET looks again when its connection is being opened or moved.
constexpr std::int64_t link_retry_ms = 25;

}  // namespace

void session::after_wait_miss(std::int64_t retry_after_ms) {
  const auto now = clock::now();
  if (now >= wait_->deadline) {
    std::string reply;
    pget::encode_pget_reply(pget::state::miss, nullptr, nullptr, &reply);
    count(owner_, pget::state::miss);
    finish_wait(reply);
    return;
  }
  auto next = wait_->deadline;
  if (retry_after_ms >= 0) {
    // The lease (or back-off) ends then: if nobody published by then, look again.
    next = std::min(next, now + std::chrono::milliseconds(retry_after_ms + 1));
  }
  if (!owner_.wakes().listening()) next = std::min(next, now + poll_without_subscription);
  wait_->timer.expires_at(next);
  wait_->timer.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
    if (ec || self->closed_ || !self->wait_ || self->wait_->in_flight) return;
    // Time to look again: through the hub, so that the key's waiters share one look.
    self->owner_.wakes().ask(self->wait_->key, self);
    self->flush_client();
  });
}

void session::on_wake() {
  attempt_now(true);
}

void session::attempt_now(bool published) {
  if (!wait_ || closed_) return;
  if (wait_->in_flight) {
    wait_->woken = wait_->woken || published;
    return;
  }
  wait_->timer.cancel();
  if (published) {
    send_wait_read();
  } else {
    send_wait_attempt();
  }
}

void session::on_peer_answer(const std::string& reply) {
  if (!wait_ || closed_ || wait_->in_flight) return;  // its own look answers it
  if (const auto s = pget::pget_reply_state(reply)) count(owner_, *s);
  finish_wait(reply);
}

void session::on_peer_miss(std::int64_t retry_after_ms) {
  if (!wait_ || closed_ || wait_->in_flight) return;
  after_wait_miss(retry_after_ms);
}

void session::send_wait_read() {
  const bool up = link_->up();
  if (!up) {
    // Being opened, or moved to a new primary: look again soon (within the wait).
    const std::int64_t again = link_->connecting() ? link_retry_ms : -1;
    owner_.wakes().outcome(wait_->key, this, nullptr, again);
    if (again >= 0) return after_wait_miss(again);
    finish_wait(unavailable_reply());
    return;
  }
  // A value was probably published: one plain read answers it (on_read_reply); only if it
  // finds none does the script decide.
  wait_->woken = false;
  wait_->in_flight = true;
  pget_read rd;
  rd.key = wait_->key;
  rd.timeout = wait_->request.timeout;
  rd.update_time = wait_->request.update_time;
  rd.wait = true;
  reads_.push_back(std::move(rd));
  std::string call;
  pget::encode_read(wait_->key, wait_->status_key, &call);
  send_calls(call, {capture::what::read}, false);
}

void session::send_wait_attempt() {
  const bool up = link_->up();
  if (!up) {
    if (link_->connecting()) return after_wait_miss(link_retry_ms);
    finish_wait(unavailable_reply());
    return;
  }
  wait_->woken = false;
  wait_->in_flight = true;
  std::string call;
  pget::encode_call(wait_->request, wait_->status_key, owner_.new_token(), "",
                    owner_.config().pget_keys.wake_channel, wall_clock_ms(), false, &call);
  send_calls(call, {capture::what::get}, true);
}

void session::finish_wait(const std::string& reply) {
  owner_.wakes().remove(wait_->key, this);
  wait_->timer.cancel();
  wait_.reset();
  out_.copy(reply);
  flush_client();
  // Go on with the requests that came after the PGET.
  reprocess_later();
}

}  // namespace puppy::server
