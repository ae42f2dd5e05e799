// A worker's view of a Redis Cluster: topology reads, the slot map, the node connections.
#include "puppy/server/cluster_nodes.hpp"

#include <spdlog/spdlog.h>
#include <algorithm>
#include <boost/asio/post.hpp>

#include "puppy/server/tracking_link.hpp"
#include "puppy/server/worker.hpp"

namespace puppy::server {
namespace asio = boost::asio;

namespace {

constexpr std::string_view cluster_slots_request = "*2\r\n$7\r\nCLUSTER\r\n$5\r\nSLOTS\r\n";
constexpr std::string_view command_request = "*1\r\n$7\r\nCOMMAND\r\n";

std::string error_text(std::string_view reply) {
  std::string_view s = reply.substr(1);
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.remove_suffix(1);
  return std::string(s);
}

}  // namespace

cluster_nodes::cluster_nodes(worker& owner, const std::vector<upstream::host_port>& seeds)
    : owner_(owner), timer_(owner.context()) {
  for (const auto& s : seeds) seeds_.push_back({s.host, s.port, {}});
  // The first read starts on the worker's own thread.
  asio::post(owner_.context(), [this] { start_read(); });
}

cluster_nodes::~cluster_nodes() = default;

void cluster_nodes::when_ready(std::function<void()> fn) {
  if (ready()) {
    fn();
    return;
  }
  waiting_.push_back(std::move(fn));
  if (!reading_) refresh(false);
}

cluster_nodes::link& cluster_nodes::at(const cluster::node& n, bool resp3, bool replica) {
  auto& l = links_[(resp3 ? 1 : 0) + (replica ? 2 : 0)][n.address()];
  if (!l) {
    l = std::make_unique<link>(owner_, upstream::host_port{n.host, n.port});
    l->count_in(&owner_.stats().node(n.address()));
    if (resp3) l->speak_resp3();
    if (replica) l->greet_with("*1\r\n$8\r\nREADONLY\r\n");
  }
  return *l;
}

cluster_nodes::link* cluster_nodes::replica_for(std::uint16_t slot, bool resp3, bool skip_down) {
  if (!map_) return nullptr;
  const auto& replicas = map_->replicas_of(slot);
  for (std::size_t tried = 0; tried < replicas.size(); ++tried) {
    link& l = at(replicas[next_replica_++ % replicas.size()], resp3, true);
    if (!skip_down || !l.down()) return &l;
  }
  return nullptr;
}

cluster_nodes::link* cluster_nodes::for_slot(std::uint16_t slot, bool resp3) {
  if (!map_) return nullptr;
  const cluster::node* n = map_->master_of(slot);
  if (n == nullptr) return nullptr;
  const auto index = static_cast<std::size_t>(n - map_->masters().data());
  auto& cache = resp3 ? master_links3_ : master_links_;
  if (index >= cache.size()) cache.resize(index + 1, nullptr);
  if (cache[index] == nullptr) cache[index] = &at(*n, resp3);
  return cache[index];
}

tracking_link* cluster_nodes::tracking_for(std::uint16_t slot) {
  const cluster::node* n = map_ ? map_->master_of(slot) : nullptr;
  if (n == nullptr) return nullptr;
  auto& t = tracking_[n->address()];
  if (!t) t = std::make_unique<tracking_link>(owner_, upstream::host_port{n->host, n->port}, false);
  return t.get();
}

void cluster_nodes::near_after(const cluster::slot_map& before) {
  if (!owner_.near_on()) return;
  if (!before.same_owners(*map_)) {
    owner_.log().debug("near cache: a slot changed owner; every copy dropped");
    owner_.near().clear();
  }
  for (auto& [address, t] : tracking_) {
    bool master = false;
    for (const auto& m : map_->masters()) master = master || m.address() == address;
    if (!master) t->drop("no longer a master");
  }
}

void cluster_nodes::index_commands() {
  routes_.clear();
  for (const auto& [name, specs] : specs_) {
    command_route& r = routes_[name];
    r.specs = &specs;
    r.blocking = blocking_.count(name) > 0;
    r.readonly = readonly_.count(name) > 0;
  }
  for (const auto& [name, specs] : specs_) {
    const auto bar = name.find('|');
    if (bar != std::string::npos) {
      if (auto it = routes_.find(name.substr(0, bar)); it != routes_.end())
        it->second.container = true;
    }
  }
}

const cluster_nodes::command_route* cluster_nodes::route(const std::string& name) const {
  const auto it = routes_.find(name);
  return it == routes_.end() ? nullptr : &it->second;
}

const cluster::node* cluster_nodes::any() {
  if (scan_order_.empty()) return nullptr;
  return &scan_order_[next_any_++ % scan_order_.size()];
}

void cluster_nodes::set_map(cluster::slot_map map) {
  std::optional<cluster::slot_map> old_map;
  if (map_) {
    std::vector<std::string> before, after;
    for (const auto& m : map_->masters()) before.push_back(m.address());
    for (const auto& m : map.masters()) after.push_back(m.address());
    std::sort(before.begin(), before.end());
    std::sort(after.begin(), after.end());
    if (before != after) {
      owner_.log().info("cluster masters now: {}", fmt::join(after, ", "));
      want_specs_ = true;  // other servers: their commands may differ (a rolling upgrade)
    }
    if (owner_.near_on()) old_map = std::move(map_);
  }
  map_ = std::move(map);
  if (old_map) near_after(*old_map);
  master_links_.assign(map_->masters().size(), nullptr);
  master_links3_.assign(map_->masters().size(), nullptr);
  update_scan_order();
}

void cluster_nodes::update_scan_order() {
  scan_order_.clear();
  std::vector<bool> seen(map_->masters().size(), false);
  for (std::uint32_t slot = 0; slot < cluster::slot_count; ++slot) {
    const cluster::node* n = map_->master_of(static_cast<std::uint16_t>(slot));
    if (n == nullptr) continue;
    const auto index = static_cast<std::size_t>(n - map_->masters().data());
    if (index < seen.size() && !seen[index]) {
      seen[index] = true;
      scan_order_.push_back(*n);
    }
  }
}

void cluster_nodes::moved(const cluster::redirect& r) {
  if (map_) {
    const cluster::node* was = map_->master_of(r.slot);
    if (owner_.near_on() && (was == nullptr || !(*was == r.to))) {
      owner_.log().debug("near cache: slot {} moved to {}; every copy dropped", r.slot,
                         r.to.address());
      owner_.near().clear();
    }
    map_->moved(r.slot, r.to);
    if (master_links_.size() < map_->masters().size()) {
      master_links_.resize(map_->masters().size(), nullptr);
      master_links3_.resize(map_->masters().size(), nullptr);
    }
    update_scan_order();
  }
  refresh(false);
}

void cluster_nodes::refresh(bool failure) {
  if (closed_) return;
  if (failure) owner_.stats().cluster_failure_refreshes.add();
  if (reading_) {
    read_again_ = true;
    return;
  }
  const auto since = std::chrono::steady_clock::now() - last_read_;
  if (since >= min_refresh_gap) {
    start_read();
  } else {
    arm_timer(std::chrono::duration_cast<std::chrono::milliseconds>(min_refresh_gap - since));
  }
}

void cluster_nodes::arm_timer(std::chrono::milliseconds after) {
  timer_.expires_after(after);  // cancels a wait already armed
  timer_.async_wait([this](const boost::system::error_code& ec) {
    if (!ec && !closed_) start_read();
  });
}

void cluster_nodes::start_read() {
  if (closed_) return;
  if (reading_) {
    read_again_ = true;
    return;
  }
  reading_ = true;
  read_again_ = false;
  last_read_ = std::chrono::steady_clock::now();
  owner_.stats().cluster_refreshes.add();
  // The masters known, then the seeds: the first that answers tells.
  candidates_.clear();
  const auto add = [this](const cluster::node& n) {
    for (const auto& c : candidates_) {
      if (c == n) return;
    }
    candidates_.push_back(n);
  };
  if (map_) {
    for (const auto& m : scan_order_) add(m);
  }
  for (const auto& s : seeds_) add(s);
  read_errors_.clear();
  try_candidate(0);
}

void cluster_nodes::try_candidate(std::size_t index) {
  for (; index < candidates_.size(); ++index) {
    link& l = at(candidates_[index]);
    if (!l.down()) break;
    read_errors_ += (read_errors_.empty() ? "" : "; ") + candidates_[index].address() + " down";
  }
  if (index >= candidates_.size()) {
    finish_read(read_errors_.empty() ? "no node to ask" : read_errors_);
    return;
  }
  at(candidates_[index]).send(cluster_slots_request, [this, index](std::string_view reply) {
    if (!closed_) on_slots(index, reply);
  });
}

void cluster_nodes::on_slots(std::size_t index, std::string_view reply) {
  const cluster::node& asked = candidates_[index];
  std::string error;
  std::optional<cluster::slot_map> m;
  if (!reply.empty() && reply[0] == '-') {
    error = error_text(reply);
  } else {
    m = cluster::slot_map::from_cluster_slots(reply, asked.host, &error);
    if (m && m->masters().empty()) {
      m.reset();
      error = "no slot is assigned";
    }
  }
  if (!m) {
    read_errors_ += (read_errors_.empty() ? "" : "; ") + asked.address() + ": " + error;
    try_candidate(index + 1);
    return;
  }
  set_map(std::move(*m));
  if (!want_specs_) {
    finish_read({});
    return;
  }
  at(asked).send(command_request, [this, index](std::string_view r) {
    if (closed_) return;
    cluster::key_spec_table specs;
    std::unordered_set<std::string> blocking, readonly;
    std::string why;
    if (!cluster::parse_command_info(r, &specs, &why, &blocking, &readonly)) {
      read_errors_ +=
          (read_errors_.empty() ? "" : "; ") + candidates_[index].address() + ": COMMAND: " + why;
      try_candidate(index + 1);
      return;
    }
    specs_ = std::move(specs);
    blocking_ = std::move(blocking);
    readonly_ = std::move(readonly);
    index_commands();
    specs_loaded_ = true;
    want_specs_ = false;
    finish_read({});
  });
}

void cluster_nodes::finish_read(const std::string& error) {
  reading_ = false;
  if (!error.empty()) {
    if (last_error_.empty()) {
      owner_.log().warn("cannot read the cluster's topology: {}", error);
    } else {
      owner_.log().debug("cannot read the cluster's topology: {}", error);
    }
  } else if (!last_error_.empty()) {
    owner_.log().info("cluster topology read again");
  }
  last_error_ = error;
  auto waiting = std::move(waiting_);
  waiting_.clear();
  for (auto& fn : waiting) fn();
  if (closed_) return;
  if (read_again_) {
    arm_timer(min_refresh_gap);
  } else if (!error.empty() || !ready()) {
    arm_timer(owner_.config().retry_min);
  } else {
    arm_timer(owner_.config().cluster_refresh_interval);
  }
}

void cluster_nodes::close() {
  closed_ = true;
  timer_.cancel();
  for (auto& kind : links_) {
    for (auto& [name, l] : kind) l->close();
  }
  for (auto& [name, t] : tracking_) t->close();
  waiting_.clear();
}

}  // namespace puppy::server
