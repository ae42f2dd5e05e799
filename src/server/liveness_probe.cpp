#include "puppy/server/liveness_probe.hpp"

#include <boost/asio/ip/address.hpp>

#include "puppy/server/io_util.hpp"
#include "puppy/server/upstream_start.hpp"

namespace puppy::server {
namespace asio = boost::asio;
using boost::system::error_code;
using tcp = asio::ip::tcp;

namespace {
constexpr std::size_t max_probe_reply = 1024;  // one status or error line
const std::string probe_ping = "*1\r\n$4\r\nPING\r\n";
}  // namespace

liveness_probe::liveness_probe(asio::io_context& ioc, const settings& config)
    : socket_(ioc), deadline_(ioc), limit_(config.connect_timeout) {
  start_.upstream = config.upstream;
  start_.primary = config.primary;
  start_.upstream_tls = config.upstream_tls;  // no login: any reply to PING will do
  start_.response_timeout = config.response_timeout;
}

void liveness_probe::start(std::function<void(bool, const std::string&)> done) {
  done_ = std::move(done);
  deadline_.expires_after(limit_);
  deadline_.async_wait([self = shared_from_this()](const error_code& ec) {
    if (!ec)
      self->finish(false, "no answer to a new connection's PING within " +
                              std::to_string(self->limit_.count()) + " ms");
  });
  async_connect_upstream(start_, socket_, [self = shared_from_this()](const error_code& e) {
    if (self->finished_) return;
    if (e) return self->finish(false, "connect failed: " + e.message());
    async_start_upstream(self->start_, self->socket_,
                         [self](const error_code& se, const std::string& why) {
                           if (self->finished_) return;
                           if (se) return self->finish(false, why);
                           self->on_started();
                         });
  });
}

void liveness_probe::on_started() {
  write();
}

void liveness_probe::again(bool writing, void (liveness_probe::*step)()) {
  auto resume = [self = shared_from_this(), step](const error_code& ec) {
    if (self->finished_) return;
    if (ec) return self->finish(false, ec.message());
    ((*self).*step)();
  };
  if (writing) {
    socket_.async_wait_writable(std::move(resume));
  } else {
    socket_.async_wait_readable(std::move(resume));
  }
}

void liveness_probe::write() {
  while (written_ < probe_ping.size()) {
    error_code ec;
    written_ += socket_.write_some(
        asio::buffer(probe_ping.data() + written_, probe_ping.size() - written_), ec);
    if (detail::would_block(ec)) return again(true, &liveness_probe::write);
    if (ec) return finish(false, "write failed: " + socket_.describe(ec));
  }
  read();
}

void liveness_probe::read() {
  for (;;) {
    error_code ec;
    const std::size_t n = socket_.read_some(asio::buffer(buf_), ec);
    if (detail::would_block(ec)) return again(false, &liveness_probe::read);
    if (ec) return finish(false, "read failed: " + socket_.describe(ec));
    reply_.append(buf_, n);
    if (reply_.find("\r\n") != std::string::npos) return finish(true, {});
    if (reply_.size() > max_probe_reply) return finish(false, "not a reply to PING");
  }
}

void liveness_probe::finish(bool alive, const std::string& why) {
  if (finished_) return;
  finished_ = true;
  deadline_.cancel();
  error_code ignored;
  socket_.close(ignored);
  auto done = std::move(done_);
  done_ = nullptr;
  if (done) done(alive, why);
}

void liveness_probe::cancel() {
  done_ = nullptr;
  finish(false, {});
}

}  // namespace puppy::server
