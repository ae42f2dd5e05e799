// Following a Redis primary through Redis Sentinel (sentinel_watch.hpp).
#include "puppy/server/sentinel_watch.hpp"

#include <boost/asio/post.hpp>

#include "puppy/net/stream.hpp"
#include "puppy/resp/reply_scanner.hpp"
#include "puppy/server/io_util.hpp"
#include "puppy/server/upstream_start.hpp"
#include "puppy/upstream/sentinel.hpp"

namespace puppy::server {
namespace asio = boost::asio;
using boost::system::error_code;
using detail::would_block;
namespace sentinel = upstream::sentinel;

namespace {

std::string text(const upstream::host_port& hp) {
  return hp.host + ":" + std::to_string(hp.port);
}

}  // namespace

// One connection to one server (a sentinel, or a data node for ROLE): connected and started as
// every upstream connection (TLS and login as `how` says), `request` written, and every reply
// handed to on_reply as it completes. A deadline covers everything up to the first reply (and
// all of it, for a question); on_end(why) runs once if the connection fails or closes. close()
// ends it without further calls.
class sentinel_watch::exchange : public std::enable_shared_from_this<exchange> {
 public:
  using reply_fn = std::function<void(const std::string& reply)>;
  using end_fn = std::function<void(const std::string& why)>;

  exchange(asio::io_context& ioc, const settings& how, const upstream::host_port& where,
           std::string request, reply_fn on_reply, end_fn on_end)
      : socket_(ioc),
        deadline_(ioc),
        how_(how),
        request_(std::move(request)),
        on_reply_(std::move(on_reply)),
        on_end_(std::move(on_end)) {
    how_.upstream = where;
    how_.primary.reset();
  }

  void start() {
    deadline_.expires_after(how_.connect_timeout);
    deadline_.async_wait([self = shared_from_this()](const error_code& ec) {
      if (!ec)
        self->fail("no answer within " + std::to_string(self->how_.connect_timeout.count()) +
                   " ms");
    });
    async_connect_upstream(how_, socket_, [self = shared_from_this()](const error_code& ec) {
      if (self->closed_) return;
      if (ec) return self->fail("connect failed: " + ec.message());
      async_start_upstream(self->how_, self->socket_,
                           [self](const error_code& e, const std::string& why) {
                             if (self->closed_) return;
                             if (e) return self->fail(why.empty() ? e.message() : why);
                             self->write();
                           });
    });
  }

  // The first reply came: no deadline from now on (a subscription waits as long as it lasts).
  void disarm() { deadline_.cancel(); }

  void close() {
    if (closed_) return;
    closed_ = true;
    deadline_.cancel();
    error_code ignored;
    socket_.close(ignored);
  }

 private:
  void write() {
    while (written_ < request_.size()) {
      error_code ec;
      written_ += socket_.write_some(
          asio::buffer(request_.data() + written_, request_.size() - written_), ec);
      if (would_block(ec)) {
        socket_.async_wait_writable([self = shared_from_this()](const error_code& e) {
          if (self->closed_) return;
          if (e) return self->fail(e.message());
          self->write();
        });
        return;
      }
      if (ec) return fail("write failed: " + socket_.describe(ec));
    }
    read();
  }

  void read() {
    for (;;) {
      char buf[4096];
      error_code ec;
      const std::size_t n = socket_.read_some(asio::buffer(buf), ec);
      if (would_block(ec)) {
        socket_.async_wait_readable([self = shared_from_this()](const error_code& e) {
          if (self->closed_) return;
          if (e) return self->fail(e.message());
          self->read();
        });
        return;
      }
      if (ec) return fail(ec == asio::error::eof ? "closed" : socket_.describe(ec));
      in_.append(buf, n);
      while (scanned_ < in_.size()) {
        const auto r = scanner_.scan(in_.data() + scanned_, in_.size() - scanned_);
        if (r.status == resp::scan_status::error) return fail("not RESP");
        scanned_ += r.consumed;
        if (r.status == resp::scan_status::need_more) break;
        const std::string reply = in_.substr(0, scanned_);
        in_.erase(0, scanned_);
        scanned_ = 0;
        on_reply_(reply);
        if (closed_) return;
      }
    }
  }

  void fail(const std::string& why) {
    if (closed_) return;
    close();
    on_end_(why);
  }

