#include "puppy/server/upstream_start.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <memory>

#include "puppy/net/stream.hpp"
#include "puppy/resp/encode.hpp"
#include "puppy/resp/reply_scanner.hpp"
#include "puppy/server/io_util.hpp"
#include "puppy/server/worker.hpp"
#include "puppy/upstream/sentinel.hpp"

namespace puppy::server {
namespace asio = boost::asio;
using boost::system::error_code;
using detail::would_block;

std::string upstream_text(const settings& config) {
  const auto where = config.primary ? config.primary->current() : config.upstream;
  if (!where) return "no primary known";
  return where->host + ":" + std::to_string(where->port);
}

void async_connect_upstream(const settings& config, net::stream& s,
                            std::function<void(const error_code&)> done) {
  const auto where = config.primary ? config.primary->current() : config.upstream;
  if (!where) {
    asio::post(s.socket().get_executor(),
               [done = std::move(done)] { done(asio::error::host_not_found); });
    return;
  }
  // With require_primary the address is noted once ROLE says master (async_start_upstream).
  auto primary = config.require_primary ? nullptr : config.primary;
  const auto reached = [primary](const asio::ip::tcp::endpoint& ep) {
    if (primary) primary->reached(ep.address().to_string() + ":" + std::to_string(ep.port()));
  };
  error_code ec;
  const auto ip = asio::ip::make_address(where->host, ec);
  if (!ec) {
    const asio::ip::tcp::endpoint ep(ip, where->port);
    s.socket().async_connect(ep, [done = std::move(done), reached, ep](const error_code& e) {
      if (!e) reached(ep);
      done(e);
    });
    return;
  }
  // A name: resolved at every connection (a managed service's endpoint moves to the new
  // primary), then its addresses tried in turn. The resolve has a deadline of its own (the
  // caller's connect timeout only closes the socket, which does not end a resolve): done gets
  // timed_out then, and the late result is dropped.
  struct resolving {
    explicit resolving(const asio::ip::tcp::socket::executor_type& ex) : resolver(ex), timer(ex) {}
    asio::ip::tcp::resolver resolver;
    asio::steady_timer timer;
    std::function<void(const error_code&)> done;
  };
  auto op = std::make_shared<resolving>(s.socket().get_executor());
  op->done = std::move(done);
  op->timer.expires_after(config.connect_timeout);
  op->timer.async_wait([op](const error_code& e) {
    if (e || !op->done) return;
    op->resolver.cancel();
    std::exchange(op->done, nullptr)(asio::error::timed_out);
  });
  op->resolver.async_resolve(
      where->host, std::to_string(where->port),
      [op, &s, reached](const error_code& e, const asio::ip::tcp::resolver::results_type& results) {
        if (!op->done) return;  // timed out: `s` may be gone
        op->timer.cancel();
        auto done = std::exchange(op->done, nullptr);
        if (e) return done(e);
        asio::async_connect(s.socket(), results,
                            [done = std::move(done), reached](const error_code& ce,
                                                              const asio::ip::tcp::endpoint& ep) {
                              if (!ce) reached(ep);
                              done(ce);
                            });
      });
}

namespace {

constexpr std::size_t max_login_reply = 1024;  // a +OK or an error line; more is not Redis
// ROLE's reply: a master lists its replicas (some 40 bytes each).
constexpr std::size_t max_role_reply = 64 * 1024;
// Dead-peer detection on upstream connections (see prepare()).
constexpr int keepalive_idle_s = 15;
constexpr int keepalive_interval_s = 5;
constexpr int keepalive_probes = 3;

using resp::encode::bulk;

// One start-up, step by step, each step retried when the stream is ready (reactor style, as
// everywhere else, so that TLS and plain connections take the same path).
struct start_op : std::enable_shared_from_this<start_op> {
  using done_fn = std::function<void(const error_code&, const std::string&)>;
  net::stream& s;
  std::string auth;  // the login request, or empty
  bool require_primary;
  std::shared_ptr<upstream::primary> primary;  // told of the address once ROLE says master
  done_fn done;
  std::size_t written = 0;
  std::string reply;
  char buf[128];
  resp::reply_scanner role_scanner;

