#include "puppy/resp/command_table.hpp"

#include <string>
#include <unordered_map>

namespace puppy::resp {
namespace {

// Data commands with no connection state and no blocking: the same reply on any connection.
// Everything not listed (SELECT, AUTH, HELLO, MULTI, WATCH, CLIENT, blocking and pub/sub
// commands, XREAD with its optional BLOCK, WAIT, READONLY, unknown and future commands, ...)
// needs the client's own upstream connection.
constexpr const char* shareable_commands[] = {
    // strings
    "get", "set", "setnx", "setex", "psetex", "mget", "mset", "msetnx", "append", "strlen", "incr",
    "incrby", "incrbyfloat", "decr", "decrby", "getrange", "setrange", "getset", "getdel", "getex",
    "substr", "lcs",
    // keys
    "del", "unlink", "exists", "expire", "pexpire", "expireat", "pexpireat", "expiretime",
    "pexpiretime", "ttl", "pttl", "persist", "type", "touch", "rename", "renamenx", "dump",
    "restore", "sort_ro", "object",
    // hashes
    "hget", "hset", "hsetnx", "hmset", "hmget", "hgetall", "hdel", "hlen", "hexists", "hkeys",
    "hvals", "hincrby", "hincrbyfloat", "hstrlen", "hrandfield", "hscan",
    // lists (non-blocking)
    "lpush", "rpush", "lpushx", "rpushx", "lpop", "rpop", "llen", "lrange", "lindex", "lset",
    "linsert", "lrem", "ltrim", "lpos", "lmove", "rpoplpush", "lmpop",
    // sets
    "sadd", "srem", "smembers", "sismember", "smismember", "scard", "spop", "srandmember", "sinter",
    "sintercard", "sinterstore", "sunion", "sunionstore", "sdiff", "sdiffstore", "smove", "sscan",
    // sorted sets (non-blocking)
    "zadd", "zincrby", "zrem", "zrange", "zrangestore", "zrangebyscore", "zrevrangebyscore",
    "zrangebylex", "zrevrangebylex", "zrevrange", "zcard", "zcount", "zlexcount", "zscore",
    "zmscore", "zrank", "zrevrank", "zremrangebyrank", "zremrangebyscore", "zremrangebylex",
    "zpopmin", "zpopmax", "zmpop", "zunion", "zinter", "zdiff", "zunionstore", "zinterstore",
    "zdiffstore", "zintercard", "zrandmember", "zscan",
    // streams (no XREAD/XREADGROUP: they may block)
    "xadd", "xlen", "xrange", "xrevrange", "xdel", "xtrim", "xack", "xpending", "xclaim",
    "xautoclaim", "xsetid",
    // bitmaps, HyperLogLog, geo
    "setbit", "getbit", "bitcount", "bitpos", "bitop", "bitfield", "bitfield_ro", "pfadd",
    "pfcount", "pfmerge", "geoadd", "geodist", "geohash", "geopos", "georadius", "georadius_ro",
    "georadiusbymember", "georadiusbymember_ro", "geosearch", "geosearchstore",
    // scripts run atomically and leave no state on the connection
    "eval", "evalsha", "eval_ro", "evalsha_ro", "fcall", "fcall_ro",
    // pub/sub publishing, and two harmless server commands
    "publish", "spublish", "ping", "echo"};

// Commands that never change a key (a write, a delete, an expiry, an internal update like
// PFCOUNT's cached cardinality). Not listed: may write the keys among their arguments.
constexpr const char* read_only_commands[] = {"get",
                                              "mget",
                                              "strlen",
                                              "getrange",
                                              "substr",
                                              "lcs",
                                              "exists",
                                              "ttl",
                                              "pttl",
                                              "expiretime",
                                              "pexpiretime",
                                              "type",
                                              "object",
                                              "dump",
                                              "hget",
                                              "hmget",
                                              "hgetall",
                                              "hlen",
                                              "hexists",
                                              "hkeys",
                                              "hvals",
                                              "hstrlen",
                                              "hrandfield",
                                              "hscan",
                                              "llen",
                                              "lrange",
                                              "lindex",
                                              "lpos",
                                              "smembers",
                                              "sismember",
                                              "smismember",
                                              "scard",
                                              "srandmember",
                                              "sinter",
                                              "sintercard",
                                              "sunion",
                                              "sdiff",
                                              "sscan",
                                              "zrange",
                                              "zrangebyscore",
                                              "zrevrangebyscore",
                                              "zrangebylex",
                                              "zrevrangebylex",
                                              "zrevrange",
                                              "zcard",
                                              "zcount",
                                              "zlexcount",
                                              "zscore",
                                              "zmscore",
                                              "zrank",
                                              "zrevrank",
                                              "zunion",
                                              "zinter",
                                              "zdiff",
                                              "zintercard",
                                              "zrandmember",
                                              "zscan",
                                              "xlen",
                                              "xrange",
                                              "xrevrange",
                                              "xpending",
                                              "xread",
                                              "xinfo",
                                              "getbit",
                                              "bitcount",
                                              "bitpos",
                                              "bitfield_ro",
                                              "geodist",
                                              "geohash",
                                              "geopos",
                                              "georadius_ro",
                                              "georadiusbymember_ro",
                                              "geosearch",
                                              "sort_ro",
                                              "eval_ro",
                                              "evalsha_ro",
                                              "fcall_ro",
                                              "ping",
                                              "echo",
                                              "info",
                                              "select",
                                              "auth",
                                              "hello",
                                              "client",
                                              "command",
                                              "time",
                                              "dbsize",
                                              "keys",
                                              "scan",
                                              "randomkey",
                                              "lastsave",
                                              "memory",
                                              "latency",
                                              "slowlog",
                                              "pubsub",
                                              "publish",
                                              "spublish",
                                              "subscribe",
                                              "psubscribe",
                                              "ssubscribe",
                                              "unsubscribe",
                                              "punsubscribe",
                                              "sunsubscribe",
                                              "watch",
                                              "unwatch",
                                              "multi",
                                              "exec",
                                              "discard",
                                              "wait",
                                              "readonly",
                                              "readwrite",
                                              "quit",
                                              "reset",
                                              "monitor",
                                              "role",
                                              "lolwut",
                                              "pget",
                                              "pset",
                                              "prelease",
                                              "pinvalidate",
                                              "puppy"};

// Commands that may change any key.
constexpr const char* writes_all_commands[] = {"flushall", "flushdb", "swapdb", "debug"};

struct special {
  const char* name;
  command_spec spec;
};

constexpr special special_commands[] = {
    {"subscribe", {command_kind::pubsub, false, false}},
    {"psubscribe", {command_kind::pubsub, false, false}},
    {"ssubscribe", {command_kind::pubsub, false, false}},
    {"unsubscribe", {command_kind::pubsub, false, false}},
    {"punsubscribe", {command_kind::pubsub, false, false}},
    {"sunsubscribe", {command_kind::pubsub, false, false}},
    {"monitor", {command_kind::monitor, false, false}},
    {"client", {command_kind::client, true, false}},
    {"reset", {command_kind::reset, false, false}},
    {"quit", {command_kind::quit, false, false}},
    // Captured for the proxy's own password (requirepass), when one is set: see puppy/auth.
    {"auth", {command_kind::plain, true, false}},
    {"hello", {command_kind::plain, true, false}},
    // Captured for the near cache: which database a client on its own connection reads.
    {"select", {command_kind::plain, true, false}},
    {"sync", {command_kind::replication, false, false}},
    {"psync", {command_kind::replication, false, false}},
    {"multi", {command_kind::multi, false, false}},
    {"exec", {command_kind::multi_end, false, false}},
    {"discard", {command_kind::multi_end, false, false}},
    // The PGET family runs on whatever connection the client is on (a script, no state).
    {"pget", {command_kind::pget, true, true}},
    {"pset", {command_kind::pget, true, true}},
    {"prelease", {command_kind::pget, true, true}},
    {"pinvalidate", {command_kind::pget, true, true}},
    {"puppy", {command_kind::proxy, true, true}},
};

const std::unordered_map<std::string_view, command_spec>& table() {
  static const auto* t = [] {
    auto* m = new std::unordered_map<std::string_view, command_spec>();
    for (const char* name : shareable_commands)
      (*m)[name] = command_spec{command_kind::plain, false, true};
    for (const auto& s : special_commands) (*m)[s.name] = s.spec;
    for (const char* name : read_only_commands) (*m)[name].read_only = true;
    for (const char* name : writes_all_commands) (*m)[name].writes_all = true;
    (*m)["get"].near_read = true;
    (*m)["mget"].near_read = true;
    return m;
  }();
  return *t;
}

}  // namespace

command_spec lookup_command(std::string_view lower_name) {
  const auto& t = table();
  const auto it = t.find(lower_name);
  return it == t.end() ? command_spec{} : it->second;
}

}  // namespace puppy::resp
