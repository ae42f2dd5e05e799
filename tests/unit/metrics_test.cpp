// The counters, the round-trip sampler and the Prometheus text (metrics/stats.hpp), and reading
// back the state of a PGET reply (pget/reply.hpp), which the memcached path counts by.
#include <catch2/catch.hpp>
#include <string>

#include "puppy/metrics/stats.hpp"
#include "puppy/pget/reply.hpp"

using namespace puppy::metrics;
using namespace std::chrono_literals;

namespace {

bool has_line(const std::string& text, const std::string& line) {
  return text.find("\n" + line + "\n") != std::string::npos || text.rfind(line + "\n", 0) == 0;
}

}  // namespace

TEST_CASE("histogram buckets are upper bounds, inclusive, with +Inf last") {
  histogram h;
  h.observe(100us);   // exactly 0.0001: the first bucket
  h.observe(101us);   // the second
  h.observe(2500ms);  // exactly the last finite bound
  h.observe(2501ms);  // +Inf
  h.observe(-5ns);    // a clock oddity: first bucket, adds nothing to the sum
  CHECK(h.bucket(0) == 2);
  CHECK(h.bucket(1) == 1);
  CHECK(h.bucket(latency_bounds_s.size() - 1) == 1);
  CHECK(h.bucket(latency_bounds_s.size()) == 1);
  CHECK(h.sum_ns() == 100'000 + 101'000 + 2'500'000'000ULL + 2'501'000'000ULL);
}

TEST_CASE("the sampler times one request at a time and ends at the reply it waits for") {
  histogram h;
  rtt_sampler s;
  s.on_sent(3);  // starts: waits for reply 3
  s.on_sent(5);  // ignored while a sample runs
  s.on_replied(2, h);
  CHECK(h.bucket(0) + h.bucket(1) + h.bucket(2) + h.bucket(3) == 0);
  s.on_replied(3, h);
  std::uint64_t total = 0;
  for (std::size_t i = 0; i <= latency_bounds_s.size(); ++i) total += h.bucket(i);
  CHECK(total == 1);
  s.on_replied(5, h);  // no sample runs
  s.on_sent(6);
  s.reset();  // the connection went: the sample is dropped
  s.on_replied(6, h);
  total = 0;
  for (std::size_t i = 0; i <= latency_bounds_s.size(); ++i) total += h.bucket(i);
  CHECK(total == 1);
}

TEST_CASE("a snapshot sums workers, and renders in the Prometheus text format") {
  worker_stats a, b;
  a.commands.add(3);
  b.commands.add(4);
  a.bytes_in.add(10);
  b.bytes_out.add(20);
  a.error(error_kind::protocol);
  b.error(error_kind::protocol);
  b.error(error_kind::auth);
  a.pget_answer(pget_outcome::lease);
  b.pget_answer(pget_outcome::fresh);
  b.pget_answer(pget_outcome::fresh);
  a.pset_accepted.add();
  b.pset_refused.add(2);
  a.upstream_latency.observe(200us);  // bucket le=0.00025
  b.upstream_latency.observe(3s);     // +Inf
  snapshot s;
  s.version = "1.2.3";
  s.threads = 2;
  s.uptime_s = 1.5;
  s.connections_current = 7;
  s.connections_total = 9;
  s.connections_rejected = 1;
  s.add(a);
  s.add(b);
  const std::string text = render_prometheus(s);

  CHECK(has_line(text, "# TYPE puppy_commands_total counter"));
  CHECK(has_line(text, "puppy_build_info{version=\"1.2.3\"} 1"));
  CHECK(has_line(text, "puppy_threads 2"));
  CHECK(has_line(text, "puppy_uptime_seconds 1.5"));
  CHECK(has_line(text, "puppy_draining 0"));
  CHECK(text.find("puppy_upstream_up") == std::string::npos);  // no health check runs
  CHECK(has_line(text, "puppy_connections_current 7"));
  CHECK(has_line(text, "puppy_connections_total 9"));
  CHECK(has_line(text, "puppy_connections_rejected_total 1"));
  CHECK(has_line(text, "puppy_commands_total 7"));
  CHECK(has_line(text, "puppy_client_received_bytes_total 10"));
  CHECK(has_line(text, "puppy_client_sent_bytes_total 20"));
  CHECK(has_line(text, "puppy_errors_total{kind=\"protocol\"} 2"));
  CHECK(has_line(text, "puppy_errors_total{kind=\"auth\"} 1"));
  CHECK(has_line(text, "puppy_errors_total{kind=\"upstream_lost\"} 0"));
  CHECK(has_line(text, "puppy_pget_total{outcome=\"fresh\"} 2"));
  CHECK(has_line(text, "puppy_pget_total{outcome=\"lease\"} 1"));
  CHECK(has_line(text, "puppy_pget_total{outcome=\"miss\"} 0"));
  CHECK(has_line(text, "puppy_pset_total{result=\"accepted\"} 1"));
  CHECK(has_line(text, "puppy_pset_total{result=\"refused\"} 2"));
  CHECK(has_line(text, "# TYPE puppy_upstream_request_duration_seconds histogram"));
  CHECK(has_line(text, "puppy_upstream_request_duration_seconds_bucket{le=\"0.0001\"} 0"));
  CHECK(has_line(text, "puppy_upstream_request_duration_seconds_bucket{le=\"0.00025\"} 1"));
  CHECK(has_line(text, "puppy_upstream_request_duration_seconds_bucket{le=\"2.5\"} 1"));
  CHECK(has_line(text, "puppy_upstream_request_duration_seconds_bucket{le=\"+Inf\"} 2"));
  CHECK(has_line(text, "puppy_upstream_request_duration_seconds_sum 3.0002"));
  CHECK(has_line(text, "puppy_upstream_request_duration_seconds_count 2"));

  s.upstream_up = 0;
  s.draining = true;
  const std::string later = render_prometheus(s);
  CHECK(has_line(later, "puppy_upstream_up 0"));
  CHECK(has_line(later, "puppy_draining 1"));
}

