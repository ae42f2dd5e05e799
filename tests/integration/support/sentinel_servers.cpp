#include "sentinel_servers.hpp"

#include <fstream>
#include <stdexcept>

#include "client.hpp"

namespace puppy::test {
namespace {

std::string bulk(const std::string& s) {
  return "$" + std::to_string(s.size()) + "\r\n" + s + "\r\n";
}

std::size_t occurrences(const std::string& haystack, const std::string& needle) {
  std::size_t n = 0;
  for (auto at = haystack.find(needle); at != std::string::npos;
       at = haystack.find(needle, at + needle.size())) {
    ++n;
  }
  return n;
}

bool says_master(const std::string& role_reply) {
  return role_reply.rfind("*3\r\n$6\r\nmaster\r\n", 0) == 0;
}

// The port in a SENTINEL get-master-addr-by-name reply; 0 for nil, an error or nothing.
std::uint16_t addr_port(const std::string& reply) {
  if (reply.rfind("*2\r\n", 0) != 0) return 0;
  const auto addr = bulk_strings(reply);
  return addr.size() == 2 ? static_cast<std::uint16_t>(std::stoul(addr[1])) : 0;
}

}  // namespace

// A Redis Sentinel. Debian 12's redis-server package has no redis-sentinel (that is the package
// redis-sentinel, a link to the same multi-call binary): `redis-server <conf> --sentinel` runs
// the same code. The config file must be writable: a sentinel rewrites it (its id, the replicas
// and sentinels it discovers, a new primary).
struct redis_sentinel_set::sentinel_process {
  std::string dir = make_temp_dir("puppy-test-sentinel");
  std::uint16_t port = 0;
  process proc;
  ~sentinel_process() {
    proc.stop(9, 10s);
    remove_temp_dir(dir);
  }
};

redis_sentinel_set::redis_sentinel_set(sentinel_set_options options)
    : master_name_(std::move(options.master_name)),
      password_(std::move(options.sentinel_password)),
      tls_(options.tls) {
  const int replicas = options.replicas;
  const int sentinels = options.sentinels;
  if (replicas < 0 || sentinels < 1) {
    throw std::invalid_argument("redis_sentinel_set needs replicas >= 0 and sentinels >= 1");
  }
  // A primary does a full sync only after repl-diskless-sync-delay (5 s by default), waiting
  // for more replicas to come: 0 here (every node, since any may become the primary).
  const auto start_node = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {"--repl-diskless-sync-delay", "0"});
    if (!tls_) return std::make_unique<redis_server>(std::move(args));
    args.insert(args.end(), {"--tls-replication", "yes"});
    return std::make_unique<redis_server>(redis_tls{}, std::move(args));
  };
  nodes_.push_back(start_node({}));
  const std::uint16_t primary_port = nodes_[0]->port();
  for (int i = 0; i < replicas; ++i) {
    nodes_.push_back(start_node({"--replicaof", "127.0.0.1", std::to_string(primary_port)}));
  }
  for (std::size_t i = 1; i < nodes_.size(); ++i) {
    polled_connection c(nodes_[i]->port(), "", node_options());
    const bool synced = wait_until(
        [&] {
          return c.call({"INFO", "replication"}).find("master_link_status:up") != std::string::npos;
        },
        30s);
    if (!synced) throw std::runtime_error("a replica of the sentinel set did not sync");
  }

  const int quorum = sentinels >= 3 ? sentinels / 2 + 1 : 1;
  for (int i = 0; i < sentinels; ++i) {
    auto s = std::make_unique<sentinel_process>();
    const std::string conf = s->dir + "/sentinel.conf";
    const std::string log = s->dir + "/sentinel.log";
    for (int attempt = 0;; ++attempt) {
      s->port = free_port();
      {
        std::ofstream out(conf, std::ios::trunc);
        out << "port " << s->port << "\n"
            << "bind 127.0.0.1\n"
            << "daemonize no\n"
            << "dir " << s->dir << "\n"
            << "logfile \"\"\n"  // stdout: the process's log file
            << "sentinel monitor " << master_name_ << " 127.0.0.1 " << primary_port << " " << quorum
            << "\n"
            << "sentinel down-after-milliseconds " << master_name_ << " 1000\n"
            << "sentinel failover-timeout " << master_name_ << " 5000\n"
            << "sentinel parallel-syncs " << master_name_ << " 1\n";
        if (tls_) {
          // Announced to the other sentinels in hello messages, and reached over TLS.
          const std::string pki = test_pki();
          out << "tls-port " << free_port() << "\n"
              << "tls-cert-file " << pki << "/server.crt\n"
              << "tls-key-file " << pki << "/server.key\n"
              << "tls-ca-cert-file " << pki << "/ca.crt\n"
              << "tls-auth-clients no\n"
              << "tls-replication yes\n";
        }
        if (!password_.empty()) {
          out << "requirepass " << password_ << "\n"
              << "sentinel sentinel-pass " << password_ << "\n";
        }
        if (!out) throw std::runtime_error("cannot write " + conf);
      }
      s->proc = process({"redis-server", conf, "--sentinel"}, log);
      if (wait_until([&] { return !s->proc.running() || answers_ping(s->port); }, 20s) &&
          s->proc.running()) {
        break;
      }
      s->proc.stop(9, 5s);
      if (attempt == 4) {  // else the picked port was taken meanwhile: pick another
        throw std::runtime_error("redis-sentinel did not start on port " + std::to_string(s->port) +
                                 ": " + read_file(log));
      }
    }
    sentinels_.push_back(std::move(s));
  }

  // Every sentinel must know the primary, every replica (connected, its link to the primary up)
  // and every other sentinel (found through hello messages, every 2 s) before a failover can
  // work: a replica unknown to the sentinels cannot be promoted, and the sentinels elect the
  // leader of a failover among themselves.
  for (std::size_t i = 0; i < sentinels_.size(); ++i) {
    polled_connection c(sentinels_[i]->port, password_);
    std::string addr, known_replicas, known_sentinels;
    const bool ready = wait_until(
        [&] {
          addr = c.call({"SENTINEL", "GET-MASTER-ADDR-BY-NAME", master_name_});
          if (addr_port(addr) != primary_port) return false;
          known_replicas = c.call({"SENTINEL", "REPLICAS", master_name_});
          if (occurrences(known_replicas, bulk("flags") + bulk("slave")) !=
                  static_cast<std::size_t>(replicas) ||
              occurrences(known_replicas, bulk("master-link-status") + bulk("ok")) !=
                  static_cast<std::size_t>(replicas)) {
            return false;
          }
          known_sentinels = c.call({"SENTINEL", "SENTINELS", master_name_});
          return occurrences(known_sentinels, bulk("flags") + bulk("sentinel")) ==
                 static_cast<std::size_t>(sentinels - 1);
        },
        60s);
    if (!ready) {
      throw std::runtime_error("sentinel " + std::to_string(i) + " (port " +
                               std::to_string(sentinels_[i]->port) +
                               ") did not learn the set: master " + addr + " replicas " +
                               known_replicas + " sentinels " + known_sentinels);
    }
  }
}