  start_op(net::stream& stream, std::string login, bool primary_only, done_fn d)
      : s(stream), auth(std::move(login)), require_primary(primary_only), done(std::move(d)) {}

  // Runs `step` again once the stream can make progress (for a write if `writing`), unless it
  // was closed meanwhile.
  void again(bool writing, void (start_op::*step)()) {
    auto resume = [self = shared_from_this(), step](const error_code& ec) {
      if (ec || !self->s.socket().is_open()) {
        const error_code why = ec ? ec : error_code(asio::error::operation_aborted);
        self->done(why, why.message());
        return;
      }
      ((*self).*step)();
    };
    if (writing) {
      s.async_wait_writable(std::move(resume));
    } else {
      s.async_wait_readable(std::move(resume));
    }
  }

  void handshake() {
    error_code ec;
    s.handshake(ec);
    if (would_block(ec)) return again(false, &start_op::handshake);
    if (ec) return done(ec, "TLS handshake failed: " + s.describe(ec));
    login();
  }

  // The first request: AUTH with credentials; else, on TLS, a PING. In TLS 1.3 the server
  // checks the client's certificate after the client's side of the handshake is done, so a
  // refusal (tls-auth-clients yes, no or a wrong certificate) only arrives with the first reply;
  // asking for one here reports it as the handshake failure it is, at connect. Plain and
  // without credentials nothing is sent (the connection is known to work once connected).
  void login() {
    probing = auth.empty();
    if (probing && !s.tls()) return check_role();
    if (wrote(probing ? ping : auth, &start_op::login)) read();
  }

  // Writes what is left of `request` (`written` bytes are out); false if `step` runs again once
  // the stream takes more, or the write failed.
  bool wrote(const std::string& request, void (start_op::*step)()) {
    while (written < request.size()) {
      error_code ec;
      written += s.write_some(asio::buffer(request.data() + written, request.size() - written), ec);
      if (would_block(ec)) {
        again(true, step);
        return false;
      }
      if (ec) {
        fail(why_write_failed(ec));
        return false;
      }
    }
    return true;
  }

  // Before the reply the upstream sends nothing else (no HELLO 3 yet, so no pushes), so
  // whatever arrives is that reply.
  void read() {
    for (;;) {
      error_code ec;
      const std::size_t n = s.read_some(asio::buffer(buf), ec);
      if (would_block(ec)) return again(false, &start_op::read);
      if (ec) return fail(ec);
      reply.append(buf, n);
      const auto end = reply.find("\r\n");
      if (end != std::string::npos) return on_reply(end);
      if (reply.size() > max_login_reply) {
        return done(asio::error::access_denied, "authentication failed: unexpected reply");
      }
    }
  }

  void on_reply(std::size_t end) {
    if (end + 2 != reply.size()) {
      return done(asio::error::access_denied, "authentication failed: unexpected reply");
    }
    // Any answer to PING shows a working connection (even -NOAUTH: clients may AUTH themselves).
    if (probing || reply == "+OK\r\n") return check_role();
    done(asio::error::access_denied, "authentication failed: " + reply.substr(1, reply.size() - 3));
  }

  // With require_primary: ROLE, and only a master will do (a managed endpoint's name may still
  // reach the demoted primary). The whole reply is read, so nothing of it is left for the
  // connection's user.
  void check_role() {
    if (!require_primary) return done({}, {});
    if (!asking_role) {
      asking_role = true;
      probing = false;
      written = 0;
      reply.clear();
    }
    if (wrote(role_request(), &start_op::check_role)) read_role();
  }

  void read_role() {
    for (;;) {
      error_code ec;
      const std::size_t n = s.read_some(asio::buffer(buf), ec);
      if (would_block(ec)) return again(false, &start_op::read_role);
      if (ec) return fail(ec);
      reply.append(buf, n);
      const auto r = role_scanner.scan(buf, n);
      if (r.status == resp::scan_status::error || reply.size() > max_role_reply ||
          (r.status == resp::scan_status::reply && r.consumed != n)) {
        return done(asio::error::access_denied, "ROLE check failed: unexpected reply");
      }
      if (r.status == resp::scan_status::reply) return on_role();
    }
  }

