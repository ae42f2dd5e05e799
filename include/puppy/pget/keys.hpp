#pragma once
// Where a value's freshness status lives. By default the status key is "puppy:<key>", as
// django-puppy-cache names it. In cluster mode the status key must hash to the same slot as the
// data key; see status_key() for the rule.
#include <string>
#include <string_view>
#include <vector>

namespace puppy::pget {

struct key_rules {
  std::string status_prefix = "puppy:";
  bool cluster = false;
  std::string wake_channel = "puppy:wake";  // PSET/PRELEASE/PINVALIDATE publish the key here
};

// Builds the status key for `key` into *out. Without cluster mode: prefix + key. In cluster mode:
// if the key has a hash tag ("{...}" with something inside, the first such pair), prefix + key
// already hashes like the key; otherwise prefix + "{" + key + "}" does, unless the key contains
// '}' (then no status key can share its slot, and the function fails with *error set). It also
// fails for an empty prefix, and in cluster mode for a prefix with '{' or an empty key.
bool status_key(std::string_view key, const key_rules& rules, std::string* out, std::string* error);

// In front of a Redis Cluster, the channel argument that makes the script publish a key's
// changes with SPUBLISH on "<wake channel>:<status key>": a shard channel of the key's own slot
// (the status key's hash tag), so that a change costs one node, not every node of the cluster.
// The script takes the "shard:" prefix as that instruction.
std::string shard_wake_channel(const key_rules& rules, std::string_view status_key);
// The shard channel itself (what to SSUBSCRIBE): shard_wake_channel() without its prefix.
std::string_view shard_channel_name(std::string_view shard_wake_channel);

// The data keys whose status key `name` may be (none if it does not start with the prefix; in
// cluster mode "prefix{k}" may be the status of "k" or of "{k}", so both). Views into `name`.
void data_keys_of(std::string_view name, const key_rules& rules,
                  std::vector<std::string_view>* out);

}  // namespace puppy::pget
