#include "puppy/pget/keys.hpp"

namespace puppy::pget {
namespace {

// Redis Cluster's rule: the part between the first '{' and the first '}' after it, if not empty.
bool has_hash_tag(std::string_view key) {
  const auto open = key.find('{');
  if (open == std::string_view::npos) return false;
  const auto close = key.find('}', open + 1);
  return close != std::string_view::npos && close > open + 1;
}

}  // namespace

bool status_key(std::string_view key, const key_rules& rules, std::string* out,
                std::string* error) {
  if (rules.status_prefix.empty()) {
    *error = "the status key prefix must not be empty (the status would overwrite the value)";
    return false;
  }
  if (rules.cluster && rules.status_prefix.find('{') != std::string::npos) {
    *error = "in cluster mode the status key prefix must not contain '{'";
    return false;
  }
  if (rules.cluster && key.empty()) {
    *error = "in cluster mode the key must not be empty";
    return false;
  }
  out->assign(rules.status_prefix);
  if (!rules.cluster || has_hash_tag(key)) {
    out->append(key);
    return true;
  }
  if (key.find('}') != std::string_view::npos) {
    *error = "in cluster mode a key without a hash tag must not contain '}'";
    return false;
  }
  out->push_back('{');
  out->append(key);
  out->push_back('}');
  return true;
}

void data_keys_of(std::string_view name, const key_rules& rules,
                  std::vector<std::string_view>* out) {
  out->clear();
  const std::string_view prefix = rules.status_prefix;
  if (prefix.empty() || name.size() < prefix.size() || name.substr(0, prefix.size()) != prefix) {
    return;
  }
  const std::string_view rest = name.substr(prefix.size());
  out->push_back(rest);
  if (rules.cluster && rest.size() >= 2 && rest.front() == '{' && rest.back() == '}') {
    out->push_back(rest.substr(1, rest.size() - 2));
  }
}

std::string shard_wake_channel(const key_rules& rules, std::string_view status_key) {
  std::string out = "shard:" + rules.wake_channel + ":";
  out.append(status_key);
  return out;
}

std::string_view shard_channel_name(std::string_view shard_wake_channel) {
  constexpr std::string_view prefix = "shard:";
  if (shard_wake_channel.substr(0, prefix.size()) == prefix) {
    shard_wake_channel.remove_prefix(prefix.size());
  }
  return shard_wake_channel;
}

}  // namespace puppy::pget
