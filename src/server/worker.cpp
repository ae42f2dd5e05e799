#include "puppy/server/worker.hpp"

#include <vector>

#include "puppy/server/session.hpp"

namespace puppy::server {

worker::worker(unsigned id, const settings& config, std::shared_ptr<spdlog::logger> log)
    : id_(id),
      config_(config),
      log_(std::move(log)),
      backoff_(config.retry_min, config.retry_max) {}

void worker::start_session(boost::asio::ip::tcp::socket client) {
  std::make_shared<session>(*this, std::move(client))->start();
}

void worker::close_all() {
  // close() may detach sessions; iterate over a copy.
  std::vector<session*> all(sessions_.begin(), sessions_.end());
  for (session* s : all) {
    const auto keep = s->shared_from_this();  // close() must not end the session under our feet
    s->close();
  }
}

}  // namespace puppy::server
