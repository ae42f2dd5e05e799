// A client's own upstream connection: connecting, the requests to write, the reply buffer.
#include "puppy/server/own_link.hpp"

#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "puppy/server/upstream_start.hpp"
#include "puppy/server/worker.hpp"

namespace puppy::server {
namespace asio = boost::asio;
using boost::system::error_code;
using tcp = asio::ip::tcp;

namespace {
constexpr std::size_t reply_buffer_size = 16 * 1024;  // what one read takes at most
}  // namespace

own_link::own_link(worker& owner)
    : owner_(owner),
      socket_(owner.context()),
      connect_timer_(owner.context()),
      in_(reply_buffer_size) {}

void own_link::connect(std::shared_ptr<void> keep, std::function<void(const error_code&)> done) {
  state_ = state::connecting;
  connect_error_.clear();
  connect_timer_.expires_after(owner_.config().connect_timeout);
  connect_timer_.async_wait([this, keep, attempt = ++attempt_](const error_code& e) {
    // (A completion queued before settle() cancelled it must not end a later attempt.)
    if (!e && state_ == state::connecting && attempt == attempt_) {
      connect_error_ = "timed out";
      error_code ignored;
      socket_.close(ignored);  // fails the step in progress
    }
  });
  async_connect_upstream(
      owner_.config(), socket_, [this, keep, done = std::move(done)](const error_code& e) mutable {
        if (e || state_ != state::connecting) {
          done(e ? e : asio::error::operation_aborted);
          return;
        }
        // TLS handshake and login, still under the connect timeout.
        async_start_upstream(
            owner_.config(), socket_,
            [this, keep, done = std::move(done)](const error_code& e2, const std::string& why) {
              if (e2 && connect_error_.empty()) connect_error_ = why;
              done(e2);
            });
      });
}

bool own_link::settle(const error_code& ec) {
  connect_timer_.cancel();
  if (!owner_.upstream_connected(ec, connect_error_, socket_)) {
    state_ = state::down;
    return false;
  }
  state_ = state::up;
  readable_ = true;
  scripts_loaded_ = false;
  return true;
}

void own_link::close_socket() {
  error_code ignored;
  socket_.close(ignored);
  connect_timer_.cancel();
}

void own_link::shutdown_send() {
  error_code ignored;
  socket_.shutdown(tcp::socket::shutdown_send, ignored);
}

void own_link::queue_copy(std::string_view bytes) {
  out_.push_back({nullptr, owned_.size(), bytes.size()});
  owned_ += bytes;
}

error_code own_link::write() {
  const auto ec = detail::write_pieces(socket_, out_, owned_.data(), &out_index_, &out_off_, iov_);
  if (ec) return ec;
  out_.clear();
  owned_.clear();
  out_index_ = out_off_ = 0;
  return {};
}

}  // namespace puppy::server
