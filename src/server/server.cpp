#include "puppy/server/server.hpp"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <csignal>
#include <thread>

#include "puppy/server/sentinel_watch.hpp"

namespace puppy::server {
namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {
constexpr int listen_backlog = 511;  // Redis's tcp-backlog default
}

namespace {
void open_listener(tcp::acceptor& acceptor, const tcp::endpoint& at) {
  acceptor.open(at.protocol());
  acceptor.set_option(tcp::acceptor::reuse_address(true));
  acceptor.bind(at);
  acceptor.listen(listen_backlog);
}
}  // namespace

server::server(const settings& config, unsigned threads, const tcp::endpoint& listen,
               const std::optional<tcp::endpoint>& tls_listen, std::shared_ptr<spdlog::logger> log)
    : config_(config),
      log_(std::move(log)),
      workers_([&] {
        std::vector<std::unique_ptr<worker>> w;
        for (unsigned i = 0; i < threads; ++i)
          w.push_back(std::make_unique<worker>(i, config_, log_, clients_));
        return w;
      }()),
      plain_(workers_.front()->context(), false),
      tls_(workers_.front()->context(), true),
      signals_(workers_.front()->context(), SIGINT, SIGTERM),
      hangup_(workers_.front()->context(), SIGHUP),
      drain_timer_(workers_.front()->context()) {
  for (auto& w : workers_) {
    w->stats_text = [this] { return metrics::render_prometheus(collect()); };
  }
  open_listener(plain_.acceptor, listen);
  if (tls_listen) open_listener(tls_.acceptor, *tls_listen);
  if (!config_.sentinels.empty() && config_.primary) {
    sentinel_watch::options o;
    o.sentinels = config_.sentinels;
    o.master_name = config_.sentinel_master;
    o.sentinel_login = config_.sentinel_login;
    o.retry = std::max(config_.retry_min, std::chrono::milliseconds(100));
    o.learn = !config_.upstream_tls;
    sentinel_ = std::make_unique<sentinel_watch>(
        workers_.front()->context(), config_, std::move(o), config_.primary, *log_, [this] {
          for (auto& w : workers_) {
            worker* target = w.get();
            asio::post(target->context(), [target] { target->on_primary_moved(); });
          }
        });
    config_.primary->on_suspect([watch = sentinel_.get()] { watch->suspect(); });
  }
}

std::optional<tcp::endpoint> server::tls_local_endpoint() const {
  if (!tls_.acceptor.is_open()) return std::nullopt;
  return tls_.acceptor.local_endpoint();
}

server::~server() {
  if (config_.primary) config_.primary->on_suspect(nullptr);
}

void server::run() {
  signals_.async_wait([this](const boost::system::error_code& ec, int signo) {
    if (ec) return;
    log_->info("received {}, shutting down", signo == SIGINT ? "SIGINT" : "SIGTERM");
    do_stop();
  });
  watch_hangup();
  if (sentinel_) sentinel_->start();
  accept(plain_);
  if (tls_.acceptor.is_open()) accept(tls_);

  using guard = asio::executor_work_guard<asio::io_context::executor_type>;
  std::vector<guard> guards;
  for (auto& w : workers_) guards.emplace_back(w->context().get_executor());
  std::vector<std::thread> threads;
  for (std::size_t i = 1; i < workers_.size(); ++i) {
    threads.emplace_back([this, i] { workers_[i]->context().run(); });
  }
  // Worker 0 also owns the acceptor and the signals. Once it stops, the others are told to.
  asio::post(workers_.front()->context(), [&guards] { guards.front().reset(); });
  workers_.front()->context().run();
  for (std::size_t i = 1; i < workers_.size(); ++i) {
    asio::post(workers_[i]->context(), [this, i, &guards] {
      guards[i].reset();
      workers_[i]->close_all();
    });
  }
  for (auto& t : threads) t.join();
}

void server::stop() {
  asio::post(workers_.front()->context(), [this] { do_stop(); });
}

void server::do_stop() {
  if (stopping_) return;
  stopping_ = true;
  draining_ = true;
  boost::system::error_code ignored;
  for (listener* l : {&plain_, &tls_}) {
    l->acceptor.close(ignored);
    l->retry.cancel();
  }
  signals_.cancel(ignored);
  hangup_.cancel(ignored);
  if (sentinel_) sentinel_->stop();
  // Sessions stop reading and close once their in-flight replies are out; whatever is left at
  // the deadline (a blocked BLPOP, a subscriber) is closed then.
  for (auto& w : workers_) {
    worker* target = w.get();
    asio::post(target->context(), [target] { target->drain(); });
  }
  drain_deadline_ = std::chrono::steady_clock::now() + config_.drain_timeout;
  watch_drain();
}

void server::watch_drain() {
  if (clients_.load() == 0 || std::chrono::steady_clock::now() >= drain_deadline_) {
    if (clients_.load() > 0) log_->info("drain timeout: closing {} clients", clients_.load());
    close_everything();
    return;
  }
  drain_timer_.expires_after(std::chrono::milliseconds(10));
  drain_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (!ec) watch_drain();
  });
}

