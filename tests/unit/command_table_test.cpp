#include <catch2/catch.hpp>

#include "puppy/resp/command_table.hpp"

using puppy::resp::command_kind;
using puppy::resp::lookup_command;

TEST_CASE("stateless, non-blocking data commands may share an upstream connection") {
  for (const char* name :
       {"get",     "set",    "mget",    "incr",   "hgetall", "lpush", "lrange", "sadd",
        "zadd",    "zrange", "xadd",    "xrange", "setbit",  "pfadd", "geoadd", "eval",
        "evalsha", "fcall",  "publish", "ping",   "echo",    "del",   "expire", "ttl"}) {
    INFO(name);
    CHECK(lookup_command(name).shareable);
    CHECK(lookup_command(name).kind == command_kind::plain);
  }
}

TEST_CASE("commands with connection state, blocking or unknown need the client's own connection") {
  for (const char* name :
       {"select",  "auth",       "hello",  "multi",     "exec",       "watch",         "unwatch",
        "discard", "client",     "blpop",  "brpop",     "blmove",     "bzpopmin",      "blmpop",
        "xread",   "xreadgroup", "wait",   "subscribe", "psubscribe", "monitor",       "readonly",
        "reset",   "quit",       "debug",  "config",    "script",     "function",      "keys",
        "scan",    "info",       "swapdb", "move",      "flushall",   "nosuchcommand", ""}) {
    INFO(name);
    CHECK_FALSE(lookup_command(name).shareable);
  }
}

TEST_CASE("special kinds") {
  CHECK(lookup_command("subscribe").kind == command_kind::pubsub);
  CHECK(lookup_command("sunsubscribe").kind == command_kind::pubsub);
  CHECK(lookup_command("monitor").kind == command_kind::monitor);
  CHECK(lookup_command("client").kind == command_kind::client);
  CHECK(lookup_command("client").capture_args);
  CHECK(lookup_command("reset").kind == command_kind::reset);
  CHECK(lookup_command("quit").kind == command_kind::quit);
  CHECK(lookup_command("psync").kind == command_kind::replication);
  CHECK(lookup_command("GET").kind == command_kind::plain);  // names are looked up lower case
  CHECK_FALSE(lookup_command("GET").shareable);
}
