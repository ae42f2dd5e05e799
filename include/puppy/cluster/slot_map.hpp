#pragma once
// Which node serves each of Redis Cluster's 16384 hash slots, read from CLUSTER SLOTS, and the
// redirections a node answers with (-MOVED / -ASK). No sockets.
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "puppy/cluster/slot.hpp"

namespace puppy::cluster {

struct node {
  std::string host;  // as the cluster reports it (an IP, or a hostname)
  std::uint16_t port = 0;
  std::string id;  // the node id (may be empty in old replies)
  bool operator==(const node& o) const { return host == o.host && port == o.port; }
  std::string address() const { return host + ":" + std::to_string(port); }
};

class slot_map {
 public:
  // From CLUSTER SLOTS's RESP2 reply: [[start, end, master, replica...], ...], each node
  // [host, port, id, ...]. An empty host means the node that was asked: `asked_host` instead.
  static std::optional<slot_map> from_cluster_slots(std::string_view reply,
                                                    std::string_view asked_host,
                                                    std::string* error);

  // The master serving `slot`, or null if no node does.
  const node* master_of(std::uint16_t slot) const;
  const std::vector<node>& replicas_of(std::uint16_t slot) const;
  const std::vector<node>& masters() const { return masters_; }
  bool complete() const;  // every slot is served
  // Whether every slot has the same master in `other` (by address), or none in both.
  bool same_owners(const slot_map& other) const;
  // A -MOVED: `slot` is served by `n` from now on (a new master is added if need be).
  void moved(std::uint16_t slot, const node& n);

 private:
  static constexpr std::uint16_t none = 0xffff;
  std::size_t index_of(const node& n);
  std::vector<node> masters_;
  std::vector<std::vector<node>> replicas_;        // per master
  std::array<std::uint16_t, slot_count> owner_{};  // slot -> index in masters_, or none
};

struct redirect {
  enum class kind : std::uint8_t { moved, ask } what = kind::moved;
  std::uint16_t slot = 0;
  node to;
};

// Reads "-MOVED <slot> <host>:<port>" or "-ASK ..." (an error reply's bytes, with or without
// the leading '-' and the CRLF); nullopt for any other error or a malformed one. The host may
// be an IPv6 address (the port is after the last ':') or empty (the node that answered).
std::optional<redirect> parse_redirect(std::string_view error_reply);

}  // namespace puppy::cluster
