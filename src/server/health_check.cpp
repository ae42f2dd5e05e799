#include "puppy/server/health_check.hpp"

#include <cstdlib>

#include <boost/asio/ip/address.hpp>

#include "puppy/net/stream.hpp"
#include "puppy/server/io_util.hpp"
#include "puppy/server/upstream_start.hpp"

namespace puppy::server {
namespace asio = boost::asio;
using boost::system::error_code;
using tcp = asio::ip::tcp;
using detail::would_block;

namespace {
constexpr std::size_t max_check_reply = 1024;      // +PONG, or memcached's VERSION line
constexpr std::size_t max_bulk_reply = 64 * 1024;  // CLUSTER INFO, INFO replication
}  // namespace

// One upstream server's connection and its checks. Started as every upstream connection is
// (async_start_upstream: TLS and the login when the upstream has them), then reactor style.
class health_check::probe {
 public:
  // `start`: where (start.upstream, or start.primary) and how (TLS, login) to connect.
  probe(asio::io_context& ioc, settings start, std::string request, std::string expect,
        std::chrono::milliseconds deadline, std::chrono::milliseconds interval,
        std::function<void(bool)> report)
      : socket_(ioc),
        timer_(ioc),
        start_(std::move(start)),
        request_(std::move(request)),
        expect_(std::move(expect)),
        deadline_(deadline),
        interval_(interval),
        report_(std::move(report)) {}

  void start() { connect(); }
  void stop() {
    ++generation_;
    error_code ignored;
    socket_.close(ignored);
    timer_.cancel();
  }

 private:
  void connect() {
    const auto gen = ++generation_;
    arm_deadline(gen);
    async_connect_upstream(start_, socket_, [this, gen](const error_code& e) {
      if (gen != generation_) return;
      if (e) return failed();
      async_start_upstream(start_, socket_, [this, gen](const error_code& se, const std::string&) {
        if (gen != generation_) return;
        if (se) return failed();
        check(gen);
      });
    });
  }

  void check(std::uint64_t gen) {
    arm_deadline(gen);
    reply_.clear();
    written_ = 0;
    write(gen);
  }

  // Runs `step` once the stream can go on, or fails (the deadline closes the socket).
  void wait(bool writing, std::uint64_t gen, void (probe::*step)(std::uint64_t)) {
    auto resume = [this, gen, step](const error_code& e) {
      if (gen != generation_) return;
      if (e) return failed();
      (this->*step)(gen);
    };
    if (writing) {
      socket_.async_wait_writable(std::move(resume));
    } else {
      socket_.async_wait_readable(std::move(resume));
    }
  }

  void write(std::uint64_t gen) {
    while (written_ < request_.size()) {
      error_code ec;
      written_ += socket_.write_some(
          asio::buffer(request_.data() + written_, request_.size() - written_), ec);
      if (would_block(ec)) return wait(true, gen, &probe::write);
      if (ec) return failed();
    }
    read(gen);
  }

  void read(std::uint64_t gen) {
    for (;;) {
      error_code ec;
      const std::size_t n = socket_.read_some(asio::buffer(buf_), ec);
      if (would_block(ec)) return wait(false, gen, &probe::read);
      if (ec) return failed();
      reply_.append(buf_, n);
      const auto end = reply_.find("\r\n");
      if (end == std::string::npos) {
        if (reply_.size() > max_check_reply) return failed();
        continue;
      }
      if (!reply_.empty() && reply_[0] == '$') {
        // A bulk reply (CLUSTER INFO, INFO replication): whole, and holding the expected text.
        const long len = std::strtol(reply_.c_str() + 1, nullptr, 10);
        if (len < 0 || static_cast<std::size_t>(len) > max_bulk_reply) return failed();
        const std::size_t whole = end + 2 + static_cast<std::size_t>(len) + 2;
        if (reply_.size() < whole) continue;
        if (reply_.size() != whole || reply_.find(expect_) == std::string::npos) return failed();
      } else if (reply_.compare(0, expect_.size(), expect_) != 0 || end + 2 != reply_.size()) {
        return failed();  // -LOADING, -NOAUTH, anything but the answer: not ready
      }
      report_(true);
      timer_.expires_after(interval_);
      timer_.async_wait([this, gen](const error_code& te) {
        if (!te && gen == generation_) check(gen);
      });
      return;
    }
  }