  net::stream socket_;
  asio::steady_timer deadline_;
  settings how_;
  std::string request_;
  reply_fn on_reply_;
  end_fn on_end_;
  std::size_t written_ = 0;
  std::string in_;
  std::size_t scanned_ = 0;
  resp::reply_scanner scanner_;
  bool closed_ = false;
};

sentinel_watch::sentinel_watch(asio::io_context& ioc, const settings& data, options o,
                               std::shared_ptr<upstream::primary> primary, spdlog::logger& log,
                               std::function<void()> on_move)
    : ioc_(ioc),
      data_(data),
      opt_(std::move(o)),
      primary_(std::move(primary)),
      log_(log),
      on_move_(std::move(on_move)),
      retry_timer_(ioc),
      resub_timer_(ioc) {
  sentinel_.connect_timeout = data.connect_timeout;
  sentinel_.response_timeout = data.response_timeout;
  sentinel_.upstream_login = opt_.sentinel_login;  // no TLS: sentinels are asked in the clear
}

sentinel_watch::~sentinel_watch() {
  stop();
}

void sentinel_watch::start() {
  asking_ = true;
  round();
}

void sentinel_watch::stop() {
  stopped_ = true;
  *alive_ = false;
  retry_timer_.cancel();
  resub_timer_.cancel();
  if (current_) current_->close();
  if (learning_) learning_->close();
  if (sub_) sub_->close();
  current_.reset();
  learning_.reset();
  sub_.reset();
}

void sentinel_watch::suspect() {
  asio::post(ioc_, [this, alive = std::weak_ptr<bool>(alive_)] {
    const auto a = alive.lock();
    if (!a || !*a || stopped_) return;
    if (asking_) {
      again_ = true;
      return;
    }
    asking_ = true;
    round();
  });
}

void sentinel_watch::round() {
  if (stopped_) return;
  if (announced_) {
    const auto to = *std::exchange(announced_, std::nullopt);
    return check_role(to, 0);
  }
  if (const auto now = primary_->current()) return check_role(*now, 0);
  ask(0);
}

void sentinel_watch::ask(std::size_t k) {
  if (stopped_) return;
  // The sentinels known when the round began to ask: one learned meanwhile (learn(), which
  // appends) must not make it ask one twice and skip another.
  if (k == 0) round_sentinels_ = opt_.sentinels.size();
  if (k >= round_sentinels_) return round_failed();
  const std::size_t index = (first_ + k) % round_sentinels_;
  current_ = std::make_shared<exchange>(
      ioc_, sentinel_, opt_.sentinels[index], sentinel::ask_primary(opt_.master_name),
      [this, index, k](const std::string& reply) {
        current_->close();
        const auto a = sentinel::parse_primary(reply);
        if (!a.primary) {
          last_why_ = "sentinel " + text(opt_.sentinels[index]) + ": " + a.why;
          return ask(k + 1);
        }
        answered_ = index;
        check_role(*a.primary, k + 1);
      },
      [this, index, k](const std::string& why) {
        last_why_ = "sentinel " + text(opt_.sentinels[index]) + ": " + why;
        ask(k + 1);
      });
  current_->start();
}

void sentinel_watch::check_role(const upstream::host_port& where, std::size_t k) {
  if (stopped_) return;
  current_ = std::make_shared<exchange>(
      ioc_, data_, where, sentinel::ask_role(),
      [this, where, k](const std::string& reply) {
        current_->close();
        const std::string role = sentinel::parse_role(reply);
        if (role == "master") {
          if (k > 0) named_by(answered_);
          return publish(where);
        }
        if (role.empty() && reply.rfind("-NOPERM", 0) == 0) {
          // ROLE is an @admin command: a user without it cannot check. The sentinels' word
          // (or the announcement) is taken then.
          if (!role_refused_) {
            log_.warn("ROLE refused on {} ({}); taking the sentinels' word for the primary",
                      text(where), reply.substr(1, reply.size() - 3));
            role_refused_ = true;
          }
          if (k > 0) named_by(answered_);
          return publish(where);
        }
        last_why_ = text(where) + " says it is " + (role.empty() ? "not a master" : role);
        ask(k);
      },
      [this, where, k](const std::string& why) {
        last_why_ = text(where) + ": " + why;
        ask(k);
      });
  current_->start();
}

void sentinel_watch::publish(const upstream::host_port& where) {
  asking_ = false;
  const auto before = primary_->current();
  const bool moved = primary_->set(where);
  if (!before || moved) {
    log_.info("primary '{}' is {}{}", opt_.master_name, text(where),
              moved ? " (moved from " + (before ? text(*before) : std::string("?")) + ")" : "");
  }
  failing_ = false;
  if (moved) on_move_();
  if (!sub_) subscribe(first_);
  if (std::exchange(again_, false) || announced_) {
    asking_ = true;
    round();
  }
}

void sentinel_watch::named_by(std::size_t index) {
  first_ = index;
  if (opt_.learn) learn(index);
}

void sentinel_watch::learn(std::size_t index) {
  if (stopped_ || learning_) return;
  learning_ = std::make_shared<exchange>(
      ioc_, sentinel_, opt_.sentinels[index], sentinel::ask_sentinels(opt_.master_name),
      [this, index](const std::string& reply) {
        learning_->close();
        learning_.reset();
        const std::string from = text(opt_.sentinels[index]);
        const std::size_t before = opt_.sentinels.size();
        if (reply.rfind("-", 0) == 0) {
          if (!std::exchange(list_refused_, true)) {
            log_.warn("sentinel {} did not list the other sentinels ({}); asking only those given",
                      from, reply.substr(1, reply.size() - 3));
          }
          return;
        }
        sentinel::add_sentinels(&opt_.sentinels, sentinel::parse_sentinels(reply));
        for (std::size_t i = before; i < opt_.sentinels.size(); ++i) {
          log_.info("sentinel {} learned from sentinel {}", text(opt_.sentinels[i]), from);
        }
      },
      [this](const std::string& why) {
        learning_.reset();  // asked again when a sentinel next names the primary
        log_.debug("asking for the other sentinels failed: {}", why);
      });
  learning_->start();
}

void sentinel_watch::round_failed() {
  asking_ = false;
  again_ = false;
  if (!failing_) {
    log_.warn("no sentinel names a working primary '{}' ({}); asking again every {} ms",
              opt_.master_name, last_why_, opt_.retry.count());
    failing_ = true;
  }
  retry_timer_.expires_after(opt_.retry);
  retry_timer_.async_wait([this, alive = std::weak_ptr<bool>(alive_)](const error_code& ec) {
    const auto a = alive.lock();
    if (ec || !a || !*a || stopped_ || asking_) return;
    asking_ = true;
    round();
  });
}

void sentinel_watch::subscribe(std::size_t index) {
  if (stopped_ || opt_.sentinels.empty()) return;
  if (sub_) sub_->close();  // (one subscription at a time)
  sub_index_ = index % opt_.sentinels.size();
  const auto where = opt_.sentinels[sub_index_];
  const std::uint64_t id = ++sub_id_;
  sub_ = std::make_shared<exchange>(
      ioc_, sentinel_, where, sentinel::subscribe_switches(),
      [this, id](const std::string& reply) {
        if (id != sub_id_) return;
        sub_->disarm();  // subscribed (or a message): it lasts as long as the connection
        const auto m = sentinel::parse_message(reply);
        if (!m || m->channel != "+switch-master") return;
        const auto to = sentinel::parse_switch(m->payload, opt_.master_name);
        if (!to) return;
        log_.info("sentinel {} announces a failover of '{}' to {}",
                  text(opt_.sentinels[sub_index_]), opt_.master_name, text(*to));
        announced_ = *to;  // checked first, now or after the round in progress
        if (asking_) return;
        asking_ = true;
        round();
      },
      [this, id](const std::string& why) {
        if (id != sub_id_) return;
        log_.warn(
            "the subscription to +switch-master on sentinel {} ended ({}); subscribing on "
            "the next one",
            text(opt_.sentinels[sub_index_]), why);
        sub_.reset();
        resub_timer_.expires_after(opt_.retry);
        resub_timer_.async_wait(
            [this, id, alive = std::weak_ptr<bool>(alive_)](const error_code& ec) {
              const auto a = alive.lock();
              if (ec || !a || !*a || stopped_ || sub_ || id != sub_id_) return;
              subscribe(sub_index_ + 1);
              suspect();  // a failover may have been announced meanwhile
            });
      });
  sub_->start();
}

}  // namespace puppy::server
