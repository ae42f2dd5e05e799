#pragma once
// What a reply on a subscribed connection (a RESP2 array or a RESP3 push) is: a message pushed by
// the server, a confirmation of (un)subscribing with the connection's count of subscriptions after
// it, or anything else (an error, PING's reply). No sockets.
#include <cstdint>
#include <string_view>

namespace puppy::cluster {

struct pubsub_reply {
  enum class kind : std::uint8_t { message, confirmation, other } what = kind::other;
  bool shard = false;        // a confirmation of SSUBSCRIBE/SUNSUBSCRIBE
  std::int64_t count = 0;    // a confirmation's count: channels + patterns, or shard channels
  std::string_view name;     // message, smessage, ssubscribe, ... (views into the reply)
  std::string_view channel;  // its second element: the channel (pmessage: the pattern)
};

// `reply` is one whole reply.
pubsub_reply classify_pubsub(std::string_view reply);

}  // namespace puppy::cluster