TEST_CASE("a cluster's counters, per node summed over the workers") {
  worker_stats a, b;
  a.cluster_moved.add(2);
  a.node("10.0.0.1:7000").requests.add(5);
  b.node("10.0.0.1:7000").requests.add(6);
  b.node("10.0.0.1:7000").redirects.add();
  b.node("10.0.0.2:7000").errors.add(3);
  snapshot s;
  s.add(a);
  s.add(b);
  CHECK(render_prometheus(s).find("puppy_cluster") == std::string::npos);  // not a cluster
  s.cluster = true;
  const std::string text = render_prometheus(s);
  CHECK(has_line(text, "puppy_cluster_moved_total 2"));
  CHECK(has_line(text, "# TYPE puppy_cluster_node_requests_total counter"));
  CHECK(has_line(text, "puppy_cluster_node_requests_total{node=\"10.0.0.1:7000\"} 11"));
  CHECK(has_line(text, "puppy_cluster_node_requests_total{node=\"10.0.0.2:7000\"} 0"));
  CHECK(has_line(text, "puppy_cluster_node_errors_total{node=\"10.0.0.2:7000\"} 3"));
  CHECK(has_line(text, "puppy_cluster_node_redirections_total{node=\"10.0.0.1:7000\"} 1"));
}

TEST_CASE("every sample line is a name, optional labels, a space and a number") {
  snapshot s;
  s.add(worker_stats{});
  const std::string text = render_prometheus(s);
  std::size_t pos = 0;
  int samples = 0;
  while (pos < text.size()) {
    const auto end = text.find('\n', pos);
    REQUIRE(end != std::string::npos);  // every line ends with a newline
    const std::string line = text.substr(pos, end - pos);
    pos = end + 1;
    if (line.rfind("# HELP puppy_", 0) == 0 || line.rfind("# TYPE puppy_", 0) == 0) continue;
    INFO(line);
    REQUIRE(line.rfind("puppy_", 0) == 0);
    const auto space = line.rfind(' ');
    REQUIRE(space != std::string::npos);
    CHECK(line.find_first_not_of("0123456789.e+-", space + 1) == std::string::npos);
    ++samples;
  }
  CHECK(samples > 40);
}

TEST_CASE("the state of a PGET reply is read back; anything else is not a PGET reply") {
  using puppy::pget::state;
  for (const state st : {state::fresh, state::stale, state::lease, state::miss}) {
    std::string reply;
    const std::string_view value = "v";
    puppy::pget::encode_pget_reply(st, &value, nullptr, &reply);
    CHECK(puppy::pget::pget_reply_state(reply) == st);
  }
  CHECK_FALSE(puppy::pget::pget_reply_state("-ERR x\r\n"));
  CHECK_FALSE(puppy::pget::pget_reply_state("*3\r\n$5\r\nfres"));
  CHECK_FALSE(puppy::pget::pget_reply_state("*3\r\n$5\r\nother\r\n$-1\r\n$-1\r\n"));
  CHECK_FALSE(puppy::pget::pget_reply_state(":1\r\n"));
}
