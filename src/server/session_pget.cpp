// The PGET family in a session: every PGET starts with one MGET of the key and its status on
// whichever upstream connection the client is on, in order with its other requests, and is
// answered from it (or from the near cache) or takes a second step (lease, script). The waiting
// of PGET ... WAIT is in session_pget_wait.cpp, the read's answer in session_pget_read.cpp.
#include <spdlog/spdlog.h>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

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
namespace asio = boost::asio;
using clock = std::chrono::steady_clock;

using detail::count;
using detail::error_reply;
using detail::wall_clock_ms;

namespace {

std::string upper(std::string_view name) {
  std::string out(name);
  for (auto& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace

bool session::on_pget(const resp::framed_command& cmd, std::size_t start, std::size_t pos) {
  flush_to(start);
  fwd_begin_ = pos;
  const auto name = [&] { return upper(cmd.args.empty() ? "PGET" : cmd.args[0]); };
  if (ledger_.passthrough()) {
    reply_local(error_reply(name() + " is not allowed while subscribed, in MONITOR or with "
                                     "CLIENT REPLY OFF|SKIP"));
    return true;
  }
  if (in_multi_) {
    reply_local(error_reply(name() + " is not allowed inside MULTI"));
    return true;
  }
  pget::request r;
  if (std::string err = pget::parse(cmd.args, owner_.config().pget_defaults, &r); !err.empty()) {
    reply_local(error_reply(err));
    return true;
  }
  if (!link_->up()) {
    reply_local(unavailable_reply());
    return true;
  }
  std::string& call = send_buf_;
  call.clear();
  const double xfetch = r.beta > 0 ? owner_.xfetch_factor(r.beta) : 0;
  const bool near = r.kind == pget::op::get && near_usable();
  if (near) {
    // The hot path, without an allocation (a key with an invalid status key is never cached):
    // the reply is encoded straight into the output when it may go out now.
    const bool direct = may_emit_now();
    std::string* into = direct ? &out_.appending() : &call;
    const std::size_t at = into->size();
    if (near_pget_hit(r.key, xfetch, into)) {
      count(owner_, pget::state::fresh);
      if (direct) {
        out_.appended(at);
      } else {
        reply_local(call);
      }
      return true;
    }
  }
  std::string& status_key = status_key_buf_;  // reused: no allocation per request
  std::string err;
  if (!pget::status_key(r.key, owner_.config().pget_keys, &status_key, &err)) {
    reply_local(error_reply(err));
    return true;
  }
  const auto& keys = owner_.config().pget_keys;
  if (r.kind == pget::op::get) {
    // Every PGET starts with one plain read of the value and its status, as django-puppy-cache
    // reads them; most are answered from it (decide_read), the rest take a second step.
    pget_read rd;
    rd.key.assign(r.key);
    rd.timeout = r.timeout;
    rd.update_time = r.update_time;
    rd.xfetch = xfetch;
    rd.wait = r.wait_ms > 0;
    rd.fill = near;
    if (near) {
      auto& board = owner_.reads();
      if (!rd.wait && ledger_.idle() && !out_.slots_open() && board.joinable(rd.key)) {
        // The same key is being read for another client on this worker: decide from its
        // answer (on_joined_read), in a reply slot of our own. Only with nothing of ours
        // outstanding, so that the slot is this request's place among our replies.
        board.join(rd.key, {weak_from_this(), out_.reserve(), r.timeout, r.update_time, xfetch});
        return true;
      }
      rd.taken = near_stamp(r.key, status_key);
      if (!board.reading(rd.key)) {
        rd.leads = true;
        board.lead(rd.key, this, rd.taken);
      }
    }
    reads_.push_back(std::move(rd));
    pget::encode_read(r.key, status_key, &call);
    send_calls(call, {capture::what::read}, false);
    if (r.wait_ms == 0) return true;
    // PGET ... WAIT: later requests wait until this one is answered (a value that exists is
    // answered by the read; only a miss waits, see on_read_reply).
    wait_ = std::make_unique<pget_wait>(owner_.context());
    wait_->key = std::string(r.key);
    wait_->status_key = status_key;
    wait_->request = r;
    wait_->request.key = wait_->key;
    wait_->deadline = clock::now() + std::chrono::milliseconds(r.wait_ms);
    wait_->in_flight = true;
    tail_ = pos;
    held_ = 0;
    return false;
  }
  const std::int64_t now = wall_clock_ms();
  pget::encode_call(r, status_key, "", "", keys.wake_channel, now, false, &call);
  const auto kind = r.kind == pget::op::set ? capture::what::pset : capture::what::integer;
  send_calls(call, {kind}, true);
  if (owner_.near_on()) note_keys_written(r.key, status_key);
  return true;
}

void session::send_calls(const std::string& call, std::initializer_list<capture::what> kinds,
                         bool needs_script, std::uint64_t slot) {
  std::string load;
  unsigned count = 0;
  const bool loaded = link_->scripts_loaded();
  if (needs_script && !loaded) {
    // Load the script first, on the same connection and in the same write: EVALSHA then works.
    pget::encode_load(&load);
    ledger_.sent_captured(static_cast<std::uint8_t>(capture::what::discard));
    ++count;
    link_->set_scripts_loaded(true);
  }
  for (const auto kind : kinds) {
    ledger_.sent_captured(static_cast<std::uint8_t>(kind), slot);
    ++count;
  }
  if (!load.empty()) {
    load += call;
    send_raw(load, count);
  } else {
    send_raw(call, count);
  }
}

void session::send_raw(const std::string& bytes, unsigned count) {
  link_->send_copy(bytes, count);
  if (own_.queued() && !round_active_) flush_upstream();  // a round flushes once it has queued all
}

void session::on_captured(const captured_reply& c, std::string_view bytes) {
  const auto kind = static_cast<capture::what>(c.kind);
  std::string error;
  switch (kind) {
    case capture::what::discard:
      if (!bytes.empty() && bytes[0] == '-') {
        owner_.log().warn("loading the PGET script failed: {}", bytes.substr(1, bytes.size() - 3));
      }
      return;
    case capture::what::integer:
    case capture::what::pset: {
      std::string reply;
      const auto a = pget::answer_write(bytes, &reply);
      if (a.noscript) link_->set_scripts_loaded(false);
      if (a.value && kind == capture::what::pset) {
        (*a.value == 1 ? owner_.stats().pset_accepted : owner_.stats().pset_refused).add();
      }
      out_.copy(reply);
      return;
    }
    case capture::what::read:
      on_read_reply(bytes);
      return;
    case capture::what::get:
      on_get_reply(bytes, c.slot);
      return;
    case capture::what::fast_status:
      fast_.front().status_reply.assign(bytes);
      return;
    case capture::what::fast_value:
      on_fast_reply(bytes);
      return;
  }
}

void session::on_fast_reply(std::string_view value_bytes) {
  const fast_pget f = std::move(fast_.front());
  fast_.pop_front();
  std::string reply;
  const std::string_view token(f.token, sizeof f.token);
  const auto a = pget::answer_lease(f.status_reply, value_bytes, token, f.now_ms, &reply);
  if (a.no_set_get) {
    fast_ok_ = false;  // Redis before 7.0: no SET NX GET; scripts from now on
    owner_.log().warn("the upstream refused SET NX GET (Redis < 7.0?); PGET uses a script now");
  }
  if (a.heal) send_heal(f.key);
  if (a.given) count(owner_, *a.given);
  answer_pget(f.slot, reply);
}

void session::send_heal(std::string_view key) {
  // A current status without its value (evicted): the status is dropped so that the next reader
  // gets the lease (no busy loop until the status expires).
  std::string heal, status_key, ignored;
  pget::status_key(key, owner_.config().pget_keys, &status_key, &ignored);
  pget::encode_heal(key, status_key, &heal);
  send_calls(heal, {capture::what::discard}, true);
}

void session::answer_pget(std::uint64_t slot, const std::string& reply) {
  if (slot != 0) {
    fill_slot(slot, reply);
  } else {
    out_.copy(reply);
  }
}

}  // namespace puppy::server
