// A memcached upstream: each request translated into memcached requests on the servers its keys
// map to, answered into its reply slot (see memcached_backend.hpp).
#include "puppy/server/memcached_backend.hpp"

#include <algorithm>
#include <atomic>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <string>
#include <vector>

#include "puppy/pget/reply.hpp"
#include "puppy/server/mc_pool.hpp"
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
struct memcached_backend::job {
  // A response kept beyond the callback it arrived in.
  struct owned_response {
    memcached::code what = memcached::code::error;
    std::string flags;
    std::string data;
  };
  std::shared_ptr<reply_sink> sink;
  std::uint64_t slot = 0;
  std::unique_ptr<memcached::command> cmd;
  std::vector<owned_response> responses;
  std::size_t outstanding = 0;
  std::unique_ptr<asio::steady_timer> timer;  // for a step that asks to be woken later
  enum class family : std::uint8_t { other, pget, pset } kind = family::other;  // for metrics
  bool waited = false;
};

memcached_backend::memcached_backend(worker& owner) : owner_(owner) {
  // CLIENT ID for the clients of a memcached upstream, unique across the worker threads.
  static std::atomic<std::int64_t> next_id{0};
  state_.id = ++next_id;
}

void memcached_backend::submit(const resp::framed_command& cmd, std::string_view /*bytes*/,
                               std::uint64_t slot, const std::shared_ptr<reply_sink>& sink) {
  memcached::settings cfg;
  cfg.servers = owner_.memcached()->size();
  cfg.pget_defaults = owner_.config().pget_defaults;
  cfg.pget_keys = owner_.config().pget_keys;
  std::string reply;
  auto command = memcached::translate(cmd.args, state_, cfg, wall_ms(), &reply);
  if (!command) {
    sink->answer(slot, reply);
    return;
  }
  auto j = std::make_shared<job>();
  j->sink = sink;
  j->slot = slot;
  j->cmd = std::move(command);
  if (cmd.name == "pget") j->kind = job::family::pget;
  if (cmd.name == "pset") j->kind = job::family::pset;
  run(j, j->cmd->begin());
}

void memcached_backend::run(const std::shared_ptr<job>& j, memcached::step s) {
  if (j->sink->gone()) return;
  if (s.done) {
    if (j->kind == job::family::pget) {
      if (const auto state = pget::pget_reply_state(s.reply)) {
        owner_.stats().pget_answer(static_cast<metrics::pget_outcome>(*state));
      }
    } else if (j->kind == job::family::pset && (s.reply == ":1\r\n" || s.reply == ":0\r\n")) {
      (s.reply[1] == '1' ? owner_.stats().pset_accepted : owner_.stats().pset_refused).add();
    }
    j->sink->answer(j->slot, s.reply);
    return;
  }
  auto& pool = *owner_.memcached();
  if (s.requests.empty()) {
    // Nothing to send now: look again later (a waiting PGET).
    if (!j->waited) owner_.stats().pget_waits.add();
    j->waited = true;
    if (!j->timer) j->timer = std::make_unique<asio::steady_timer>(owner_.context());
    j->timer->expires_after(std::chrono::milliseconds(std::max<std::int64_t>(s.wake_after_ms, 0)));
    j->timer->async_wait([this, j](const boost::system::error_code& ec) {
      if (ec || j->sink->gone()) return;
      run(j, j->cmd->next({}));
      j->sink->answers_ready();
    });
    return;
  }
  std::size_t total = 0;
  for (const auto& r : s.requests) total += r.broadcast ? pool.size() : 1;
  j->responses.assign(total, job::owned_response{});
  j->outstanding = total;
  std::size_t index = 0;
  const auto on_response = [this, j](std::size_t i) {
    return [this, j, i](const memcached::response& r) {
      auto& kept = j->responses[i];
      kept.what = r.what;
      kept.flags.assign(r.flags);
      kept.data.assign(r.data);
      if (--j->outstanding > 0 || j->sink->gone()) return;
      std::vector<memcached::response> views(j->responses.size());
      for (std::size_t k = 0; k < views.size(); ++k) {
        views[k].what = j->responses[k].what;
        views[k].flags = j->responses[k].flags;
        views[k].data = j->responses[k].data;
      }
      run(j, j->cmd->next(views));
      j->sink->answers_ready();
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

}  // namespace puppy::server
