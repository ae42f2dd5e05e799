// Replies on a subscribed connection told apart (on bytes): messages, confirmations, the rest.
#include <catch2/catch.hpp>

#include "puppy/cluster/pubsub.hpp"

using puppy::cluster::classify_pubsub;
using kind = puppy::cluster::pubsub_reply::kind;

TEST_CASE("pub/sub replies: messages, confirmations with their counts, anything else") {
  CHECK(classify_pubsub("*3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$2\r\nhi\r\n").what == kind::message);
  CHECK(classify_pubsub("*4\r\n$8\r\npmessage\r\n$2\r\nc*\r\n$1\r\nc\r\n$0\r\n\r\n").what ==
        kind::message);
  CHECK(classify_pubsub("*3\r\n$8\r\nsmessage\r\n$1\r\ns\r\n$1\r\nx\r\n").what == kind::message);
  const auto sub = classify_pubsub("*3\r\n$9\r\nsubscribe\r\n$4\r\nnews\r\n:2\r\n");
  CHECK(sub.what == kind::confirmation);
  CHECK_FALSE(sub.shard);
  CHECK(sub.count == 2);
  // UNSUBSCRIBE with nothing subscribed: a nil channel.
  const auto none = classify_pubsub("*3\r\n$11\r\nunsubscribe\r\n$-1\r\n:0\r\n");
  CHECK(none.what == kind::confirmation);
  CHECK(none.count == 0);
  const auto shard = classify_pubsub("*3\r\n$12\r\nsunsubscribe\r\n$5\r\na\r\n:b\r\n:12\r\n");
  CHECK(shard.what == kind::confirmation);
  CHECK(shard.shard);
  CHECK(shard.count == 12);
  CHECK(shard.name == "sunsubscribe");
  CHECK(shard.channel == "a\r\n:b");  // a bulk string: whatever its bytes
  const auto msg = classify_pubsub("*3\r\n$8\r\nsmessage\r\n$4\r\nchan\r\n$3\r\nkey\r\n");
  CHECK(msg.name == "smessage");
  CHECK(msg.channel == "chan");
  CHECK(none.channel.empty());
  // A channel named like a message kind, PING's replies, errors: other.
  CHECK(classify_pubsub("*2\r\n$4\r\npong\r\n$0\r\n\r\n").what == kind::other);
  CHECK(classify_pubsub("+PONG\r\n").what == kind::other);
  CHECK(classify_pubsub("-ERR Can't execute 'get'\r\n").what == kind::other);
  CHECK(classify_pubsub("*3\r\n$9\r\nsubscribe\r\n$1\r\nc\r\n$1\r\n2\r\n").what == kind::other);
  CHECK(classify_pubsub("*3\r\n$7\r\nmessage\r\n").what == kind::message);  // whole: by kind
  CHECK(classify_pubsub("*3\r\n$99\r\nmessage\r\n").what == kind::other);
  // RESP3: pushes.
  CHECK(classify_pubsub(">3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$2\r\nhi\r\n").what == kind::message);
  CHECK(classify_pubsub(">3\r\n$9\r\nsubscribe\r\n$1\r\nc\r\n:1\r\n").count == 1);
}
