#include "puppy/server/worker.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <sys/random.h>
#include <unistd.h>
#include <cmath>
#include <vector>

#include "puppy/net/stream.hpp"
#include "puppy/server/cluster_nodes.hpp"
#include "puppy/server/mc_pool.hpp"
#include "puppy/server/session.hpp"
#include "puppy/server/shard_wakes.hpp"
#include "puppy/server/shared_upstream.hpp"
#include "puppy/server/tracking_link.hpp"
#include "puppy/server/upstream_start.hpp"
#include "puppy/server/wake_hub.hpp"

namespace puppy::server {

worker::worker(unsigned id, const settings& config, std::shared_ptr<spdlog::logger> log,
               std::atomic<std::size_t>& clients)
    : id_(id),
      config_(config),
      log_(std::move(log)),
      backoff_(config.retry_min, config.retry_max),
      clients_(clients),
      idle_sweep_(ioc_),
      wakes_(std::make_unique<wake_hub>(*this)),
      gens_(config.write_gens ? config.write_gens : std::make_shared<cache::write_gens>()),
      near_(config.near_cache_budget, *gens_, stats_.near),
      tracking_(std::make_unique<tracking_link>(*this, upstream::host_port{})),
      board_(*gens_),
      rng_(std::random_device{}()) {
  if (config.idle_timeout.count() > 0) sweep_idle();
  if (config.memcached) {
    mc_ = std::make_unique<mc_pool>(*this, config.memcached_servers, config.memcached_hash);
  } else if (config.cluster) {
    cluster_ = std::make_unique<cluster_nodes>(*this, config.cluster_seeds);
    shard_wakes_ = std::make_unique<shard_wakes>(*this, *cluster_);
  } else {
    for (unsigned i = 0; i < config.shared_connections; ++i) {
      shared_.push_back(std::make_unique<shared_upstream>(*this));
    }
  }
}

worker::~worker() = default;

void worker::start_session(boost::asio::ip::tcp::socket::native_handle_type fd,
                           boost::asio::ip::tcp protocol, bool tls) {
  boost::system::error_code ec;
  boost::asio::ip::tcp::socket client(ioc_);
  client.assign(protocol, fd, ec);
  if (ec) {
    ::close(fd);
    --clients_;
    log_->warn("cannot take an accepted connection: {}", ec.message());
    return;
  }
  shared_upstream* shared = nullptr;
  if (!shared_.empty()) {
    shared = shared_[next_shared_].get();
    next_shared_ = (next_shared_ + 1) % shared_.size();
  }
  std::make_shared<session>(*this, std::move(client), shared,
                            tls ? config_.client_tls.get() : nullptr)
      ->start();
}

bool worker::upstream_connected(const boost::system::error_code& ec, const std::string& detail,
                                net::stream& stream) {
  if (ec) {
    const std::string why = "connect to " + upstream_text(config_) +
                            " failed: " + (detail.empty() ? ec.message() : detail);
    backoff_.failed(std::chrono::steady_clock::now(), why);
    stats_.upstream_connect_failures.add();
    if (config_.primary) config_.primary->suspect();  // Sentinel: has it moved?
    if (backoff_.failures() == 1) {
      log_->warn("upstream unavailable: {}", why);
    } else {
      log_->debug("upstream unavailable: {}", why);
    }
    boost::system::error_code ignored;
    stream.close(ignored);
    return false;
  }
  if (backoff_.failures() > 0) log_->info("upstream reachable again");
  backoff_.succeeded();
  stats_.upstream_connects.add();
  return true;
}

void copy_reloadable(const settings& from, settings* to) {
  to->limits = from.limits;
  to->max_shared_request = from.max_shared_request;
  to->client_output_limit = from.client_output_limit;
  to->max_clients = from.max_clients;
  to->idle_timeout = from.idle_timeout;
  to->drain_timeout = from.drain_timeout;
  to->pget_defaults = from.pget_defaults;
}

void worker::reconfigure(const settings& fresh) {
  copy_reloadable(fresh, &config_);
  for (session* s : sessions_) s->on_reconfigured();
  if (config_.idle_timeout.count() > 0 && !sweeping_ && !draining_) sweep_idle();
}

bool worker::upstream_readonly() {
  stats_.upstream_readonly.add();
  if (config_.primary) config_.primary->suspect();
  // With Sentinel, the watch moves every connection once it has found the new primary.
  return config_.sentinels.empty();
}

void worker::on_primary_moved() {
  log_->info("the primary moved to {}: moving the upstream connections", upstream_text(config_));
  backoff_.succeeded();  // the old primary's failures say nothing of the new one
  for (auto& s : shared_) s->move();
  std::vector<session*> all(sessions_.begin(), sessions_.end());
  for (session* s : all) {
    const auto keep = s->shared_from_this();
    s->on_primary_moved();
  }
  if (wakes_) wakes_->move();
  if (tracking_) tracking_->drop("the primary moved");
}

void worker::sweep_idle() {
  sweeping_ = true;
  idle_sweep_.expires_after(std::chrono::seconds(1));
  idle_sweep_.async_wait([this](const boost::system::error_code& ec) {
    if (ec || config_.idle_timeout.count() == 0) {  // stopped, or turned off by a reload
      sweeping_ = false;
      return;
    }
    const auto now = std::chrono::steady_clock::now();
    std::vector<session*> all(sessions_.begin(), sessions_.end());
    for (session* s : all) {
      if (s->idle_for(now) >= config_.idle_timeout) {
        const auto keep = s->shared_from_this();
        stats_.error(metrics::error_kind::idle_timeout);
        s->log_client_error("idle timeout; connection closed");
        s->close("idle timeout");
      }
    }
    sweep_idle();
  });
}

void worker::drain() {
  draining_ = true;
  std::vector<session*> all(sessions_.begin(), sessions_.end());
  for (session* s : all) {
    const auto keep = s->shared_from_this();
    s->drain();
  }
}

void worker::close_all() {
  idle_sweep_.cancel();
  // close() may detach sessions; iterate over a copy.
  std::vector<session*> all(sessions_.begin(), sessions_.end());
  for (session* s : all) {
    const auto keep = s->shared_from_this();  // close() must not end the session under our feet
    s->close();
  }
  for (auto& s : shared_) s->close();
  wakes_->close();
  tracking_->close();
  if (mc_) mc_->close();
  if (shard_wakes_) shard_wakes_->close();
  if (cluster_) cluster_->close();
}

std::string worker::new_token() {
  std::string token(token_size, '0');
  new_token(token.data());
  return token;
}

void worker::new_token(char* out) {
  constexpr std::size_t bytes = token_size / 2;
  if (random_left_ < bytes) {
    std::size_t filled = 0;
    while (filled < sizeof random_pool_) {
      const ssize_t n = getrandom(random_pool_ + filled, sizeof random_pool_ - filled, 0);
      if (n > 0) filled += static_cast<std::size_t>(n);
    }
    random_left_ = sizeof random_pool_;
  }
  static const char* digits = "0123456789abcdef";
  const unsigned char* p = random_pool_ + sizeof random_pool_ - random_left_;
  for (std::size_t i = 0; i < bytes; ++i) {
    out[2 * i] = digits[p[i] >> 4];
    out[2 * i + 1] = digits[p[i] & 0xF];
  }
  random_left_ -= bytes;
}

double worker::xfetch_factor(double beta) {
  std::uniform_real_distribution<double> uniform(0.0, 1.0);
  const double u = 1.0 - uniform(rng_);  // (0, 1]
  return beta * -std::log(u);
}

}  // namespace puppy::server
