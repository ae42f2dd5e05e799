#include "puppy/metrics/stats.hpp"

#include <cstdio>

namespace puppy::metrics {

const char* error_kind_name(error_kind k) {
  switch (k) {
    case error_kind::protocol:
      return "protocol";
    case error_kind::upstream_unavailable:
      return "upstream_unavailable";
    case error_kind::upstream_lost:
      return "upstream_lost";
    case error_kind::upstream_protocol:
      return "upstream_protocol";
    case error_kind::upstream_timeout:
      return "upstream_timeout";
    case error_kind::output_limit:
      return "output_limit";
    case error_kind::idle_timeout:
      return "idle_timeout";
    case error_kind::auth:
      return "auth";
    case error_kind::count_:
      break;
  }
  return "unknown";
}

const char* pget_outcome_name(pget_outcome o) {
  switch (o) {
    case pget_outcome::fresh:
      return "fresh";
    case pget_outcome::stale:
      return "stale";
    case pget_outcome::lease:
      return "lease";
    case pget_outcome::miss:
      return "miss";
    case pget_outcome::count_:
      break;
  }
  return "unknown";
}

void histogram::observe(std::chrono::nanoseconds d) noexcept {
  const double s = std::chrono::duration<double>(d).count();
  std::size_t i = 0;
  while (i < latency_bounds_s.size() && s > latency_bounds_s[i]) ++i;
  buckets_[i].add();
  sum_ns_.add(d.count() > 0 ? static_cast<std::uint64_t>(d.count()) : 0);
}

void snapshot::add(const worker_stats& w) {
  commands += w.commands.value();
  bytes_in += w.bytes_in.value();
  bytes_out += w.bytes_out.value();
  for (std::size_t i = 0; i < errors.size(); ++i) errors[i] += w.errors[i].value();
  for (std::size_t i = 0; i < pget.size(); ++i) pget[i] += w.pget[i].value();
  pget_waits += w.pget_waits.value();
  pset_accepted += w.pset_accepted.value();
  pset_refused += w.pset_refused.value();
  near_hits += w.near.hits.value();
  near_misses += w.near.misses.value();
  near_invalidations += w.near.invalidations.value();
  near_evictions += w.near.evictions.value();
  near_fills += w.near.fills.value();
  near_bytes += w.near.bytes.value();
  near_entries += w.near.entries.value();
  upstream_connects += w.upstream_connects.value();
  upstream_connect_failures += w.upstream_connect_failures.value();
  cluster_refreshes += w.cluster_refreshes.value();
  cluster_failure_refreshes += w.cluster_failure_refreshes.value();
  cluster_moved += w.cluster_moved.value();
  cluster_ask += w.cluster_ask.value();
  cluster_retries += w.cluster_retries.value();
  upstream_readonly += w.upstream_readonly.value();
  w.each_node([this](const std::string& address, const node_stats& n) {
    auto& sum = cluster_nodes[address];
    sum[0] += n.requests.value();
    sum[1] += n.errors.value();
    sum[2] += n.redirects.value();
  });
  for (std::size_t i = 0; i < latency_buckets.size(); ++i) {
    latency_buckets[i] += w.upstream_latency.bucket(i);
  }
  latency_sum_ns += w.upstream_latency.sum_ns();
}

namespace {

class writer {
 public:
  explicit writer(std::string* out) : out_(*out) {}

  void head(const char* name, const char* type, const char* help) {
    out_ += "# HELP ";
    out_ += name;
    out_ += ' ';
    out_ += help;
    out_ += "\n# TYPE ";
    out_ += name;
    out_ += ' ';
    out_ += type;
    out_ += '\n';
  }
  void sample(const char* name, const std::string& labels, std::uint64_t v) {
    line(name, labels);
    out_ += std::to_string(v);
    out_ += '\n';
  }
  void sample(const char* name, const std::string& labels, double v) {
    line(name, labels);
    out_ += number(v);
    out_ += '\n';
  }
  void one(const char* name, const char* type, const char* help, std::uint64_t v) {
    head(name, type, help);
    sample(name, {}, v);
  }
  static std::string number(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.9g", v);
    return buf;
  }