void server::close_everything() {
  for (std::size_t i = 1; i < workers_.size(); ++i) {
    worker* target = workers_[i].get();
    asio::post(target->context(), [target] { target->close_all(); });
  }
  workers_.front()->close_all();
}

void server::refuse(tcp::socket& client, bool tls) {
  // As Redis does at maxclients: say why, then close (a best-effort write, never blocking). A
  // TLS client is only closed: the reply would need a handshake first, for a client turned away.
  static constexpr char reply[] = "-ERR max number of clients reached\r\n";
  boost::system::error_code ignored;
  client.non_blocking(true, ignored);
  if (!tls) client.write_some(asio::buffer(reply, sizeof reply - 1), ignored);
  client.close(ignored);
}

void server::accept(listener& l) {
  if (stopping_) return;
  l.acceptor.async_accept([this, &l](const boost::system::error_code& ec, tcp::socket client) {
    if (stopping_ || ec == asio::error::operation_aborted) return;
    if (ec) {
      // Out of descriptors or a transient error: keep the listener, try again shortly.
      log_->warn("accept failed: {}", ec.message());
      l.retry.expires_after(std::chrono::milliseconds(100));
      l.retry.async_wait([this, &l](const boost::system::error_code& e) {
        if (!e) accept(l);
      });
      return;
    }
    if (config_.max_clients > 0 && clients_.load() >= config_.max_clients) {
      refused_.add();
      log_->debug("max number of clients reached ({}); connection refused", config_.max_clients);
      refuse(client, l.tls);
      accept(l);
      return;
    }
    ++clients_;
    accepted_.add();
    worker& target = *workers_[next_worker_];
    next_worker_ = (next_worker_ + 1) % workers_.size();
    boost::system::error_code ignored;
    const auto protocol = l.acceptor.local_endpoint(ignored).protocol();
    const auto fd = client.release(ignored);
    const bool tls = l.tls;
    if (&target == workers_.front().get()) {
      target.start_session(fd, protocol, tls);
    } else {
      asio::post(target.context(),
                 [&target, fd, protocol, tls] { target.start_session(fd, protocol, tls); });
    }
    accept(l);
  });
}

void server::watch_hangup() {
  hangup_.async_wait([this](const boost::system::error_code& ec, int) {
    if (ec || stopping_) return;
    log_->info("received SIGHUP, reloading the configuration");
    if (sighup_hook_) sighup_hook_();
    watch_hangup();
  });
}

void server::reload(const settings& fresh) {
  asio::post(workers_.front()->context(), [this, fresh] {
    copy_reloadable(fresh, &config_);  // max_clients and drain_timeout are read on this thread
    for (auto& w : workers_) {
      worker* target = w.get();
      asio::post(target->context(), [target, fresh] { target->reconfigure(fresh); });
    }
  });
}

metrics::snapshot server::collect() const {
  metrics::snapshot s;
  s.version = PUPPY_VERSION;
  s.threads = static_cast<unsigned>(workers_.size());
  s.uptime_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
  s.connections_current = clients_.load(std::memory_order_relaxed);
  s.connections_total = accepted_.value();
  s.connections_rejected = refused_.value();
  for (const auto& w : workers_) s.add(w->stats());
  if (!workers_.empty()) {
    s.near_budget = workers_.front()->config().near_cache_budget * workers_.size();
    s.cluster = workers_.front()->config().cluster;
  }
  s.upstream_up = upstream_up();
  if (config_.primary) {
    s.has_primary = true;
    s.primary_moves = config_.primary->moves();
    s.primary = config_.primary->address();
  }
  s.draining = draining();
  return s;
}

}  // namespace puppy::server
