#include "puppy/admin/http_server.hpp"

#include <spdlog/spdlog.h>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <optional>

namespace puppy::admin {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using boost::system::error_code;

reply answer(std::string_view method, std::string_view target, const routes& r) {
  const std::string_view path = target.substr(0, target.find('?'));
  reply out;
  if (path != "/metrics" && path != "/healthz" && path != "/readyz") {
    out.status = 404;
    out.body = "not found; try /metrics, /healthz or /readyz\n";
    return out;
  }
  if (method != "GET" && method != "HEAD") {
    out.status = 405;
    out.body = "method not allowed\n";
    out.allow_header = true;
    return out;
  }
  if (path == "/metrics") {
    out.content_type = "text/plain; version=0.0.4; charset=utf-8";
    out.body = r.metrics ? r.metrics() : std::string();
  } else if (path == "/healthz") {
    out.body = "ok\n";
  } else {
    const std::string why = r.not_ready ? r.not_ready() : std::string();
    if (why.empty()) {
      out.body = "ready\n";
    } else {
      out.status = 503;
      out.body = "not ready: " + why + "\n";
    }
  }
  return out;
}

// One HTTP connection: requests answered one after another (keep-alive), each bounded in size
// and time.
class http_server::connection : public std::enable_shared_from_this<connection> {
 public:
  connection(tcp::socket socket, const routes& r, std::shared_ptr<std::size_t> open)
      : stream_(std::move(socket)), routes_(r), open_(std::move(open)) {
    ++*open_;
  }
  ~connection() { --*open_; }

  void read() {
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(max_header_bytes));
    parser_->body_limit(0);
    stream_.expires_after(std::chrono::seconds(idle_seconds));
    http::async_read(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](const error_code& ec, std::size_t) { self->on_read(ec); });
  }

 private:
  void on_read(const error_code& ec) {
    if (ec) {
      error_code ignored;
      stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
      return;  // closed, timed out or not HTTP: nothing to answer
    }
    const auto& req = parser_->get();
    const auto method = req.method_string();
    const auto target = req.target();
    const reply r = answer(std::string_view(method.data(), method.size()),
                           std::string_view(target.data(), target.size()), routes_);
    response_ = {};
    response_.version(req.version());
    response_.result(r.status);
    response_.set(http::field::server, "puppy-proxy");
    response_.set(http::field::content_type, r.content_type);
    response_.set(http::field::cache_control, "no-store");
    if (r.allow_header) response_.set(http::field::allow, "GET, HEAD");
    response_.keep_alive(req.keep_alive());
    response_.body() = r.body;
    response_.prepare_payload();
    if (req.method() == http::verb::head) response_.body().clear();  // Content-Length stays
    http::async_write(
        stream_, response_,
        [self = shared_from_this()](const error_code& e, std::size_t) { self->on_write(e); });
  }

  void on_write(const error_code& ec) {
    if (ec) return;
    if (!response_.keep_alive()) {
      error_code ignored;
      stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
      return;
    }
    read();
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::empty_body>> parser_;
  http::response<http::string_body> response_;
  const routes& routes_;
  std::shared_ptr<std::size_t> open_;
};

http_server::http_server(asio::io_context& ioc, const tcp::endpoint& listen, routes r,
                         std::shared_ptr<spdlog::logger> log)
    : ioc_(ioc),
      acceptor_(ioc),
      routes_(std::move(r)),
      log_(std::move(log)),
      open_(std::make_shared<std::size_t>(0)) {
  acceptor_.open(listen.protocol());
  acceptor_.set_option(tcp::acceptor::reuse_address(true));
  acceptor_.bind(listen);
  acceptor_.listen();
}

http_server::~http_server() = default;

tcp::endpoint http_server::local_endpoint() const {
  return acceptor_.local_endpoint();
}

void http_server::start() {
  accept();
}

void http_server::stop() {
  error_code ignored;
  acceptor_.close(ignored);
}

void http_server::accept() {
  acceptor_.async_accept(ioc_, [this](const error_code& ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted) return;
    if (ec) {
      log_->warn("admin listener: accept failed: {}", ec.message());
    } else if (*open_ >= max_connections) {
      error_code ignored;
      socket.close(ignored);  // a scraper storm must not take memory or descriptors
    } else {
      std::make_shared<connection>(std::move(socket), routes_, open_)->read();
    }
    if (acceptor_.is_open()) accept();
  });
}

}  // namespace puppy::admin
