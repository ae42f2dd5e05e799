#include "puppy/server/health_check.hpp"

#include <boost/asio/ip/address.hpp>
#include <boost/asio/write.hpp>

#include "puppy/server/upstream_login.hpp"

namespace puppy::server {
namespace asio = boost::asio;
using boost::system::error_code;
using tcp = asio::ip::tcp;

namespace {
constexpr std::size_t max_check_reply = 1024;  // +PONG, or memcached's VERSION line
}

// One upstream server's connection and its checks.
class health_check::probe {
 public:
  probe(asio::io_context& ioc, upstream::host_port target, std::string login, std::string request,
        std::string expect, std::chrono::milliseconds deadline, std::chrono::milliseconds interval,
        std::function<void(bool)> report)
      : socket_(ioc),
        timer_(ioc),
        target_(std::move(target)),
        login_(std::move(login)),
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
    error_code ec;
    const auto ip = asio::ip::make_address(target_.host, ec);
    arm_deadline(gen);
    socket_.async_connect(tcp::endpoint(ip, target_.port), [this, gen](const error_code& e) {
      if (gen != generation_) return;
      if (e) return failed();
      if (login_.empty()) return check(gen);
      async_login(socket_, login_, [this, gen](const error_code& le, const std::string&) {
        if (gen != generation_) return;
        if (le) return failed();
        check(gen);
      });
    });
  }

  void check(std::uint64_t gen) {
    arm_deadline(gen);
    reply_.clear();
    asio::async_write(socket_, asio::buffer(request_),
                      [this, gen](const error_code& e, std::size_t) {
                        if (gen != generation_) return;
                        if (e) return failed();
                        read(gen);
                      });
  }

  void read(std::uint64_t gen) {
    socket_.async_read_some(asio::buffer(buf_), [this, gen](const error_code& e, std::size_t n) {
      if (gen != generation_) return;
      if (e) return failed();
      reply_.append(buf_, n);
      const auto end = reply_.find("\r\n");
      if (end == std::string::npos) {
        if (reply_.size() > max_check_reply) return failed();
        return read(gen);
      }
      if (reply_.compare(0, expect_.size(), expect_) != 0 || end + 2 != reply_.size()) {
        return failed();  // -LOADING, -NOAUTH, anything but the answer: not ready
      }
      report_(true);
      timer_.expires_after(interval_);
      timer_.async_wait([this, gen](const error_code& te) {
        if (!te && gen == generation_) check(gen);
      });
    });
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

  tcp::socket socket_;
  asio::steady_timer timer_;
  upstream::host_port target_;
  std::string login_;
  std::string request_;
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
  if (config.memcached) {
    for (const auto& s : config.memcached_servers) targets.push_back({s.host, s.port});
  } else {
    targets.push_back(config.upstream);
  }
  for (std::size_t i = 0; i < targets.size(); ++i) {
    probes_.push_back(std::make_unique<probe>(
        ioc, targets[i], config.memcached ? std::string() : config.upstream_login,
        config.memcached ? "version\r\n" : "*1\r\n$4\r\nPING\r\n",
        config.memcached ? "VERSION " : "+PONG", deadline, interval,
        [this, i](bool up) { on_probe(i, up); }));
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