 private:
  void line(const char* name, const std::string& labels) {
    out_ += name;
    if (!labels.empty()) {
      out_ += '{';
      out_ += labels;
      out_ += '}';
    }
    out_ += ' ';
  }
  std::string& out_;
};

std::string label(const char* name, const std::string& value) {
  // Label values here are ours (kinds, outcomes, the version): no escaping is needed.
  return std::string(name) + "=\"" + value + "\"";
}

}  // namespace

std::string render_prometheus(const snapshot& s) {
  std::string out;
  out.reserve(4096);
  writer w(&out);
  w.head("puppy_build_info", "gauge", "Always 1; the version label tells the build.");
  w.sample("puppy_build_info", label("version", s.version), std::uint64_t{1});
  w.one("puppy_threads", "gauge", "Worker threads.", s.threads);
  w.head("puppy_uptime_seconds", "gauge", "Seconds since the proxy started.");
  w.sample("puppy_uptime_seconds", {}, s.uptime_s);
  w.one("puppy_draining", "gauge", "1 while the proxy drains for shutdown, else 0.",
        s.draining ? 1 : 0);
  if (s.upstream_up >= 0) {
    w.one("puppy_upstream_up", "gauge",
          "1 if the health check reaches the upstream (ready), else 0.",
          static_cast<std::uint64_t>(s.upstream_up));
  }
  if (s.has_primary) {
    w.one("puppy_upstream_failovers_total", "counter",
          "Times the primary moved to another address (Redis Sentinel named another, or the "
          "upstream's host name reached another).",
          s.primary_moves);
    w.one("puppy_upstream_readonly_total", "counter",
          "Upstream connections that got -READONLY (a shared one at most once per "
          "--upstream-retry-max-ms): moved, or their client closed.",
          s.upstream_readonly);
    w.head("puppy_upstream_primary_info", "gauge",
           "Always 1; the address label is the primary now (empty while none is known).");
    w.sample("puppy_upstream_primary_info", label("address", s.primary), std::uint64_t{1});
  }

  w.one("puppy_connections_current", "gauge", "Client connections open now.",
        s.connections_current);
  w.one("puppy_connections_total", "counter", "Client connections accepted.", s.connections_total);
  w.one("puppy_connections_rejected_total", "counter",
        "Client connections refused at the max clients limit.", s.connections_rejected);
  w.one("puppy_commands_total", "counter",
        "Requests read from clients (each command of a pipeline counts).", s.commands);
  w.one("puppy_client_received_bytes_total", "counter", "Bytes read from clients.", s.bytes_in);
  w.one("puppy_client_sent_bytes_total", "counter", "Bytes of replies to clients.", s.bytes_out);

  w.head("puppy_errors_total", "counter", "Errors, by kind.");
  for (std::size_t i = 0; i < s.errors.size(); ++i) {
    w.sample("puppy_errors_total", label("kind", error_kind_name(static_cast<error_kind>(i))),
             s.errors[i]);
  }

  w.head("puppy_pget_total", "counter", "PGET answers, by outcome.");
  for (std::size_t i = 0; i < s.pget.size(); ++i) {
    w.sample("puppy_pget_total", label("outcome", pget_outcome_name(static_cast<pget_outcome>(i))),
             s.pget[i]);
  }
  w.one("puppy_pget_waits_total", "counter", "PGET ... WAIT requests that waited for a value.",
        s.pget_waits);
  w.head("puppy_pset_total", "counter",
         "PSET answers: accepted, or refused because the lease had expired or was cancelled.");
  w.sample("puppy_pset_total", label("result", "accepted"), s.pset_accepted);
  w.sample("puppy_pset_total", label("result", "refused"), s.pset_refused);

  if (s.near_budget > 0) {
    w.one("puppy_near_cache_hits_total", "counter", "Requests answered from the near cache.",
          s.near_hits);
    w.one("puppy_near_cache_misses_total", "counter",
          "Near cache lookups that found no valid copy.", s.near_misses);
    w.one("puppy_near_cache_invalidations_total", "counter",
          "Near cache copies dropped by Redis's invalidations (or a lost tracking connection).",
          s.near_invalidations);
    w.one("puppy_near_cache_evictions_total", "counter", "Near cache copies dropped for room.",
          s.near_evictions);
    w.one("puppy_near_cache_fills_total", "counter", "Near cache copies stored.", s.near_fills);
    w.one("puppy_near_cache_bytes", "gauge", "Bytes held by the near cache.", s.near_bytes);
    w.one("puppy_near_cache_entries", "gauge", "Copies held by the near cache.", s.near_entries);
    w.one("puppy_near_cache_budget_bytes", "gauge", "The near cache's size (--near-cache-size).",
          s.near_budget);
  }

  w.one("puppy_upstream_connects_total", "counter",
        "Upstream connections established (and logged in).", s.upstream_connects);
  w.one("puppy_upstream_connect_failures_total", "counter",
        "Upstream connection attempts that failed.", s.upstream_connect_failures);
  if (s.cluster) {
    w.one("puppy_cluster_topology_refreshes_total", "counter",
          "Reads of the cluster's topology (CLUSTER SLOTS).", s.cluster_refreshes);
    w.one("puppy_cluster_unreachable_refreshes_total", "counter",
          "Topology reads asked for because a node could not be reached.",
          s.cluster_failure_refreshes);
    w.one("puppy_cluster_moved_total", "counter", "-MOVED redirections followed.", s.cluster_moved);
    w.one("puppy_cluster_ask_total", "counter", "-ASK redirections followed.", s.cluster_ask);
    w.one("puppy_cluster_retries_total", "counter",
          "Requests sent again after TRYAGAIN, CLUSTERDOWN or an unreachable node.",
          s.cluster_retries);
    const char* per_node[][2] = {
        {"puppy_cluster_node_requests_total", "Requests sent to a cluster node."},
        {"puppy_cluster_node_errors_total",
         "Requests to a cluster node answered with a connection error (unreachable, lost)."},
        {"puppy_cluster_node_redirections_total", "-MOVED and -ASK a cluster node answered."}};
    for (std::size_t i = 0; i < 3; ++i) {
      w.head(per_node[i][0], "counter", per_node[i][1]);
      for (const auto& [address, n] : s.cluster_nodes) {
        w.sample(per_node[i][0], label("node", address), n[i]);
      }
    }
  }

  const char* h = "puppy_upstream_request_duration_seconds";
  w.head(h, "histogram", "Upstream round trip of a request, sampled (docs/operations.md).");
  std::uint64_t cumulative = 0;
  const std::string bucket = std::string(h) + "_bucket";
  for (std::size_t i = 0; i < s.latency_buckets.size(); ++i) {
    cumulative += s.latency_buckets[i];
    const std::string le =
        i < latency_bounds_s.size() ? writer::number(latency_bounds_s[i]) : "+Inf";
    w.sample(bucket.c_str(), label("le", le), cumulative);
  }
  w.sample((std::string(h) + "_sum").c_str(), {}, static_cast<double>(s.latency_sum_ns) / 1e9);
  // The count is the +Inf bucket, as Prometheus expects.
  w.sample((std::string(h) + "_count").c_str(), {}, cumulative);
  return out;
}

}  // namespace puppy::metrics