  void on_role() {
    const std::string role = upstream::sentinel::parse_role(reply);
    if (role == "master") {
      if (primary) primary->reached(peer());  // only now: a refused replica is not the primary
      return done({}, {});
    }
    if (role.empty()) {
      if (reply[0] != '-') {
        return done(asio::error::access_denied, "ROLE check failed: unexpected reply");
      }
      // An error line (the scanner ended the reply at its CRLF), bounded.
      const auto line = reply.substr(1, std::min(reply.size() - 3, std::size_t{200}));
      const bool noauth = line.rfind("NOAUTH", 0) == 0;
      return done(asio::error::access_denied,
                  "ROLE check failed: " + line +
                      (noauth ? " (the proxy must log in: --upstream-password)" : ""));
    }
    // (The role is the node's text: only known ones are repeated.)
    const char* what = role == "slave"      ? "a replica"
                       : role == "sentinel" ? "a sentinel"
                                            : "not a master";
    done(asio::error::connection_refused, "the node at " + peer() + " is " + what +
                                              ", not the primary (--upstream-require-primary)");
  }

  std::string peer() const {
    error_code ec;
    const auto ep = s.socket().remote_endpoint(ec);
    return ec ? std::string("?") : ep.address().to_string() + ":" + std::to_string(ep.port());
  }

  static const std::string& role_request() {
    static const std::string request = upstream::sentinel::ask_role();
    return request;
  }

  // A server that refuses the handshake at its end sends an alert and closes, and a RST for
  // the bytes it did not read may fail this side's next write first. The alert still waits
  // to be read, and says more than "connection reset".
  error_code why_write_failed(const error_code& ec) {
    if (!s.tls()) return ec;
    error_code alert;
    s.read_some(asio::buffer(buf), alert);
    return net::stream::is_tls_error(alert) ? alert : ec;
  }

  void fail(const error_code& ec) {
    const std::string what = ec == asio::error::eof ? "closed by the upstream" : s.describe(ec);
    if (asking_role)
      return done(ec, ec == asio::error::eof ? "closed during the ROLE check" : what);
    // The probe only finishes the handshake: whatever ends it is the handshake failing.
    if (probing || net::stream::is_tls_error(ec)) return done(ec, "TLS handshake failed: " + what);
    done(ec, ec == asio::error::eof ? "closed during login" : what);
  }

  bool probing = false;
  bool asking_role = false;
  static inline const std::string ping = "*1\r\n$4\r\nPING\r\n";
};

// Non-blocking (reactor style), no Nagle, and a vanished upstream host or a network partition
// ends the connection even when no reply is due (a client blocked in BLPOP 0 on its own
// connection): TCP keepalive probes while idle, and TCP_USER_TIMEOUT when sent bytes stay
// unacknowledged. A slow reply does neither.
void prepare(asio::ip::tcp::socket& socket, std::chrono::milliseconds user_timeout) {
  error_code ignored;
  socket.set_option(asio::ip::tcp::no_delay(true), ignored);
  socket.non_blocking(true, ignored);
  const int fd = socket.native_handle();
  const int on = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof on);
  ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &keepalive_idle_s, sizeof keepalive_idle_s);
  ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &keepalive_interval_s, sizeof keepalive_interval_s);
  ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &keepalive_probes, sizeof keepalive_probes);
  const auto ms = static_cast<unsigned>(user_timeout.count());
  if (ms > 0) ::setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &ms, sizeof ms);
}

}  // namespace

std::string login_request(const std::string& user, const std::string& password) {
  if (user.empty()) return "*2\r\n$4\r\nAUTH\r\n" + bulk(password);
  return "*3\r\n$4\r\nAUTH\r\n" + bulk(user) + bulk(password);
}

void async_start_upstream(const settings& config, net::stream& s,
                          std::function<void(const error_code&, const std::string&)> done) {
  prepare(s.socket(), config.response_timeout);
  auto op =
      std::make_shared<start_op>(s, config.upstream_login, config.require_primary, std::move(done));
  if (config.require_primary) op->primary = config.primary;
  if (const auto& tls = config.upstream_tls) {
    error_code ec;
    if (!s.connect_tls(*tls, ec)) {
      op->done(ec, "TLS set-up failed: " + s.describe(ec));
      return;
    }
    op->handshake();
    return;
  }
  op->login();
}

}  // namespace puppy::server
