// A session whose upstream is memcached: each request is translated (memcached/translate.hpp)
// into memcached requests on the servers its keys map to; replies complete in any order and are
// released in request order.
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include "puppy/pget/reply.hpp"
#include "puppy/server/mc_pool.hpp"
#include "puppy/server/session.hpp"
#include "puppy/server/worker.hpp"

namespace puppy::server {
namespace asio = boost::asio;

namespace {

std::int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

// One request in flight: its command and the responses of its current step.
struct session::mc_job {
  // A response kept beyond the callback it arrived in.
  struct owned_response {
    memcached::code what = memcached::code::error;
    std::string flags;
    std::string data;
  };
  std::uint64_t slot = 0;
  std::unique_ptr<memcached::command> cmd;
  std::vector<owned_response> responses;
  std::size_t outstanding = 0;
  std::unique_ptr<asio::steady_timer> timer;  // for a step that asks to be woken later
  enum class family : std::uint8_t { other, pget, pset } kind = family::other;  // for metrics
  bool waited = false;
};

void session::mc_request(const resp::framed_command& cmd) {
  const std::uint64_t slot = reserve_slot();
  memcached::settings cfg;
  cfg.servers = owner_.memcached()->size();
  cfg.pget_defaults = owner_.config().pget_defaults;
  cfg.pget_keys = owner_.config().pget_keys;
  std::string reply;
  auto command = memcached::translate(cmd.args, mc_state_, cfg, wall_ms(), &reply);
  if (!command) {
    mc_fill(slot, reply);
    return;
  }
  auto job = std::make_shared<mc_job>();
  job->slot = slot;
  job->cmd = std::move(command);
  if (cmd.name == "pget") job->kind = mc_job::family::pget;
  if (cmd.name == "pset") job->kind = mc_job::family::pset;
  mc_run(job, job->cmd->begin());
}

void session::mc_run(const std::shared_ptr<mc_job>& job, memcached::step s) {
  if (closed_) return;
  if (s.done) {
    if (job->kind == mc_job::family::pget) {
      if (const auto state = pget::pget_reply_state(s.reply)) {
        owner_.stats().pget_answer(static_cast<metrics::pget_outcome>(*state));
      }
    } else if (job->kind == mc_job::family::pset && (s.reply == ":1\r\n" || s.reply == ":0\r\n")) {
      (s.reply[1] == '1' ? owner_.stats().pset_accepted : owner_.stats().pset_refused).add();
    }
    mc_fill(job->slot, s.reply);
    return;
  }
  auto& pool = *owner_.memcached();
  if (s.requests.empty()) {
    // Nothing to send now: look again later (a waiting PGET).
    if (!job->waited) owner_.stats().pget_waits.add();
    job->waited = true;
    if (!job->timer) job->timer = std::make_unique<asio::steady_timer>(owner_.context());
    job->timer->expires_after(
        std::chrono::milliseconds(std::max<std::int64_t>(s.wake_after_ms, 0)));
    job->timer->async_wait([self = shared_from_this(), job](const boost::system::error_code& ec) {
      if (ec || self->closed_) return;
      self->mc_run(job, job->cmd->next({}));
      self->flush_client();
    });
    return;
  }
  std::size_t total = 0;
  for (const auto& r : s.requests) total += r.broadcast ? pool.size() : 1;
  job->responses.assign(total, mc_job::owned_response{});
  job->outstanding = total;
  std::size_t index = 0;
  const auto on_response = [self = shared_from_this(), job](std::size_t i) {
    return [self, job, i](const memcached::response& r) {
      auto& kept = job->responses[i];
      kept.what = r.what;
      kept.flags.assign(r.flags);
      kept.data.assign(r.data);
      if (--job->outstanding > 0 || self->closed_) return;
      std::vector<memcached::response> views(job->responses.size());
      for (std::size_t k = 0; k < views.size(); ++k) {
        views[k].what = job->responses[k].what;
        views[k].flags = job->responses[k].flags;
        views[k].data = job->responses[k].data;
      }
      self->mc_run(job, job->cmd->next(views));
      self->mc_flush_soon();
    };
  };
  for (const auto& r : s.requests) {
    if (r.broadcast) {
      for (std::size_t srv = 0; srv < pool.size(); ++srv)
        pool.at(srv).send(r.bytes, on_response(index++));
    } else {
      pool.for_key(r.key).send(r.bytes, on_response(index++));
    }
  }
}

void session::mc_flush_soon() {
  // Responses come in batches (one memcached read answers many clients' requests): each client
  // gets one write per batch, once the batch has been dispatched.
  if (mc_flush_posted_) return;
  mc_flush_posted_ = true;
  asio::post(owner_.context(), [self = shared_from_this()] {
    self->mc_flush_posted_ = false;
    if (self->closed_) return;
    self->flush_client();
    self->maybe_finish();
    self->resume();
  });
}

void session::mc_fill(std::uint64_t slot, std::string_view reply) {
  // Every memcached request has its slot: nothing is held between them.
  order_.answer(slot, reply, [this](std::string_view b) { emit_local(b); });
}

}  // namespace puppy::server
