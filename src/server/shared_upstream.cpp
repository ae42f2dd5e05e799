#include "puppy/server/shared_upstream.hpp"

#include <spdlog/spdlog.h>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/post.hpp>
#include <utility>

#include "puppy/server/io_util.hpp"
#include "puppy/server/session.hpp"
#include "puppy/server/upstream_start.hpp"
#include "puppy/server/worker.hpp"

namespace puppy::server {
namespace asio = boost::asio;
using boost::system::error_code;
using tcp = asio::ip::tcp;
using detail::would_block;

namespace {
constexpr std::size_t shared_buffer_size = 64 * 1024;
// A client's requests are lent (written from its buffer) only from this size on: a smaller copy
// costs less than holding the client's reads until the write (docs/architecture.md, "Shared and
// own upstream connections"; lending every request cost 4 % more instructions per SET at -P 1).
constexpr std::size_t min_lent_bytes = 4 * 1024;
}  // namespace

shared_upstream::shared_upstream(worker& owner)
    : owner_(owner),
      socket_(owner.context()),
      connect_timer_(owner.context()),
      in_(shared_buffer_size),
      scanner_(owner.config().max_reply_depth),
      watchdog_(
          owner.context(), owner.config().response_timeout, [this] { return !routes_.empty(); },
          [this] { on_reply_overdue(); }) {}

void shared_upstream::on_reply_overdue() {
  if (probe_) return;
  if (moving_) {  // the old primary: a probe would reach the new one
    fail("no reply from the old primary within " +
             std::to_string(owner_.config().response_timeout.count()) + " ms",
         metrics::error_kind::upstream_timeout);
    return;
  }
  probe_ = std::make_shared<liveness_probe>(owner_.context(), owner_.config());
  probe_->start([this, gen = generation_](bool alive, const std::string& why) {
    probe_.reset();
    if (gen != generation_) return;  // the connection ended meanwhile
    const auto limit = std::to_string(owner_.config().response_timeout.count());
    if (alive) {
      // Redis answers: the reply is slow (a long script), not lost. Keep waiting for it.
      owner_.log().info(
          "shared upstream connection: no reply within {} ms, but the upstream "
          "answers; waiting on",
          limit);
      watchdog_.keep_waiting();
      return;
    }
    fail("no reply within " + limit + " ms, and the upstream does not answer (" + why + ")",
         metrics::error_kind::upstream_timeout);
  });
}

bool shared_upstream::congested() const {
  return out_.size() > owner_.config().max_pending_output;
}

shared_upstream::state shared_upstream::ensure() {
  if (!moving_ && (state_ == state::idle ||
                   (state_ == state::down &&
                    owner_.upstream_backoff().may_attempt(std::chrono::steady_clock::now())))) {
    connect();
  }
  return current();
}

void shared_upstream::move() {
  switch (state_) {
    case state::idle:
    case state::down:
      state_ = state::idle;  // the next request connects, to the new primary
      return;
    case state::connecting:
      break;  // to the old one: start again
    case state::up:
      if (!routes_.empty() || !out_.empty()) {
        start_moving();  // dispatch() moves once the last reply is in
        return;
      }
      break;
  }
  reconnect();
}

void shared_upstream::start_moving() {
  if (moving_) return;
  moving_ = true;
  // The old primary has this long to answer what is in flight (a frozen or unreachable one
  // would hold the requests waiting for the move): then the connection fails.
  const auto limit = owner_.config().connect_timeout;
  connect_timer_.expires_after(limit);
  connect_timer_.async_wait([this, gen = generation_, limit](const error_code& e) {
    if (e || gen != generation_ || !moving_) return;
    fail("the old primary did not answer what was in flight within " +
             std::to_string(limit.count()) + " ms of the move",
         metrics::error_kind::upstream_timeout);
  });
}

void shared_upstream::reconnect() {
  moving_ = false;
  ++generation_;
  watchdog_.stop();
  if (probe_) std::exchange(probe_, nullptr)->cancel();
  error_code ignored;
  socket_.close(ignored);
  flush_scheduled_ = write_blocked_ = read_wait_pending_ = false;
  scanner_.reset();
  connect();  // on_ready() wakes the clients that wait
}

void shared_upstream::connect() {
  state_ = state::connecting;
  connect_error_.clear();
  const auto gen = ++generation_;
  connect_timer_.expires_after(owner_.config().connect_timeout);
  connect_timer_.async_wait([this, gen](const error_code& e) {
    if (!e && gen == generation_ && state_ == state::connecting) {
      connect_error_ = "timed out";
      error_code ignored;
      socket_.close(ignored);
    }
  });
  async_connect_upstream(owner_.config(), socket_, [this, gen](const error_code& e) {
    if (gen == generation_) on_connected(e);
  });
}

void shared_upstream::on_connected(const error_code& ec) {
  if (ec) {
    on_ready(ec);
    return;
  }
  async_start_upstream(owner_.config(), socket_,
                       [this, gen = generation_](const error_code& e, const std::string& why) {
                         if (gen != generation_) return;
                         if (e && connect_error_.empty()) connect_error_ = why;
                         on_ready(e);
                       });
}

void shared_upstream::on_ready(const error_code& ec) {
  connect_timer_.cancel();
  if (!owner_.upstream_connected(ec, connect_error_, socket_)) {
    state_ = state::down;
  } else {
    readable_ = true;
    scripts_loaded_ = false;
    requests_ = replies_ = 0;
    rtt_.reset();
    state_ = state::up;
    pump();
  }
  wake_all();
}

bool shared_upstream::send(const std::shared_ptr<session>& s, const char* data, std::size_t len,
                           std::uint32_t count, bool lend) {
  const bool idle = routes_.empty() && out_.empty();
  watchdog_.sent(routes_.empty());
  if (!routes_.empty() && routes_.back().target == s) {
    routes_.back().left += count;
  } else {
    routes_.push_back({s, count});
  }
  requests_ += count;
  rtt_.on_sent(requests_);
  const bool large = len >= min_lent_bytes;
  if (idle && !write_blocked_ && !flush_scheduled_) {
    // Nothing in flight: latency first, write at once (what the socket does not take is copied).
    if (lend && large) {
      out_.lend(data, len);
    } else {
      out_.copy(data, len);
    }
    flush();
    out_.own_rest();  // (flush() wrote it, or copied what is left, or dropped it: never kept)
    return false;
  }
  if (lend && large && !write_blocked_) return lend_until_flush(s, data, len);
  out_.copy(data, len);
  schedule_flush();  // Redis is busy anyway: gather this turn's requests into one write
  return false;
}

bool shared_upstream::lend_until_flush(const std::shared_ptr<session>& s, const char* data,
                                       std::size_t len) {
  out_.lend(data, len);  // written by this turn's flush, from the client's buffer
  if (lenders_.empty() || lenders_.back() != s) lenders_.push_back(s);
  schedule_flush();
  return true;
}

void shared_upstream::schedule_flush() {
  if (flush_scheduled_ || write_blocked_) return;
  flush_scheduled_ = true;
  // After the other ready clients of this turn have added theirs: one write for all of them.
  asio::post(owner_.context(), [this, gen = generation_] {
    flush_scheduled_ = false;
    if (gen == generation_) flush();
  });
}

void shared_upstream::flush() {
  if (state_ != state::up) return;
  const error_code ec = out_.write_to(socket_, iov_);
  if (would_block(ec)) {
    if (out_.lends()) {
      owner_.log().debug(
          "shared upstream connection: write blocked; the {} bytes left are copied from the "
          "clients' buffers",
          out_.size());
      out_.own_rest();  // the clients may read again: what is left waits here
    }
    // Blocked before the clients are released: what they send meanwhile is copied, and no
    // other flush (with a wait of its own) is scheduled until the socket takes more.
    write_blocked_ = true;
    socket_.async_wait_writable([this, gen = generation_](const error_code&) {
      if (gen != generation_) return;
      write_blocked_ = false;
      flush();
    });
    release_lenders();
    if (!congested()) wake_soon();
    return;
  }
  if (ec) {
    fail(socket_.describe(ec));
    return;
  }
  release_lenders();
  wake_soon();
}

void shared_upstream::release_lenders() {
  // A session released may send again at once and lend anew; a nested call leaves the work to
  // this loop, which goes on while lenders wait and out_ holds none of their bytes.
  if (releasing_) return;
  releasing_ = true;
  while (!lenders_.empty() && !out_.lends()) {
    released_.swap(lenders_);  // both vectors keep their capacity
    for (auto& s : released_) s->on_shared_written();
    released_.clear();
  }
  releasing_ = false;
}

void shared_upstream::wake_soon() {
  // In a handler of its own: flush() may run inside a session's round (via send()).
  if (waiters_.empty() || wake_posted_) return;
  wake_posted_ = true;
  asio::post(owner_.context(), [this] {
    wake_posted_ = false;
    wake_all();
  });
}

void shared_upstream::pump() {
  for (int turn = 0; turn < detail::max_read_turns; ++turn) {
    if (state_ != state::up) return;
    if (!readable_) {
      arm_read_wait();
      return;
    }
    error_code ec;
    const std::size_t want = in_.capacity();
    const std::size_t n = socket_.read_some(asio::buffer(in_.data(), want), ec);
    if (would_block(ec)) {
      readable_ = false;
      arm_read_wait();
      return;
    }
    if (ec) {
      fail(ec == asio::error::eof ? "closed by the upstream" : socket_.describe(ec));
      return;
    }
    dispatch(n);  // replies first: the clients waiting for them matter more than re-arming
    if (n < want) {
      readable_ = false;
      arm_read_wait();
    }
  }
  asio::post(owner_.context(), [this, gen = generation_] {
    if (gen == generation_) pump();
  });
}

void shared_upstream::arm_read_wait() {
  if (read_wait_pending_ || state_ != state::up) return;
  read_wait_pending_ = true;
  socket_.async_wait_readable([this, gen = generation_](const error_code&) {
    if (gen != generation_) return;
    read_wait_pending_ = false;
    readable_ = true;
    pump();
  });
}

void shared_upstream::dispatch(std::size_t n) {
  const char* data = in_.data();
  std::size_t pos = 0;
  bool replied = false;
  bool readonly = false;
  while (pos < n) {
    if (routes_.empty()) {
      fail("upstream protocol fault: a reply nobody asked for",
           metrics::error_kind::upstream_protocol);
      return;
    }
    route& r = routes_.front();
    const auto res = scanner_.scan(data + pos, n - pos);
    if (res.status == resp::scan_status::error) {
      fail(std::string("upstream protocol fault: invalid reply: ") + scanner_.error_message(),
           metrics::error_kind::upstream_protocol);
      return;
    }
    const bool ends = res.status == resp::scan_status::reply;
    r.target->deliver(data + pos, res.consumed, ends);
    if (!r.target->touched) {
      r.target->touched = true;
      touched_.push_back(r.target);
    }
    pos += res.consumed;
    if (ends) {
      replied = true;
      readonly = readonly || (scanner_.type() == '-' && scanner_.head().rfind("READONLY", 0) == 0);
      ++replies_;
      if (--r.left == 0) routes_.pop_front();
    }
  }
  if (readonly && !moving_ && std::chrono::steady_clock::now() >= next_readonly_move_) {
    // A write refused: this is no longer the primary (a failover the proxy did not hear of).
    // Heard at most once per --upstream-retry-max-ms: the name may not point elsewhere yet.
    next_readonly_move_ = std::chrono::steady_clock::now() + owner_.config().retry_max;
    if (owner_.upstream_readonly()) {  // a fixed upstream: a new connection resolves it again
      owner_.log().warn(
          "shared upstream connection: the upstream answered -READONLY (no longer the "
          "primary?); reconnecting");
      start_moving();
    }
  }
  if (moving_ && routes_.empty() && out_.empty()) {
    for (auto& s : touched_) {
      s->touched = false;
      s->flush_delivered();
    }
    touched_.clear();
    reconnect();
    return;
  }
  if (replied) {  // once per read, not per reply
    watchdog_.replied();
    rtt_.on_replied(replies_, owner_.stats().upstream_latency);
  }
  // Each client gets one write for everything this read brought it; what a client cannot take
  // now is copied, so in_ is free again when this returns.
  for (auto& s : touched_) {
    s->touched = false;
    s->flush_delivered();
  }
  touched_.clear();
}

void shared_upstream::fail(const std::string& why, metrics::error_kind kind) {
  owner_.stats().error(kind);
  owner_.log().warn("shared upstream connection ended ({}); closing its clients", why);
  // Clients delivered to in a read that failed half-way copy what they got before in_ goes.
  for (auto& s : touched_) {
    s->touched = false;
    s->flush_delivered();
  }
  touched_.clear();
  ++generation_;
  watchdog_.stop();
  if (probe_) std::exchange(probe_, nullptr)->cancel();
  error_code ignored;
  socket_.close(ignored);
  moving_ = false;
  state_ = state::idle;  // the next request reconnects (the back-off applies if that fails)
  out_.clear();
  flush_scheduled_ = write_blocked_ = read_wait_pending_ = false;
  scanner_.reset();
  std::vector<std::shared_ptr<session>> affected;
  for (auto& r : routes_) affected.push_back(r.target);
  routes_.clear();
  std::vector<session*> attached(attached_.begin(), attached_.end());
  for (session* s : attached) affected.push_back(s->shared_from_this());
  for (auto& s : affected) s->on_shared_gone();
  release_lenders();  // after on_shared_gone: they read nothing more
  wake_all();
}

void shared_upstream::wake_all() {
  std::vector<std::shared_ptr<session>> waiters;
  waiters.swap(waiters_);
  for (auto& s : waiters) s->on_shared_ready();
}

void shared_upstream::wake_me(const std::shared_ptr<session>& s) {
  for (const auto& w : waiters_) {
    if (w == s) return;
  }
  waiters_.push_back(s);
}

void shared_upstream::close() {
  ++generation_;
  watchdog_.stop();
  if (probe_)
    std::exchange(probe_, nullptr)
        ->cancel();  // a pending timer would keep the worker's loop (and shutdown) alive
  error_code ignored;
  socket_.close(ignored);
  connect_timer_.cancel();
  state_ = state::idle;
  out_.clear();
  lenders_.clear();  // shutting down: the sessions are closed already
  routes_.clear();
  waiters_.clear();
}

}  // namespace puppy::server
