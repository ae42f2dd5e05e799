#pragma once
// Redis's server-assisted client-side caching tells a tracking connection (RESP3) that keys it
// read have changed with a push: >2 $10 invalidate *N <keys...>, or >2 $10 invalidate _ when
// everything went (FLUSHALL, FLUSHDB). This reads such a push. No sockets.
#include <string_view>
#include <vector>

namespace puppy::cache {

enum class push_kind {
  keys,       // these keys changed (or expired, or were evicted, or left the tracking table)
  all,        // every key may have changed
  other,      // a push that is not an invalidation
  malformed,  // not a RESP3 push of bulk strings
};

// Reads one whole push (`bytes` from its '>' to its end). For `keys`, *keys gets views into
// `bytes`.
push_kind parse_push(std::string_view bytes, std::vector<std::string_view>* keys);

}  // namespace puppy::cache
