#include "corpus.hpp"

#include <dirent.h>
#include <algorithm>
#include <catch2/catch.hpp>
#include <fstream>
#include <sstream>

#include "process.hpp"
#include "puppy/cluster/slot.hpp"
#include "puppy/resp/inline_split.hpp"

namespace puppy::test {
namespace {

enum class compare { bytes, mask, sorted, type };

std::string mask_digits(const std::string& s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] >= '0' && s[i] <= '9') {
      out += '0';
      while (i + 1 < s.size() && s[i + 1] >= '0' && s[i + 1] <= '9') ++i;
    } else {
      out += s[i];
    }
  }
  return out;
}

// The elements of a top-level aggregate reply, each as its own bytes, sorted.
std::string sorted_elements(const std::string& reply) {
  const auto header_end = reply.find("\r\n");
  if (header_end == std::string::npos || std::string("*~%>").find(reply[0]) == std::string::npos) {
    return reply;
  }
  std::vector<std::string> elements;
  std::size_t pos = header_end + 2;
  while (pos < reply.size()) {
    puppy::resp::reply_scanner scanner;
    const auto r = scanner.scan(reply.data() + pos, reply.size() - pos);
    if (r.status != puppy::resp::scan_status::reply) return reply;
    elements.push_back(reply.substr(pos, r.consumed));
    pos += r.consumed;
  }
  std::sort(elements.begin(), elements.end());
  std::string out = reply.substr(0, header_end + 2);
  for (const auto& e : elements) out += e;
  return out;
}

std::string normalise(const std::string& reply, compare how) {
  switch (how) {
    case compare::bytes:
      return reply;
    case compare::mask:
      return mask_digits(reply);
    case compare::sorted:
      return sorted_elements(reply);
    case compare::type:
      return reply.substr(0, 1);
  }
  return reply;
}

struct connection_pair {
  std::unique_ptr<raw_client> direct;
  std::unique_ptr<raw_client> proxied;
};

}  // namespace

struct corpus_runner::impl {
  impl(std::uint16_t direct_port, std::uint16_t proxy_port)
      : direct_port_(direct_port), proxy_port_(proxy_port) {}

  // For @blocked, per side: its Redis servers (a cluster's nodes); none: it waits for nothing.
  std::vector<std::vector<std::uint16_t>> redis_ports_;
  client_options second_;        // the second side's connections (TLS)
  client_options second_redis_;  // its Redis's, for @blocked

  void run_file(const std::string& path) {
    std::ifstream in(path);
    REQUIRE(in.good());
    std::vector<std::string> lines;
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    if (cluster_keys_) tag_cross_slot_keys(lines);
    int number = 0;
    for (const auto& line : lines) {
      ++number;
      if (line.empty() || line[0] == '#') continue;
      where_ = path.substr(path.rfind('/') + 1) + ":" + std::to_string(number) + ": " + line;
      run_line(line);
    }
    conns_.clear();
    current_ = 1;
    renamed_.clear();
  }

  // The command of a corpus line (after its directive), or none.
  static std::vector<std::string> command_of(const std::string& line) {
    if (line.empty() || line[0] == '#') return {};
    if (line[0] != '@') return split(line);
    const auto space = line.find(' ');
    const std::string directive = line.substr(0, space);
    std::string rest = space == std::string::npos ? "" : line.substr(space + 1);
    if (directive == "@replies") rest = rest.substr(rest.find(' ') + 1);
    if (directive == "@send" || directive == "@replies" || directive == "@mask" ||
        directive == "@sorted" || directive == "@type") {
      return split(rest);
    }
    return {};
  }

  // In front of a cluster: keys that a command other than the ones the proxy splits uses
  // together, in different slots, get one hash tag per group ("{g1}name"), on every line, so
  // that the file runs without -CROSSSLOT and every other key stays where its name puts it.
  // A transaction's keys (WATCH's included) are used together too. COMMAND GETKEYS on the
  // reference Redis names each line's keys.
  void tag_cross_slot_keys(const std::vector<std::string>& lines) {
    raw_client ask(direct_port_);
    std::map<std::string, std::string> parent;
    const auto find = [&parent](std::string k) {
      while (parent.count(k) > 0 && parent[k] != k) k = parent[k];
      return k;
    };
    std::map<std::string, std::string> together;  // connection -> a key of its WATCH/MULTI
    std::map<std::string, bool> in_multi;         // connection -> inside MULTI
    std::string conn = "1";
    for (const auto& line : lines) {
      if (line.rfind("@conn ", 0) == 0) conn = line.substr(6);
      auto args = command_of(line);
      if (args.empty()) continue;
      std::string name = args[0];
      for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      if (name == "multi") in_multi[conn] = true;
      if (name == "exec" || name == "discard" || name == "reset") {
        in_multi[conn] = false;
        together.erase(conn);
      }
      const bool grouped = in_multi[conn] || name == "watch";
      if (!grouped && (name == "mget" || name == "mset" || name == "del" || name == "unlink" ||
                       name == "exists" || name == "touch")) {
        continue;
      }
      args.insert(args.begin(), {"COMMAND", "GETKEYS"});
      const std::string reply = ask.call(args);
      if (reply.empty() || reply[0] != '*') continue;
      std::vector<std::string> keys = bulk_strings(reply);
      if (grouped && !keys.empty()) {
        if (together.count(conn) > 0) keys.push_back(together[conn]);
        together[conn] = keys.front();
      }
      for (const auto& k : keys) {
        if (parent.count(k) == 0) parent[k] = k;
      }
      for (std::size_t i = 1; i < keys.size(); ++i) parent[find(keys[i])] = find(keys[0]);
    }
    std::map<std::string, std::vector<std::string>> groups;
    for (const auto& [k, p] : parent) groups[find(k)].push_back(k);
    int n = 0;
    for (const auto& [root, keys] : groups) {
      bool spans = false;
      for (const auto& k : keys) {
        if (puppy::cluster::key_slot(k) != puppy::cluster::key_slot(keys.front())) spans = true;
      }
      if (!spans) continue;
      const std::string tag = "{g" + std::to_string(++n) + "}";
      for (const auto& k : keys) renamed_[k] = tag + k;
    }
  }

