#include "puppy/server/tracking_link.hpp"

#include <spdlog/spdlog.h>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/post.hpp>
#include <chrono>

#include "puppy/cache/invalidation.hpp"
#include "puppy/pget/decision.hpp"
#include "puppy/pget/keys.hpp"
#include "puppy/pget/reply.hpp"
#include "puppy/pget/script.hpp"
#include "puppy/resp/encode.hpp"
#include "puppy/server/io_util.hpp"
#include "puppy/server/upstream_start.hpp"
#include "puppy/server/worker.hpp"

namespace puppy::server {
namespace asio = boost::asio;
using boost::system::error_code;
using tcp = asio::ip::tcp;

namespace {

constexpr std::size_t tracking_buffer_size = 16 * 1024;
const std::string tracking_handshake =
    "*2\r\n$5\r\nHELLO\r\n$1\r\n3\r\n*3\r\n$6\r\nCLIENT\r\n$8\r\nTRACKING\r\n$2\r\nON\r\n";

std::int64_t wall_now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

tracking_link::tracking_link(worker& owner, upstream::host_port target, bool keep_missing)
    : owner_(owner),
      target_(std::move(target)),
      keep_missing_(keep_missing),
      socket_(owner.context()),
      timer_(owner.context()),
      reader_(tracking_buffer_size, owner.config().max_reply_depth),
      heartbeat_(owner.context()) {}

void tracking_link::fill_pget(std::string_view key, std::string_view status_key,
                              const cache::stamp& taken) {
  request(cache::space::pget, key, status_key, taken);
}

void tracking_link::fill_get(std::string_view key, const cache::stamp& taken) {
  request(cache::space::get, key, {}, taken);
}

void tracking_link::request(cache::space s, std::string_view key, std::string_view status_key,
                            const cache::stamp& taken) {
  auto& cache = owner_.near();
  // A status key too long for the write generations (near_cache::max_key_size) could be
  // written through the proxy unnoticed: such keys are not cached.
  if (key.size() > cache::near_cache::max_key_size ||
      status_key.size() > cache::near_cache::max_key_size || !cache.begin_fill(s, key)) {
    return;
  }
  fill f{s, std::string(key), taken};
  if (state_ == state::up) {
    send_fill(f, status_key);
    return;
  }
  if (waiting_.size() >= max_waiting) {
    cache.end_fill(s, key);
    return;
  }
  waiting_.emplace_back(std::move(f), std::string(status_key));
  if (state_ == state::idle) connect();
}

void tracking_link::send_fill(const fill& f, std::string_view status_key) {
  const std::size_t before = out_.size();
  if (f.space == cache::space::pget) {
    pget::encode_read(f.key, status_key, &out_);
    in_flight_.push_back({reply_for::pget, f});
  } else {
    // The value and how long the key lives: a copy must not outlive the key (Redis tells of an
    // expiry only when it deletes the key, and nobody asks it meanwhile).
    out_.append("*2\r\n$3\r\nGET\r\n");
    resp::encode::append_bulk(&out_, f.key);
    out_.append("*2\r\n$4\r\nPTTL\r\n");
    resp::encode::append_bulk(&out_, f.key);
    in_flight_.push_back({reply_for::get_value, f});
    in_flight_.push_back({reply_for::get_ttl, f});
  }
  if (before == out_off_ && !write_waiting_) {
    // Written at the end of this turn, with the other fills asked meanwhile.
    asio::post(owner_.context(), [this, gen = generation_] {
      if (gen == generation_) write();
    });
  }
}

void tracking_link::connect() {
  state_ = state::connecting;
  const auto gen = ++generation_;
  auto connected = [this, gen](const error_code& e) {
    if (gen == generation_) on_connected(e);
  };
  if (target_.host.empty()) {  // the upstream's (the primary)
    async_connect_upstream(owner_.config(), socket_, std::move(connected));
  } else {
    error_code ec;
    const auto ip = asio::ip::make_address(target_.host, ec);
    socket_.socket().async_connect(tcp::endpoint(ip, target_.port), std::move(connected));
  }
  timer_.expires_after(owner_.config().connect_timeout);
  timer_.async_wait([this, gen](const error_code& e) {
    if (!e && gen == generation_ && state_ != state::up) lost("connect timed out");
  });
}

void tracking_link::on_connected(const error_code& ec) {
  if (ec) {
    lost("connect failed: " + ec.message());
    return;
  }
  async_start_upstream(owner_.config(), socket_,
                       [this, gen = generation_](const error_code& e, const std::string& why) {
                         if (gen == generation_) on_ready(e, why);
                       });
}

void tracking_link::on_ready(const error_code& ec, const std::string& why) {
  if (ec) {
    lost(why);
    return;
  }
  state_ = state::starting;
  reader_.reset();
  handshake_left_ = 2;
  out_ = tracking_handshake;
  out_off_ = 0;
  write();
  if (state_ == state::starting) read();
}

void tracking_link::write() {
  if (state_ != state::starting && state_ != state::up) return;
  while (out_off_ < out_.size()) {
    error_code ec;
    const std::size_t n =
        socket_.write_some(asio::buffer(out_.data() + out_off_, out_.size() - out_off_), ec);
    if (detail::would_block(ec)) {
      if (write_waiting_) return;
      write_waiting_ = true;
      socket_.async_wait_writable([this, gen = generation_](const error_code& e) {
        if (gen != generation_) return;
        write_waiting_ = false;
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
    out_off_ += n;
  }
  out_.clear();
  out_off_ = 0;
}

void tracking_link::read() {
  const auto gen = generation_;
  error_code ec;
  const auto ended = reader_.read(
      socket_,
      [this, gen](std::string_view reply, bool push) {
        on_message(reply, push);
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
      owner_.stats().error(metrics::error_kind::upstream_protocol);
      lost(std::string("upstream protocol fault: invalid reply: ") + reader_.error_message());
      return;
    case detail::reply_reader::end::stopped:
      return;  // lost by the reply
  }
}

void tracking_link::on_message(std::string_view bytes, bool push) {
  if (push) {
    on_invalidation(bytes);
    return;
  }
  if (handshake_left_ > 0) {
    if (!bytes.empty() && (bytes[0] == '-' || bytes[0] == '!')) {
      lost("HELLO 3 / CLIENT TRACKING refused: " +
           std::string(bytes.substr(1, std::min<std::size_t>(bytes.size(), 120) - 1)));
      return;
    }
    if (--handshake_left_ > 0) return;
    state_ = state::up;
    timer_.cancel();
    owner_.log().debug("near cache: tracking connection to {}:{} up", target_.host, target_.port);
    auto waiting = std::move(waiting_);
    waiting_.clear();
    for (auto& [f, status_key] : waiting) send_fill(f, status_key);
    ping_outstanding_ = false;
    heartbeat();
    return;
  }
  if (in_flight_.empty()) {
    owner_.stats().error(metrics::error_kind::upstream_protocol);
    lost("upstream protocol fault: a reply nobody asked for");
    return;
  }
  const awaited a = std::move(in_flight_.front());
  in_flight_.pop_front();
  on_fill_reply(a, bytes);
}

void tracking_link::heartbeat() {
  heartbeat_.expires_after(heartbeat_interval);
  heartbeat_.async_wait([this, gen = generation_](const error_code& e) {
    if (e || gen != generation_ || state_ != state::up) return;
    if (ping_outstanding_) {
      if (std::chrono::steady_clock::now() - ping_sent_ >= heartbeat_timeout) {
        lost("no answer to PING for " + std::to_string(heartbeat_timeout.count()) + " ms");
        return;
      }
    } else {
      ping_outstanding_ = true;
      ping_sent_ = std::chrono::steady_clock::now();
      const bool idle = out_off_ == out_.size();
      out_.append("*1\r\n$4\r\nPING\r\n");
      in_flight_.push_back({reply_for::ping, {}});
      if (idle && !write_waiting_) write();
    }
    heartbeat();
  });
}

void tracking_link::on_invalidation(std::string_view bytes) {
  auto& cache = owner_.near();
  switch (cache::parse_push(bytes, &keys_)) {
    case cache::push_kind::all:
      cache.clear();
      return;
    case cache::push_kind::keys:
      for (const auto key : keys_) {
        cache.invalidate(key);
        pget::data_keys_of(key, owner_.config().pget_keys, &data_keys_);
        for (const auto data_key : data_keys_) cache.invalidate(data_key);
      }
      return;
    case cache::push_kind::other:
      return;
    case cache::push_kind::malformed:
      // Not knowing what changed, nothing kept can be trusted.
      cache.clear();
      return;
  }
}

void tracking_link::on_fill_reply(const awaited& a, std::string_view bytes) {
  auto& cache = owner_.near();
  const fill& f = a.f;
  std::string error;
  switch (a.what) {
    case reply_for::ping:
      ping_outstanding_ = false;
      return;
    case reply_for::get_value: {
      std::optional<std::string_view> value;
      got_ok_ = pget::parse_bulk_reply(bytes, &value, &error) == pget::reply_kind::ok;
      got_value_ = value ? std::optional<std::string>(std::string(*value)) : std::nullopt;
      return;
    }
    case reply_for::get_ttl: {
      cache.end_fill(f.space, f.key);
      std::int64_t pttl = 0;
      if (!got_ok_ || pget::parse_int_reply(bytes, &pttl, &error) != pget::reply_kind::ok) return;
      auto until = cache::near_cache::clock::time_point::max();
      if (pttl >= 0) until = cache::near_cache::clock::now() + std::chrono::milliseconds(pttl);
      if (pttl == -2 && got_value_) return;  // gone between the two reads
      if (!got_value_ && !keep_missing_) return;
      cache.store(cache::space::get, f.key, got_value_.value_or(std::string()), !got_value_, 0,
                  until, f.taken);
      return;
    }
    case reply_for::pget:
      cache.end_fill(f.space, f.key);
      break;
  }
  std::optional<std::string_view> value;
  std::optional<std::string_view> status_text;
  if (pget::parse_pair_reply(bytes, &value, &status_text, &error) != pget::reply_kind::ok) return;
  const auto st = pget::parse_status(status_text);
  const std::int64_t now = wall_now_ms();
  const auto d = pget::decide_read(st, value.has_value(), now, 0);
  if (d.next != pget::read_next::answer || d.answer != pget::state::fresh) return;
  // Only a copy whose deadline is known may answer fresh: current:<c>:<until>, or a lease
  // taken early by BETA (fresh until then). The seed's and older statuses are not kept.
  const std::int64_t until = st.fresh_until_ms;
  if (until <= now) return;
  const auto deadline = cache::near_cache::clock::now() + std::chrono::milliseconds(until - now);
  cache.store(cache::space::pget, f.key, *value, false, st.compute_ms, deadline, f.taken);
}

void tracking_link::lost(const std::string& why) {
  const bool was_up = state_ == state::up;
  owner_.log().debug("near cache: tracking connection to {}:{} {} ({}); every copy dropped",
                     target_.host, target_.port, was_up ? "lost" : "failed", why);
  ++generation_;
  error_code ignored;
  socket_.close(ignored);
  timer_.cancel();
  state_ = state::idle;  // the next fill opens it again
  write_waiting_ = false;
  out_.clear();
  out_off_ = 0;
  heartbeat_.cancel();
  ping_outstanding_ = false;
  auto& cache = owner_.near();
  cache.clear();
  for (const auto& a : in_flight_) {
    if (a.what == reply_for::pget || a.what == reply_for::get_ttl) {
      cache.end_fill(a.f.space, a.f.key);
    }
  }
  for (const auto& w : waiting_) cache.end_fill(w.first.space, w.first.key);
  in_flight_.clear();
  waiting_.clear();
}

void tracking_link::drop(const std::string& why) {
  if (state_ != state::idle) lost(why);
}

void tracking_link::close() {
  ++generation_;
  error_code ignored;
  socket_.close(ignored);
  timer_.cancel();
  heartbeat_.cancel();
  state_ = state::idle;
}

}  // namespace puppy::server
