// The PGET family in a session, the read step: a PGET's MGET of its key and status answered
// (fresh, stale, missing, or joined to another session's read), or its second step sent (the
// lease, or the script). The first step is in session_pget.cpp.
#include <spdlog/spdlog.h>

#include "puppy/pget/answer.hpp"
#include "puppy/pget/decision.hpp"
#include "puppy/pget/keys.hpp"
#include "puppy/pget/reply.hpp"
#include "puppy/pget/request.hpp"
#include "puppy/pget/script.hpp"
#include "puppy/resp/encode.hpp"
#include "puppy/server/session.hpp"
#include "puppy/server/shared_upstream.hpp"
#include "puppy/server/tracking_link.hpp"
#include "puppy/server/wake_hub.hpp"
#include "puppy/server/worker.hpp"
#include "session_pget_util.hpp"

namespace puppy::server {

using detail::count;
using detail::error_reply;
using detail::wall_clock_ms;

void session::on_read_reply(std::string_view bytes) {
  const pget_read rd = std::move(reads_.front());
  reads_.pop_front();
  if (rd.leads) owner_.reads().done(rd.key, this, bytes);
  resolve_read(rd, bytes);
}

void session::on_joined_read(const std::string& key, const read_board::follower& f,
                             const std::string_view* reply) {
  if (closed_) return;
  pget_read rd;
  rd.key = key;
  rd.timeout = f.timeout;
  rd.update_time = f.update_time;
  rd.xfetch = f.xfetch;
  rd.fill = near_usable();
  rd.slot = f.slot;
  if (reply != nullptr) {
    rd.joined = true;
    resolve_read(rd, *reply);
    flush_client();
    return;
  }
  // The leader went away: read for ourselves, answering into the same slot.
  const bool up = link_->up();
  if (!up) {
    fill_slot(f.slot, unavailable_reply());
    flush_client();
    return;
  }
  std::string status_key, ignored;
  pget::status_key(key, owner_.config().pget_keys, &status_key, &ignored);
  if (rd.fill) rd.taken = near_stamp(key, status_key);
  reads_.push_back(std::move(rd));
  std::string call;
  pget::encode_read(key, status_key, &call);
  send_calls(call, {capture::what::read}, false);
}

void session::resolve_read(const pget_read& rd, std::string_view bytes) {
  // The common case (a hit in its turn) is encoded straight into the output.
  const bool direct = !rd.wait && rd.slot == 0 && !out_.slots_open();
  std::string reply;
  std::string* into = direct ? &out_.appending() : &reply;
  const std::size_t at = into->size();
  const auto a = pget::answer_read(bytes, wall_clock_ms(), rd.xfetch, rd.wait, into);
  const bool answered = a.next == pget::after_read::answered || a.next == pget::after_read::heal;
  if (direct && answered) out_.appended(at);
  if (a.given) count(owner_, *a.given);
  if (a.given == pget::state::fresh && rd.fill) {
    // Read again on the tracking connection, so that Redis tells when it changes.
    std::string status_key, ignored;
    pget::status_key(rd.key, owner_.config().pget_keys, &status_key, &ignored);
    owner_.tracking().fill_pget(rd.key, status_key, rd.taken);
  }
  if (rd.wait) {
    if (answered) {
      // Every other waiter of the key on this worker gets the same answer.
      if (wait_->listening) {
        const bool value = a.given == pget::state::fresh || a.given == pget::state::stale;
        owner_.wakes().outcome(wait_->key, this, value ? &reply : nullptr, -1);
      }
      finish_wait(reply);
      return;
    }
    // No value to give: wait for one, as the script decides (it may hand this reader the lease).
    // Listen before asking, so that a publish between the answer and the wait is not missed.
    if (!wait_->listening) {
      wait_->listening = true;
      owner_.wakes().add(wait_->key, shared_from_this());
    }
    send_wait_attempt();
    return;
  }
  if (a.next == pget::after_read::heal && !rd.joined) send_heal(rd.key);
  if (answered) {
    if (!direct) answer_pget(rd.slot, reply);
  } else {
    // The answer takes another round trip; replies to later requests wait behind it.
    const std::uint64_t slot = rd.slot != 0 ? rd.slot : out_.reserve();
    if (a.next == pget::after_read::take_lease && fast_ok_) {
      send_lease_step(rd, slot);
    } else {
      std::string status_key, ignored;
      pget::status_key(rd.key, owner_.config().pget_keys, &status_key, &ignored);
      send_script_get(rd, status_key, slot);
    }
  }
  if (reads_.empty() && !out_.slots_open() && round_waits_pget_) {
    round_waits_pget_ = false;
    reprocess_later();
  }
}

void session::send_lease_step(const pget_read& rd, std::uint64_t slot) {
  // SET status NX GET takes the lease atomically if there is still no status, and otherwise
  // tells what it is; GET reads the value again. Decided on their answers (on_fast_reply).
  fast_.emplace_back();
  fast_pget& f = fast_.back();
  f.key = rd.key;
  f.slot = slot;
  owner_.new_token(f.token);
  f.now_ms = wall_clock_ms();
  pget::request r;
  r.key = rd.key;
  r.timeout = rd.timeout;
  r.update_time = rd.update_time;
  std::string status_key, ignored;
  pget::status_key(rd.key, owner_.config().pget_keys, &status_key, &ignored);
  std::string call;
  pget::encode_fast_get(r, status_key, std::string_view(f.token, sizeof f.token), f.now_ms, &call);
  send_calls(call, {capture::what::fast_status, capture::what::fast_value}, false);
}

void session::send_script_get(const pget_read& rd, const std::string& status_key,
                              std::uint64_t slot) {
  pget::request r;
  r.key = rd.key;
  r.timeout = rd.timeout;
  r.update_time = rd.update_time;
  std::string call;
  const std::string xfetch = rd.xfetch > 0 ? std::to_string(rd.xfetch) : "";
  pget::encode_call(r, status_key, owner_.new_token(), xfetch,
                    owner_.config().pget_keys.wake_channel, wall_clock_ms(), false, &call);
  send_calls(call, {capture::what::get}, true, slot);
}

void session::on_get_reply(std::string_view bytes, std::uint64_t slot) {
  const bool for_wait = slot == 0 && wait_;  // an attempt of the waiting PGET
  std::string reply;
  const auto a = pget::answer_get(bytes, for_wait, &reply);
  if (a.noscript) link_->set_scripts_loaded(false);
  if (a.given) count(owner_, *a.given);
  if (!for_wait) {
    answer_pget(slot, reply);
    return;
  }
  if (a.wait) {
    if (!wait_->waited) owner_.stats().pget_waits.add();
    wait_->waited = true;
    wait_->in_flight = false;
    if (wait_->woken) {  // published while this look was on its way: look again
      attempt_now(true);
      return;
    }
    owner_.wakes().outcome(wait_->key, this, nullptr, a.retry_after);
    after_wait_miss(a.retry_after);
    return;
  }
  // A lease is this waiter's alone: the others go on waiting for its PSET.
  const bool value = a.given == pget::state::fresh || a.given == pget::state::stale;
  owner_.wakes().outcome(wait_->key, this, value ? &reply : nullptr, -1);
  finish_wait(reply);
}

}  // namespace puppy::server