  std::string encode_line(std::vector<std::string> args) const {
    for (std::size_t i = 1; i < args.size(); ++i) {
      if (auto it = renamed_.find(args[i]); it != renamed_.end()) args[i] = it->second;
    }
    return encode(args);
  }

  connection_pair& conn() {
    auto& c = conns_[current_];
    if (!c.direct) {
      c.direct = std::make_unique<raw_client>(direct_port_);
      c.proxied = std::make_unique<raw_client>(proxy_port_, second_);
    }
    return c;
  }

  void check_replies(std::size_t n, compare how) {
    auto& c = conn();
    for (std::size_t i = 0; i < n; ++i) {
      const std::string direct = c.direct->read_reply();
      const std::string proxied = c.proxied->read_reply();
      INFO(where_);
      REQUIRE(normalise(proxied, how) == normalise(direct, how));
    }
  }

  void send_both(const std::string& bytes) {
    auto& c = conn();
    c.direct->send(bytes);
    c.proxied->send(bytes);
  }

  static std::vector<std::string> split(const std::string& text) {
    std::vector<std::string> args;
    REQUIRE(puppy::resp::split_inline_args(text, &args));
    return args;
  }

  void run_line(const std::string& line) {
    if (line[0] != '@') {
      send_both(encode_line(split(line)));
      check_replies(1, compare::bytes);
      return;
    }
    const auto space = line.find(' ');
    const std::string directive = line.substr(0, space);
    const std::string rest = space == std::string::npos ? "" : line.substr(space + 1);
    if (directive == "@conn") {
      current_ = std::stoi(rest);
    } else if (directive == "@send") {
      send_both(encode_line(split(rest)));
    } else if (directive == "@blocked") {
      // Both Redis servers have this many clients blocked: the @send before has arrived.
      // (A cluster's: the sum over its nodes.)
      for (std::size_t i = 0; i < redis_ports_.size(); ++i) {
        std::vector<std::unique_ptr<raw_client>> nodes;
        for (const auto port : redis_ports_[i]) {
          nodes.push_back(
              std::make_unique<raw_client>(port, i == 1 ? second_redis_ : client_options{}));
        }
        const long want = std::stol(rest);
        INFO(where_);
        REQUIRE(wait_until(
            [&] {
              long sum = 0;
              for (auto& n : nodes) {
                const std::string info = n->call({"INFO", "clients"});
                const auto at = info.find("blocked_clients:");
                if (at != std::string::npos) sum += std::stol(info.substr(at + 16));
              }
              return sum == want;
            },
            10s));
      }
    } else if (directive == "@recv") {
      check_replies(1, compare::bytes);
    } else if (directive == "@replies") {
      const auto sp = rest.find(' ');
      send_both(encode_line(split(rest.substr(sp + 1))));
      check_replies(std::stoul(rest.substr(0, sp)), compare::bytes);
    } else if (directive == "@inline") {
      send_both(rest + "\r\n");
      check_replies(1, compare::bytes);
    } else if (directive == "@mask" || directive == "@sorted" || directive == "@type") {
      send_both(encode_line(split(rest)));
      check_replies(1, directive == "@mask"     ? compare::mask
                       : directive == "@sorted" ? compare::sorted
                                                : compare::type);
    } else {
      FAIL("unknown directive " << directive);
    }
  }

  std::uint16_t direct_port_;
  std::uint16_t proxy_port_;
  std::map<int, connection_pair> conns_;
  int current_ = 1;
  std::string where_;  // file:line: text of the corpus line being run
  bool cluster_keys_ = false;
  std::map<std::string, std::string> renamed_;  // key -> hash-tagged key (cluster_keys_)
};

corpus_runner::corpus_runner(std::uint16_t first_port, std::uint16_t second_port)
    : impl_(std::make_unique<impl>(first_port, second_port)) {}
corpus_runner::~corpus_runner() = default;
void corpus_runner::set_redis_ports(std::uint16_t first_redis, std::uint16_t second_redis) {
  impl_->redis_ports_ = {{first_redis}, {second_redis}};
}

void corpus_runner::set_redis_ports(std::uint16_t first_redis,
                                    const std::vector<std::uint16_t>& second_redis) {
  impl_->redis_ports_ = {{first_redis}, second_redis};
}
void corpus_runner::set_cluster_keys(bool on) {
  impl_->cluster_keys_ = on;
}
void corpus_runner::set_second_options(const client_options& side, const client_options& redis) {
  impl_->second_ = side;
  impl_->second_redis_ = redis;
}

void corpus_runner::run_file(const std::string& path) {
  impl_->run_file(path);
}

std::vector<std::string> corpus_files(const std::string& dir) {
  std::vector<std::string> files;
  if (DIR* d = opendir(dir.c_str())) {
    while (dirent* e = readdir(d)) {
      const std::string name = e->d_name;
      if (name.size() > 6 && name.compare(name.size() - 6, 6, ".redis") == 0) {
        files.push_back(dir + "/" + name);
      }
    }
    closedir(d);
  }
  std::sort(files.begin(), files.end());
  return files;
}

}  // namespace puppy::test
