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

}  // namespace puppy::pget
