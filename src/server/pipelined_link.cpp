// pipelined_link for its two protocols (explicit instantiations at the end), and the protocols.
#include "puppy/server/pipelined_link.hpp"

#include <spdlog/spdlog.h>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <type_traits>

#include "puppy/server/io_util.hpp"
#include "puppy/server/link_protocols.hpp"
#include "puppy/server/upstream_start.hpp"
#include "puppy/server/worker.hpp"

namespace puppy::server {
namespace asio = boost::asio;
using boost::system::error_code;
using tcp = asio::ip::tcp;

namespace {
constexpr std::size_t link_buffer_size = 64 * 1024;
}  // namespace

// ---- the protocols ------------------------------------------------------------------------------

link_parse memcached_protocol::parse(const char* data, std::size_t size, response* out) {
  const auto r = memcached::parse_response(data, size, max_value, out);
  switch (r.status) {
    case memcached::parse_status::complete:
      return {link_parse::status::complete, r.consumed};
    case memcached::parse_status::need_more:
      return {link_parse::status::need_more, 0};
    case memcached::parse_status::invalid:
      break;
  }
  return {link_parse::status::invalid, 0};
}

memcached_protocol::response memcached_protocol::unavailable(std::string_view why,
                                                             std::string* /*storage*/,
                                                             bool /*sent*/) {
  response r;
  r.what = memcached::code::unavailable;
  r.flags = why;
  return r;
}

void resp_protocol::reset() {
  scanner_.reset();
  scanned_ = 0;
}

link_parse resp_protocol::parse(const char* data, std::size_t size, response* out) {
  // The scanner keeps its place inside a reply across calls; each call starts at the reply's
  // first byte, so only what was not scanned yet is given to it.
  const auto r = scanner_.scan(data + scanned_, size - scanned_);
  scanned_ += r.consumed;
  switch (r.status) {
    case resp::scan_status::reply: {
      const std::size_t n = scanned_;
      scanned_ = 0;
      *out = std::string_view(data, n);
      return {link_parse::status::complete, n};
    }
    case resp::scan_status::need_more:
      return {link_parse::status::need_more, 0};
    case resp::scan_status::error:
      break;
  }
  return {link_parse::status::invalid, 0};
}

resp_protocol::response resp_protocol::unavailable(std::string_view why, std::string* storage,
                                                   bool sent) {
  *storage = std::string(sent ? lost_prefix : unavailable_prefix) + std::string(why) + ")\r\n";
  return *storage;
}

// ---- the link -----------------------------------------------------------------------------------

template <class Protocol>
pipelined_link<Protocol>::pipelined_link(worker& owner, upstream::host_port server, use how)
    : owner_(owner),
      server_(std::move(server)),
      use_(how),
      stream_(owner.context()),
      timer_(owner.context()),
      backoff_(owner.config().retry_min, owner.config().retry_max),
      in_(link_buffer_size),
      watchdog_(
          owner.context(),
          how == use::shared ? owner.config().response_timeout : std::chrono::milliseconds(0),
          [this] { return !waiting_.empty(); },
          [this] {
            fail(name() + " did not answer within " +
                     std::to_string(owner_.config().response_timeout.count()) + " ms",
                 metrics::error_kind::upstream_timeout);
          }) {}

template <class Protocol>
void pipelined_link<Protocol>::answer_unavailable(done_fn done, bool sent) {
  if (!done) {
    if (!listener_) return;
    done = listener_;
  }
  owner_.stats().error(metrics::error_kind::upstream_unavailable);
  if (node_stats_ != nullptr) node_stats_->errors.add();
  std::string why = backoff_.last_error();
  const auto wait = backoff_.remaining(std::chrono::steady_clock::now());
  if (use_ == use::shared && wait.count() > 0)
    why += "; next attempt in " + std::to_string(wait.count()) + " ms";
  asio::post(owner_.context(), [done = std::move(done), why = std::move(why), sent] {
    std::string storage;
    done(Protocol::unavailable(why, &storage, sent));
  });
}

template <class Protocol>
bool pipelined_link<Protocol>::down() const {
  return state_ == state::down &&
         (use_ == use::own || !backoff_.may_attempt(std::chrono::steady_clock::now()));
}

template <class Protocol>
void pipelined_link<Protocol>::send(std::string_view bytes, done_fn done) {
  if (state_ == state::down && use_ == use::shared &&
      backoff_.may_attempt(std::chrono::steady_clock::now())) {
    state_ = state::idle;
  }
  if (state_ == state::down) {
    answer_unavailable(std::move(done), false);
    return;
  }
  if (node_stats_ != nullptr) node_stats_->requests.add();
  out_.append(bytes);
  if (state_ == state::up) {
    if (!listener_) {
      watchdog_.sent(waiting_.empty());
      waiting_.push_back(std::move(done));
      rtt_.on_sent(++sent_);
    }
    if (!write_scheduled_) {
      write_scheduled_ = true;  // one write per turn for everything queued meanwhile
      asio::post(owner_.context(), [this, gen = generation_] {
        write_scheduled_ = false;
        if (gen == generation_) flush();
      });
    }
    return;
  }
  if (!listener_) queued_.push_back(std::move(done));
  if (state_ == state::idle) connect();
}

template <class Protocol>
void pipelined_link<Protocol>::connect() {
  state_ = state::connecting;
  connect_error_.clear();
  const auto gen = ++generation_;
  error_code ec;
  const auto ip = asio::ip::make_address(server_.host, ec);
  timer_.expires_after(owner_.config().connect_timeout);
  timer_.async_wait([this, gen](const error_code& e) {
    if (!e && gen == generation_ && state_ == state::connecting) {
      connect_error_ = "timed out";
      error_code ignored;
      stream_.close(ignored);
    }
  });
  stream_.socket().async_connect(tcp::endpoint(ip, server_.port), [this, gen](const error_code& e) {
    if (gen != generation_) return;
    if (e) {
      on_connected(e);
      return;
    }
    if (!Protocol::redis_login) {
      error_code ignored;
      stream_.socket().non_blocking(true, ignored);
      stream_.socket().set_option(tcp::no_delay(true), ignored);
      on_connected(e);
      return;
    }
    // A Redis node: TLS and the proxy's login, as on every Redis upstream connection.
    async_start_upstream(owner_.config(), stream_,
                         [this, gen](const error_code& ec, const std::string& why) {
                           if (gen != generation_) return;
                           if (ec && connect_error_.empty()) connect_error_ = why;
                           on_connected(ec);
                         });
  });
}

template <class Protocol>
void pipelined_link<Protocol>::on_connected(const error_code& ec) {
  timer_.cancel();
  if (ec) {
    owner_.stats().upstream_connect_failures.add();
    fail("connect to " + name() +
         " failed: " + (connect_error_.empty() ? ec.message() : connect_error_));
    return;
  }
  if (backoff_.failures() > 0) owner_.log().info("{} {} reachable again", Protocol::what, name());
  backoff_.succeeded();
  owner_.stats().upstream_connects.add();
  state_ = state::up;
  protocol_.reset();
  if (!greeting_.empty()) {
    out_.insert(0, greeting_);
    skip_ = greetings_;
  }
  if (!queued_.empty()) watchdog_.sent(true);
  sent_ = replied_ = 0;
  rtt_.reset();
  while (!queued_.empty()) {
    waiting_.push_back(std::move(queued_.front()));
    queued_.pop_front();
    rtt_.on_sent(++sent_);
  }
  flush();
  read();
}

template <class Protocol>
void pipelined_link<Protocol>::flush() {
  if (state_ != state::up || write_waiting_) return;
  for (;;) {
    if (written_ == writing_.size()) {
      if (out_.empty()) return;
      writing_.clear();
      written_ = 0;
      writing_.swap(out_);
    }
    error_code ec;
    const std::size_t n = stream_.write_some(
        asio::buffer(writing_.data() + written_, writing_.size() - written_), ec);
    written_ += n;
    if (detail::would_block(ec)) {
      write_waiting_ = true;
      stream_.async_wait_writable([this, gen = generation_](const error_code& e) {
        if (gen != generation_) return;
        write_waiting_ = false;
        if (e) {
          fail("write to " + name() + " failed: " + e.message());
          return;
        }
        flush();
      });
      return;
    }
    if (ec) {
      fail("write to " + name() + " failed: " + stream_.describe(ec));
      return;
    }
  }
}

template <class Protocol>
void pipelined_link<Protocol>::read() {
  const auto gen = generation_;
  for (int turn = 0; turn < detail::max_read_turns; ++turn) {
    in_.reserve(link_buffer_size / 4);
    error_code ec;
    const std::size_t free = in_.free();
    const std::size_t n = stream_.read_some(asio::buffer(in_.end(), free), ec);
    if (detail::would_block(ec)) break;
    if (ec) {
      fail(name() +
           (ec == asio::error::eof ? " closed the connection" : ": " + stream_.describe(ec)));
      return;
    }
    in_.commit(n);
    watchdog_.replied();  // once per read (a read that completes nothing is progress too)
    std::size_t pos = 0;
    for (;;) {
      response r;
      const auto res = protocol_.parse(in_.data() + pos, in_.size() - pos, &r);
      if (res.what == link_parse::status::need_more) break;
      if (res.what == link_parse::status::invalid ||
          (waiting_.empty() && !listener_ && skip_ == 0)) {
        fail("upstream protocol fault: " + name() + " sent an invalid response",
             metrics::error_kind::upstream_protocol);
        return;
      }
      pos += res.consumed;
      if (skip_ > 0) {  // a reply to the greeting
        --skip_;
        if constexpr (std::is_same_v<response, std::string_view>) {
          if (!r.empty() && r[0] == '-') {
            fail(name() + " refused the connection's greeting (HELLO 3, READONLY): " +
                     std::string(r.substr(1, r.size() - 3)),
                 metrics::error_kind::upstream_protocol);
            return;
          }
        }
        continue;
      }
      if (listener_) {
        listener_(r);  // may send more, or close the link: never touches in_
        if (gen != generation_) return;
        continue;
      }
      done_fn done = std::move(waiting_.front());
      waiting_.pop_front();
      ++replied_;
      if (done) done(r);  // may send more: appends to out_, never touches in_
      if (gen != generation_) return;
    }
    rtt_.on_replied(replied_, owner_.stats().upstream_latency);
    in_.consume(pos);
    if (n < free) break;  // a short read: the socket is drained (net::stream's promise)
  }
  stream_.async_wait_readable([this, gen](const error_code& e) {
    if (gen != generation_) return;
    if (e) {
      fail(name() + ": " + e.message());
      return;
    }
    read();
  });
}

template <class Protocol>
void pipelined_link<Protocol>::fail(const std::string& why, metrics::error_kind kind) {
  if (state_ == state::up) owner_.stats().error(kind);
  ++generation_;
  watchdog_.stop();
  error_code ignored;
  stream_.close(ignored);
  timer_.cancel();
  backoff_.failed(std::chrono::steady_clock::now(), why);
  if (backoff_.failures() == 1 && use_ == use::shared) {  // a client's own: its client is told
    owner_.log().warn("{} unavailable: {}", Protocol::what, why);
  } else {
    owner_.log().debug("{} unavailable: {}", Protocol::what, why);
  }
  state_ = state::down;
  out_.clear();
  writing_.clear();
  written_ = 0;
  write_scheduled_ = false;
  write_waiting_ = false;
  in_.consume(in_.size());
  protocol_.reset();
  std::deque<done_fn> lost;
  lost.swap(waiting_);
  std::deque<done_fn> unsent;
  unsent.swap(queued_);
  for (auto& d : lost) answer_unavailable(std::move(d), true);
  for (auto& d : unsent) answer_unavailable(std::move(d), false);
  if (listener_) answer_unavailable(nullptr, true);
}

template <class Protocol>
void pipelined_link<Protocol>::close() {
  ++generation_;
  watchdog_.stop();
  error_code ignored;
  stream_.close(ignored);
  timer_.cancel();
  waiting_.clear();
  queued_.clear();
  listener_ = nullptr;
  state_ = state::idle;
}

template class pipelined_link<memcached_protocol>;
template class pipelined_link<resp_protocol>;

}  // namespace puppy::server
