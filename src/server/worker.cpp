#include "puppy/server/worker.hpp"

#include <unistd.h>
#include <vector>

#include "puppy/server/session.hpp"
#include "puppy/server/shared_upstream.hpp"

namespace puppy::server {

worker::worker(unsigned id, const settings& config, std::shared_ptr<spdlog::logger> log)
    : id_(id), config_(config), log_(std::move(log)), backoff_(config.retry_min, config.retry_max) {
  for (unsigned i = 0; i < config.shared_connections; ++i) {
    shared_.push_back(std::make_unique<shared_upstream>(*this));
  }
}

worker::~worker() = default;

void worker::start_session(boost::asio::ip::tcp::socket::native_handle_type fd,
                           boost::asio::ip::tcp protocol) {
  boost::system::error_code ec;
  boost::asio::ip::tcp::socket client(ioc_);
  client.assign(protocol, fd, ec);
  if (ec) {
    ::close(fd);
    log_->warn("cannot take an accepted connection: {}", ec.message());
    return;
  }
  shared_upstream* shared = nullptr;
  if (!shared_.empty()) {
    shared = shared_[next_shared_].get();
    next_shared_ = (next_shared_ + 1) % shared_.size();
  }
  std::make_shared<session>(*this, std::move(client), shared)->start();
}

void worker::close_all() {
  // close() may detach sessions; iterate over a copy.
  std::vector<session*> all(sessions_.begin(), sessions_.end());
  for (session* s : all) {
    const auto keep = s->shared_from_this();  // close() must not end the session under our feet
    s->close();
  }
  for (auto& s : shared_) s->close();
}

}  // namespace puppy::server
