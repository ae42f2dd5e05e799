#include "puppy/server/wake_hub.hpp"

#include <spdlog/spdlog.h>
#include <algorithm>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/post.hpp>

#include "puppy/server/io_util.hpp"
#include "puppy/server/upstream_start.hpp"
#include "puppy/server/worker.hpp"

namespace puppy::server {
namespace asio = boost::asio;
using boost::system::error_code;
using tcp = asio::ip::tcp;

namespace {

constexpr std::size_t hub_buffer_size = 16 * 1024;

// Reads the bulk strings of a RESP2/RESP3 array or push of bulk strings; false if it is not one.
bool bulk_strings(std::string_view in, std::vector<std::string_view>* out) {
  std::size_t pos = 0;
  const auto number = [&](long long* v) {
    const auto cr = in.find("\r\n", pos);
    if (cr == std::string_view::npos) return false;
    *v = std::atoll(std::string(in.substr(pos, cr - pos)).c_str());
    pos = cr + 2;
    return true;
  };
  if (in.empty() || (in[0] != '*' && in[0] != '>')) return false;
  ++pos;
  long long count = 0;
  if (!number(&count)) return false;
  for (long long i = 0; i < count; ++i) {
    if (pos >= in.size()) return false;
    const char t = in[pos++];
    long long len = 0;
    if (!number(&len)) return false;
    if (t != '$') continue;  // the subscription count
    if (len < 0 || pos + static_cast<std::size_t>(len) + 2 > in.size()) return false;
    out->push_back(in.substr(pos, static_cast<std::size_t>(len)));
    pos += static_cast<std::size_t>(len) + 2;
  }
  return true;
}

}  // namespace

wake_hub::wake_hub(worker& owner)
    : owner_(owner),
      socket_(owner.context()),
      timer_(owner.context()),
      reader_(hub_buffer_size, resp::default_max_reply_depth) {}

void wake_hub::add(const std::string& key, const std::shared_ptr<wake_listener>& w) {
  waiters_.add(key, w);
  if (state_ == state::idle) connect();
}

void wake_hub::connect() {
  state_ = state::connecting;
  const auto gen = ++generation_;
  async_connect_upstream(owner_.config(), socket_, [this, gen](const error_code& e) {
    if (gen == generation_) on_connected(e);
  });
  timer_.expires_after(owner_.config().connect_timeout);
  timer_.async_wait([this, gen](const error_code& e) {
    if (!e && gen == generation_ && state_ == state::connecting) lost("connect timed out");
  });
}

void wake_hub::on_connected(const error_code& ec) {
  if (ec) {
    on_ready(ec, "connect failed: " + ec.message());
    return;
  }
  async_start_upstream(owner_.config(), socket_,
                       [this, gen = generation_](const error_code& e, const std::string& why) {
                         if (gen == generation_) on_ready(e, why);
                       });
}

void wake_hub::on_ready(const error_code& ec, const std::string& why) {
  timer_.cancel();
  if (ec) {
    lost(why);
    return;
  }
  state_ = state::subscribing;
  reader_.reset();
  const std::string& channel = owner_.config().pget_keys.wake_channel;
  out_ = "*2\r\n$9\r\nSUBSCRIBE\r\n$" + std::to_string(channel.size()) + "\r\n" + channel + "\r\n";
  const auto gen = generation_;
  write();
  if (gen == generation_) read();  // unless the write failed
}

void wake_hub::write() {
  // Reactor style, like every connection: try at once, wait only when the stream says so.
  while (!out_.empty()) {
    error_code ec;
    const std::size_t n = socket_.write_some(asio::buffer(out_), ec);
    if (detail::would_block(ec)) {
      socket_.async_wait_writable([this, gen = generation_](const error_code& e) {
        if (gen != generation_) return;
        if (e) {
          lost("write failed: " + e.message());
          return;
        }
        write();
      });
      return;
    }
    if (ec) {
      lost("write failed: " + socket_.describe(ec));
      return;
    }
    out_.erase(0, n);
  }
}

void wake_hub::read() {
  const auto gen = generation_;
  error_code ec;
  const auto ended = reader_.read(
      socket_,
      [this, gen](std::string_view reply, bool /*push*/) {
        on_message(reply);  // may lose the connection (SUBSCRIBE refused)
        return gen == generation_;
      },
      &ec);
  switch (ended) {
    case detail::reply_reader::end::waiting:
      socket_.async_wait_readable([this, gen](const error_code& e) {
        if (gen != generation_) return;
        if (e) {
          lost(e.message());
          return;
        }
        read();
      });
      return;
    case detail::reply_reader::end::turns:
      asio::post(owner_.context(), [this, gen] {
        if (gen == generation_) read();
      });
      return;
    case detail::reply_reader::end::failed:
      lost(ec == asio::error::eof ? "closed by the upstream" : socket_.describe(ec));
      return;
    case detail::reply_reader::end::invalid:
      lost("invalid reply");
      return;
    case detail::reply_reader::end::stopped:
      return;  // lost by the reply
  }
}

void wake_hub::on_message(std::string_view bytes) {
  std::vector<std::string_view> parts;
  if (!bulk_strings(bytes, &parts) || parts.empty()) {
    if (state_ == state::subscribing) lost("SUBSCRIBE refused");
    return;
  }
  if (parts[0] == "subscribe") {
    state_ = state::subscribed;
    failures_ = 0;
    owner_.log().debug("listening for PGET wake-ups on '{}'",
                       owner_.config().pget_keys.wake_channel);
    waiters_.published_all();  // anything published before now may have been missed
  } else if (parts[0] == "message" && parts.size() == 3) {
    waiters_.published(std::string(parts[2]));
  }
}

void wake_hub::lost(const std::string& why) {
  owner_.log().debug("PGET wake-up subscription lost ({}); waiting requests poll meanwhile", why);
  ++generation_;
  error_code ignored;
  socket_.close(ignored);
  state_ = state::backing_off;
  const auto delay = std::chrono::milliseconds(std::min(2000u, 50u << std::min(failures_, 6u)));
  ++failures_;
  timer_.expires_after(delay);
  timer_.async_wait([this, gen = generation_](const error_code& e) {
    if (e || gen != generation_) return;
    if (waiters_.empty()) {
      state_ = state::idle;  // nobody waits: reconnect on the next add()
    } else {
      connect();
    }
  });
}

void wake_hub::close() {
  ++generation_;
  error_code ignored;
  socket_.close(ignored);
  timer_.cancel();
  state_ = state::idle;
  waiters_.clear();
}

}  // namespace puppy::server
