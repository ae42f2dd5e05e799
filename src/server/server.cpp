#include "puppy/server/server.hpp"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <csignal>
#include <thread>

namespace puppy::server {
namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {
constexpr int listen_backlog = 511;  // Redis's tcp-backlog default
}

server::server(const settings& config, unsigned threads, const tcp::endpoint& listen,
               std::shared_ptr<spdlog::logger> log)
    : config_(config),
      log_(std::move(log)),
      workers_([&] {
        std::vector<std::unique_ptr<worker>> w;
        for (unsigned i = 0; i < threads; ++i)
          w.push_back(std::make_unique<worker>(i, config_, log_));
        return w;
      }()),
      acceptor_(workers_.front()->context()),
      signals_(workers_.front()->context(), SIGINT, SIGTERM),
      accept_retry_(workers_.front()->context()) {
  acceptor_.open(listen.protocol());
  acceptor_.set_option(tcp::acceptor::reuse_address(true));
  acceptor_.bind(listen);
  acceptor_.listen(listen_backlog);
}

server::~server() = default;

void server::run() {
  signals_.async_wait([this](const boost::system::error_code& ec, int signo) {
    if (ec) return;
    log_->info("received {}, shutting down", signo == SIGINT ? "SIGINT" : "SIGTERM");
    do_stop();
  });
  accept();

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
  boost::system::error_code ignored;
  acceptor_.close(ignored);
  signals_.cancel(ignored);
  accept_retry_.cancel();
  workers_.front()->close_all();
}

void server::accept() {
  if (stopping_) return;
  acceptor_.async_accept([this](const boost::system::error_code& ec, tcp::socket client) {
    if (stopping_ || ec == asio::error::operation_aborted) return;
    if (ec) {
      // Out of descriptors or a transient error: keep the listener, try again shortly.
      log_->warn("accept failed: {}", ec.message());
      accept_retry_.expires_after(std::chrono::milliseconds(100));
      accept_retry_.async_wait([this](const boost::system::error_code& e) {
        if (!e) accept();
      });
      return;
    }
    worker& target = *workers_[next_worker_];
    next_worker_ = (next_worker_ + 1) % workers_.size();
    boost::system::error_code ignored;
    const auto protocol = acceptor_.local_endpoint(ignored).protocol();
    const auto fd = client.release(ignored);
    if (&target == workers_.front().get()) {
      target.start_session(fd, protocol);
    } else {
      asio::post(target.context(), [&target, fd, protocol] { target.start_session(fd, protocol); });
    }
    accept();
  });
}

}  // namespace puppy::server