  void arm_deadline(std::uint64_t gen) {
    timer_.expires_after(deadline_);
    timer_.async_wait([this, gen](const error_code& e) {
      if (e || gen != generation_) return;
      error_code ignored;
      socket_.close(ignored);  // the pending operation completes with an error: failed()
    });
  }

  void failed() {
    ++generation_;
    error_code ignored;
    socket_.close(ignored);
    report_(false);
    timer_.expires_after(interval_);
    timer_.async_wait([this, next = generation_](const error_code& e) {
      if (!e && next == generation_) connect();
    });
  }

  net::stream socket_;
  asio::steady_timer timer_;
  settings start_;  // what async_start_upstream needs: TLS, login, timeout
  std::string request_;
  std::size_t written_ = 0;
  std::string expect_;
  std::chrono::milliseconds deadline_;
  std::chrono::milliseconds interval_;
  std::function<void(bool)> report_;
  std::uint64_t generation_ = 0;
  std::string reply_;
  char buf_[256];
};

health_check::health_check(asio::io_context& ioc, const settings& config,
                           std::chrono::milliseconds interval, std::function<void(bool)> on_change)
    : on_change_(std::move(on_change)) {
  const auto deadline = std::max(config.connect_timeout, std::chrono::milliseconds(1000));
  std::vector<upstream::host_port> targets;
  std::string request = "*1\r\n$4\r\nPING\r\n";
  std::string expect = "+PONG";
  if (config.memcached) {
    for (const auto& s : config.memcached_servers) targets.push_back({s.host, s.port});
    request = "version\r\n";
    expect = "VERSION ";
  } else if (config.cluster) {
    // Ready when the cluster serves every slot, as a node that answers says.
    for (const auto& s : config.cluster_seeds) targets.push_back(s);
    request = "*2\r\n$7\r\nCLUSTER\r\n$4\r\nINFO\r\n";
    expect = "cluster_state:ok\r\n";
  } else {
    targets.push_back(config.upstream);
    if (config.require_primary) {
      // Ready while the node is the primary: a node demoted in place keeps its connections
      // (the ROLE step at connect is not enough), so every check asks.
      request = "*2\r\n$4\r\nINFO\r\n$11\r\nreplication\r\n";
      expect = "role:master\r\n";
    }
  }
  for (std::size_t i = 0; i < targets.size(); ++i) {
    settings start;  // memcached: plain, no login
    start.upstream = targets[i];
    if (!config.memcached) {
      start.upstream_login = config.upstream_login;
      start.upstream_tls = config.upstream_tls;
      start.require_primary = config.require_primary;  // a replica is not ready
    }
    // One Redis: the primary as it is now (with Redis Sentinel, none until one is named).
    if (!config.memcached && !config.cluster) start.primary = config.primary;
    start.response_timeout = config.response_timeout;
    probes_.push_back(std::make_unique<probe>(ioc, std::move(start), request, expect, deadline,
                                              interval, [this, i](bool up) { on_probe(i, up); }));
  }
  verdicts_.assign(probes_.size(), -1);
}

health_check::~health_check() {
  stop();
}

void health_check::start() {
  for (auto& p : probes_) p->start();
}

void health_check::stop() {
  for (auto& p : probes_) p->stop();
}

void health_check::on_probe(std::size_t index, bool up) {
  verdicts_[index] = up ? 1 : 0;
  int verdict = 0;
  for (const int v : verdicts_) verdict = std::max(verdict, v);
  if (verdict == verdict_) return;
  verdict_ = verdict;
  on_change_(verdict == 1);
}

}  // namespace puppy::server