redis_sentinel_set::~redis_sentinel_set() {
  sentinels_.clear();  // first: no failover while the nodes go
  nodes_.clear();
}

std::uint16_t redis_sentinel_set::sentinel_port(std::size_t i) const {
  return sentinels_[i]->port;
}

std::string redis_sentinel_set::url() const {
  std::string out = tls_ ? "rediss-sentinel://" : "redis-sentinel://";
  for (std::size_t i = 0; i < sentinels_.size(); ++i) {
    out += (i > 0 ? ",127.0.0.1:" : "127.0.0.1:") + std::to_string(sentinels_[i]->port);
  }
  return out + "/" + master_name_;
}

client_options redis_sentinel_set::node_options() const {
  client_options options;
  if (tls_) {
    options.tls = true;
    options.ca_file = test_pki() + "/ca.crt";
  }
  return options;
}

std::optional<std::size_t> redis_sentinel_set::primary() {
  std::optional<std::size_t> found;
  for (std::size_t i = 0; i < nodes_.size(); ++i) {
    if (!nodes_[i]->running()) continue;
    if (!says_master(polled_connection(nodes_[i]->port(), "", node_options()).call({"ROLE"}))) {
      continue;
    }
    if (found) return std::nullopt;
    found = i;
  }
  return found;
}

std::uint16_t redis_sentinel_set::sentinel_primary_port(std::size_t sentinel) {
  if (!sentinels_[sentinel]->proc.running()) return 0;
  return addr_port(polled_connection(sentinels_[sentinel]->port, password_)
                       .call({"SENTINEL", "GET-MASTER-ADDR-BY-NAME", master_name_}));
}

void redis_sentinel_set::failover(std::size_t sentinel) {
  raw_client c(sentinels_.at(sentinel)->port);
  if (!password_.empty() && c.call({"AUTH", password_}) != "+OK\r\n") {
    throw std::runtime_error("AUTH to sentinel " + std::to_string(sentinel) + " failed");
  }
  const std::string reply = c.call({"SENTINEL", "FAILOVER", master_name_});
  if (reply != "+OK\r\n")
    throw std::runtime_error("SENTINEL FAILOVER " + master_name_ + ": " + reply);
}

bool redis_sentinel_set::await_primary_change(std::uint16_t old_port,
                                              std::chrono::milliseconds timeout) {
  std::vector<polled_connection> to_sentinels;
  for (const auto& s : sentinels_) to_sentinels.emplace_back(s->port, password_);
  std::vector<polled_connection> to_nodes;
  for (const auto& n : nodes_) to_nodes.emplace_back(n->port(), "", node_options());
  return wait_until(
      [&] {
        std::uint16_t named = 0;
        for (std::size_t i = 0; i < sentinels_.size(); ++i) {
          if (!sentinels_[i]->proc.running()) continue;
          const std::uint16_t port = addr_port(
              to_sentinels[i].call({"SENTINEL", "GET-MASTER-ADDR-BY-NAME", master_name_}));
          if (port == 0 || port == old_port || (named != 0 && port != named)) return false;
          named = port;
        }
        for (std::size_t i = 0; i < nodes_.size(); ++i) {
          if (nodes_[i]->port() == named) {
            return nodes_[i]->running() && says_master(to_nodes[i].call({"ROLE"}));
          }
        }
        return false;
      },
      timeout);
}

void redis_sentinel_set::kill_sentinel(std::size_t i) {
  sentinels_.at(i)->proc.stop(9, 10s);
}

}  // namespace puppy::test
