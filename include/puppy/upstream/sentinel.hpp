#pragma once
// Talking to Redis Sentinel about the primary, on bytes (the connections are server/'s): the
// question (SENTINEL get-master-addr-by-name), ROLE's answer from the node it names, and the
// +switch-master message sentinels publish when they fail a primary over (the Sentinel clients'
// guide: ask the sentinels in turn, check the address with ROLE, follow +switch-master, and
// learn the other sentinels watching the primary).
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "puppy/upstream/address.hpp"

namespace puppy::upstream::sentinel {

// The requests, as RESP.
std::string ask_primary(std::string_view master_name);    // SENTINEL get-master-addr-by-name
std::string ask_role();                                   // ROLE
std::string subscribe_switches();                         // SUBSCRIBE +switch-master
std::string ask_sentinels(std::string_view master_name);  // SENTINEL sentinels

// A sentinel's answer to ask_primary(): the primary's address, or why there is none (the
// sentinel does not know the name: "unknown master"; an error reply's text; a malformed reply).
struct primary_answer {
  std::optional<host_port> primary;
  std::string why;
};
primary_answer parse_primary(std::string_view reply);

// The role a node gives in its reply to ROLE ("master", "slave", "sentinel"), or empty when
// the reply is an error or not ROLE's.
std::string parse_role(std::string_view reply);

// A `+switch-master` message's payload, "<name> <old ip> <old port> <new ip> <new port>": the
// new primary if it is about `master_name`, else nullopt.
std::optional<host_port> parse_switch(std::string_view payload, std::string_view master_name);

// A sentinel's answer to ask_sentinels(): the address ("ip", "port") of every other sentinel
// watching the primary, in the order given. Left out: entries without a usable address, and
// sentinels it believes down or cannot reach ("flags" holding s_down, o_down or disconnected:
// a sentinel forgets none until SENTINEL RESET, so one that is gone for good stays listed).
// An error or malformed reply gives none.
std::vector<host_port> parse_sentinels(std::string_view reply);

// How many sentinels the proxy knows at most: the ones configured, then the ones learned from
// ask_sentinels() (a deployment has three or five; the bound keeps a wrong answer from growing
// the list the proxy asks in turn without end).
inline constexpr std::size_t max_known_sentinels = 32;

// Adds the addresses of `found` that `known` does not hold, at its end, until it holds
// `limit`; returns how many it added.
std::size_t add_sentinels(std::vector<host_port>* known, const std::vector<host_port>& found,
                          std::size_t limit = max_known_sentinels);

// A message on a subscribed connection (RESP2, as the proxy's sentinel connections speak): the
// channel and the payload of a "message", or nullopt for anything else (the subscription's
// confirmation).
struct message {
  std::string channel;
  std::string payload;
};
std::optional<message> parse_message(std::string_view reply);

}  // namespace puppy::upstream::sentinel
