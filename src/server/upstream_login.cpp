#include "puppy/server/upstream_login.hpp"

#include <boost/asio/write.hpp>
#include <memory>

namespace puppy::server {
namespace asio = boost::asio;
using boost::system::error_code;

namespace {

constexpr std::size_t max_login_reply = 1024;  // a +OK or an error line; more is not Redis

std::string bulk(const std::string& s) {
  return "$" + std::to_string(s.size()) + "\r\n" + s + "\r\n";
}

struct login_op : std::enable_shared_from_this<login_op> {
  asio::ip::tcp::socket& socket;
  std::function<void(const error_code&, const std::string&)> done;
  std::string reply;
  char buf[128];

  login_op(asio::ip::tcp::socket& s, std::function<void(const error_code&, const std::string&)> d)
      : socket(s), done(std::move(d)) {}

  // Before the AUTH reply the upstream sends nothing else (no HELLO 3 yet, so no pushes), so
  // whatever arrives is that reply.
  void read() {
    socket.async_read_some(
        asio::buffer(buf),
        [self = shared_from_this()](const error_code& ec, std::size_t n) { self->on_read(ec, n); });
  }

  void on_read(const error_code& ec, std::size_t n) {
    if (ec) {
      done(ec, ec == asio::error::eof ? "closed during login" : ec.message());
      return;
    }
    reply.append(buf, n);
    const auto end = reply.find("\r\n");
    if (end != std::string::npos) {
      if (end + 2 != reply.size()) {
        done(asio::error::access_denied, "authentication failed: unexpected reply");
        return;
      }
      if (reply == "+OK\r\n") {
        done({}, {});
      } else {
        const std::string text = reply.substr(1, reply.size() - 3);
        done(asio::error::access_denied, "authentication failed: " + text);
      }
      return;
    }
    if (reply.size() > max_login_reply) {
      done(asio::error::access_denied, "authentication failed: unexpected reply");
      return;
    }
    read();
  }
};

}  // namespace

std::string login_request(const std::string& user, const std::string& password) {
  if (user.empty()) return "*2\r\n$4\r\nAUTH\r\n" + bulk(password);
  return "*3\r\n$4\r\nAUTH\r\n" + bulk(user) + bulk(password);
}

void async_login(asio::ip::tcp::socket& socket, const std::string& request,
                 std::function<void(const error_code&, const std::string&)> done) {
  auto op = std::make_shared<login_op>(socket, std::move(done));
  asio::async_write(socket, asio::buffer(request), [op](const error_code& ec, std::size_t) {
    if (ec) {
      op->done(ec, ec.message());
      return;
    }
    op->read();
  });
}

}  // namespace puppy::server
