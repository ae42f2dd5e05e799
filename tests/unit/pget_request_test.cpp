// PGET family argument parsing (request.hpp) and status-key naming (keys.hpp). No I/O.
#include <catch2/catch.hpp>
#include <cstdint>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "puppy/pget/keys.hpp"
#include "puppy/pget/request.hpp"

using namespace puppy::pget;

namespace {

// Owns the argument strings so that the request's views stay valid while a test looks at them.
struct call {
  std::vector<std::string> storage;
  std::vector<std::string_view> args;
  request r;
  std::string error;
  call(std::vector<std::string> a, const defaults& d = {}) : storage(std::move(a)) {
    for (const auto& s : storage) args.emplace_back(s);
    r.wait_ms = 77;  // parse() must start from a clean request
    r.beta = 7.5;
    r.backoff = 9;
    error = parse(args, d, &r);
  }
};

std::string err(std::vector<std::string> a, const defaults& d = {}) {
  return call(a, d).error;
}

// The whole request on one line (or the error), so one check covers every field.
std::string show(std::vector<std::string> a, const defaults& d = {}) {
  const call c(std::move(a), d);
  if (!c.error.empty()) return "error: " + c.error;
  static const char* const kinds[] = {"get", "set", "release", "invalidate"};
  std::ostringstream os;
  os << kinds[static_cast<int>(c.r.kind)] << " key=" << c.r.key << " token=" << c.r.token
     << " value=" << c.r.value << " t=" << c.r.timeout << " u=" << c.r.update_time
     << " wait=" << c.r.wait_ms << " beta=" << c.r.beta << " bo=" << c.r.backoff;
  return os.str();
}

const std::string too_big = std::to_string(max_seconds + 1);
const std::string biggest = std::to_string(max_seconds);
const std::string almost = std::to_string(max_seconds - 1);
const std::string unknown_tail = " (expected: key [timeout] [update_time] [WAIT ms] [BETA b])";

}  // namespace

TEST_CASE("pget request: PGET key alone applies the configured defaults") {
  call c({"PGET", "user:1"});
  REQUIRE(c.error.empty());
  CHECK(c.r.key.data() == c.storage[1].data());  // a view into the arguments
  CHECK(show({"PGET", "user:1"}) == "get key=user:1 token= value= t=300 u=30 wait=0 beta=0 bo=0");
  CHECK(show({"pget", "k"}, defaults{60, 5}) ==
        "get key=k token= value= t=60 u=5 wait=0 beta=0 bo=0");
}

TEST_CASE("pget request: positional timeout and update_time") {
  CHECK(show({"PGET", "k", "10"}) == "get key=k token= value= t=10 u=30 wait=0 beta=0 bo=0");
  CHECK(show({"PGET", "k", "10", "20"}) == "get key=k token= value= t=10 u=20 wait=0 beta=0 bo=0");
  CHECK(show({"PGET", "k", "1", biggest}) ==
        "get key=k token= value= t=1 u=" + biggest + " wait=0 beta=0 bo=0");
  CHECK(show({"PGET", "k", almost, "2"}) ==
        "get key=k token= value= t=" + almost + " u=2 wait=0 beta=0 bo=0");
}

TEST_CASE("pget request: WAIT and BETA in any order, option names in any case") {
  CHECK(show({"PGET", "k", "WAIT", "100"}) ==
        "get key=k token= value= t=300 u=30 wait=100 beta=0 bo=0");
  CHECK(show({"pGeT", "k", "10", "20", "BETA", "1.5", "WaIt", "20000"}) ==
        "get key=k token= value= t=10 u=20 wait=20000 beta=1.5 bo=0");
  CHECK(show({"PGET", "k", "5", "bEtA", "2", "wait", "0"}) ==
        "get key=k token= value= t=5 u=30 wait=0 beta=2 bo=0");
  // A key that looks like an option or a number is still the key.
  CHECK(show({"PGET", "WAIT", "BETA", "3"}) ==
        "get key=WAIT token= value= t=300 u=30 wait=0 beta=3 bo=0");
  CHECK(show({"PGET", "10", "20"}) == "get key=10 token= value= t=20 u=30 wait=0 beta=0 bo=0");
}

TEST_CASE("pget request: invalid timeout and update_time (limit - 1, limit, limit + 1)") {
  const auto bad_timeout = [](const std::string& t) {
    return "invalid timeout '" + t + "': whole seconds, at least 1";
  };
  const auto bad_update = [](const std::string& t) {
    return "invalid update_time '" + t + "': whole seconds, at least 1";
  };
  for (const std::string& t : std::vector<std::string>{"0", "-1", "-0", "01", "1.5", "1e3", "-",
                                                       too_big, "99999999999999999999999"}) {
    INFO(t);
    CHECK(err({"PGET", "k", t}) == bad_timeout(t));
    CHECK(err({"PGET", "k", "10", t}) == bad_update(t));
    CHECK(err({"PSET", "k", "tok", "v", t}) == bad_timeout(t));
    CHECK(err({"PSET", "k", "tok", "v", "10", t}) == bad_update(t));
  }
  // PGET's positional times must look numeric; other words are read as options.
  CHECK(err({"PGET", "k", "ten"}) == "unknown PGET argument 'ten'" + unknown_tail);
  CHECK(err({"PGET", "k", "10", "x"}) == "unknown PGET argument 'x'" + unknown_tail);
  CHECK(err({"PGET", "k", "+5"}) == "unknown PGET argument '+5'" + unknown_tail);
  // PSET's are positional only.
  CHECK(err({"PSET", "k", "tok", "v", "ten"}) == bad_timeout("ten"));
  CHECK(err({"PSET", "k", "tok", "v", "10", ""}) == bad_update(""));
  // Both limits are accepted.
  CHECK(err({"PSET", "k", "tok", "v", biggest, biggest}).empty());
  CHECK(err({"PSET", "k", "tok", "v", "1", "1"}).empty());
  CHECK(err({"PGET", "k", biggest, almost}).empty());
}

TEST_CASE("pget request: WAIT bounds follow the effective update_time") {
  CHECK(err({"PGET", "k", "WAIT", "0"}).empty());
  CHECK(err({"PGET", "k", "WAIT", "29999"}).empty());
  CHECK(err({"PGET", "k", "WAIT", "30000"}).empty());  // default update_time 30 s
  CHECK(err({"PGET", "k", "WAIT", "30001"}) == "WAIT 30001 is longer than update_time (30000 ms)");

  CHECK(err({"PGET", "k", "10", "1", "WAIT", "999"}).empty());
  CHECK(err({"PGET", "k", "10", "1", "WAIT", "1000"}).empty());
  CHECK(err({"PGET", "k", "10", "1", "WAIT", "1001"}) ==
        "WAIT 1001 is longer than update_time (1000 ms)");

  // Configured default update_time, and the largest update_time.
  CHECK(err({"PGET", "k", "WAIT", "2000"}, defaults{300, 2}).empty());
  CHECK(err({"PGET", "k", "WAIT", "2001"}, defaults{300, 2}) ==
        "WAIT 2001 is longer than update_time (2000 ms)");
  const std::string max_wait = std::to_string(max_seconds * 1000);
  call big({"PGET", "k", "1", biggest, "WAIT", max_wait});
  REQUIRE(big.error.empty());
  CHECK(big.r.wait_ms == max_seconds * 1000);
  CHECK(err({"PGET", "k", "1", biggest, "WAIT", std::to_string(max_seconds * 1000 + 1)}) ==
        "WAIT " + std::to_string(max_seconds * 1000 + 1) + " is longer than update_time (" +
            max_wait + " ms)");
}

TEST_CASE("pget request: WAIT must be whole milliseconds, 0 or more") {
  for (const std::string ms :
       {"-1", "-0", "1.5", "abc", "", "01", "+1", " 1", "1 ", "99999999999999999999999"}) {
    INFO(ms);
    CHECK(err({"PGET", "k", "WAIT", ms}) ==
          "invalid WAIT '" + ms + "': whole milliseconds, 0 or more");
  }
  CHECK(err({"PGET", "k", "WAIT"}) == "WAIT needs a number of milliseconds");
  CHECK(err({"PGET", "k", "BETA", "1", "wait"}) == "WAIT needs a number of milliseconds");
}

TEST_CASE("pget request: BETA is a positive decimal") {
  const std::vector<std::pair<std::string, double>> good = {
      {"1", 1},      {"0.5", 0.5},   {"2.", 2},   {".25", 0.25},
      {"1e3", 1000}, {"1E-2", 0.01}, {"100", 100}};
  for (const auto& g : good) {
    INFO(g.first);
    call c({"PGET", "k", "BETA", g.first});
    CHECK(c.error.empty());
    CHECK(c.r.beta == Approx(g.second));
  }
  for (const std::string b : {"0", "0.0", "-0", "-1", "-0.5", "nan", "NaN", "-nan", "inf", "-inf",
                              "Infinity", "1e400", "1e-400", "abc", "", "1x", "1 ", "1,5"}) {
    INFO(b);
    CHECK(err({"PGET", "k", "BETA", b}) == "invalid BETA '" + b + "': a positive decimal number");
  }
  CHECK(err({"PGET", "k", "BETA"}) == "BETA needs a positive number");
  CHECK(err({"PGET", "k", "WAIT", "5", "BETA"}) == "BETA needs a positive number");
}

// strtod skips leading white space; like Redis's own number parsing, " 1" is refused as "1 " is.
TEST_CASE("pget request: BETA with leading white space is refused") {
  for (const std::string b : {" 1", "\t2", "\n0.5"}) {
    INFO(b);
    CHECK(err({"PGET", "k", "BETA", b}) == "invalid BETA '" + b + "': a positive decimal number");
  }
}

TEST_CASE("pget request: unknown options, options given twice, misplaced times") {
  CHECK(err({"PGET", "k", "FOO"}) == "unknown PGET argument 'FOO'" + unknown_tail);
  CHECK(err({"PGET", "k", "WAITS", "1"}) == "unknown PGET argument 'WAITS'" + unknown_tail);
  CHECK(err({"PGET", "k", "1", "2", "3"}) == "unknown PGET argument '3'" + unknown_tail);
  CHECK(err({"PGET", "k", "WAIT", "5", "10"}) == "unknown PGET argument '10'" + unknown_tail);
  CHECK(err({"PGET", "k", ""}) == "unknown PGET argument ''" + unknown_tail);
  // Long arguments are cut to 64 bytes in the message.
  const std::string long_opt(100, 'x');
  CHECK(err({"PGET", "k", long_opt}) ==
        "unknown PGET argument '" + std::string(64, 'x') + "'" + unknown_tail);
  CHECK(err({"PGET", "k", "WAIT", long_opt}) ==
        "invalid WAIT '" + std::string(64, 'x') + "': whole milliseconds, 0 or more");

  CHECK(err({"PGET", "k", "WAIT", "1", "wait", "2"}) == "option 'wait' given twice");
  CHECK(err({"PGET", "k", "BETA", "1", "Beta", "2"}) == "option 'Beta' given twice");
  // The repeat is refused before its value is looked at.
  CHECK(err({"PGET", "k", "WAIT", "1", "WAIT", "x"}) == "option 'WAIT' given twice");
  CHECK(err({"PGET", "k", "WAIT", "1", "BETA", "1", "WAIT"}) == "option 'WAIT' given twice");
}

TEST_CASE("pget request: wrong number of arguments, in Redis's words") {
  CHECK(err({"PGET"}) == "wrong number of arguments for 'pget' command");
  CHECK(err({"PgEt"}) == "wrong number of arguments for 'pget' command");
  CHECK(err({"PGET", "k", "1", "2", "WAIT", "1", "BETA", "1"}).empty());  // 8: the most
  CHECK(err({"PGET", "k", "1", "2", "WAIT", "1", "BETA", "1", "x"}) ==
        "wrong number of arguments for 'pget' command");

  CHECK(err({"PSET", "k", "tok"}) == "wrong number of arguments for 'pset' command");
  CHECK(err({"PSET", "k", "tok", "v", "1", "2", "3"}) ==
        "wrong number of arguments for 'pset' command");
  CHECK(err({"PRELEASE", "k"}) == "wrong number of arguments for 'prelease' command");
  CHECK(err({"PRELEASE", "k", "tok", "BACKOFF"}) ==
        "wrong number of arguments for 'prelease' command");
  CHECK(err({"PRELEASE", "k", "tok", "BACKOFF", "1", "x"}) ==
        "wrong number of arguments for 'prelease' command");
  CHECK(err({"PINVALIDATE"}) == "wrong number of arguments for 'pinvalidate' command");
  CHECK(err({"PInvalidate", "a", "b"}) == "wrong number of arguments for 'pinvalidate' command");

  CHECK(err({}) == "not a PGET-family command");
  CHECK(err({"GET", "k"}) == "not a PGET-family command");
  CHECK(err({"pgetx", "k"}) == "not a PGET-family command");
}

TEST_CASE("pget request: PSET") {
  const std::string value("a\r\nb\0c", 6);
  call c({"Pset", "k", "tok-1", value});
  REQUIRE(c.error.empty());
  CHECK(c.r.value == value);
  CHECK(c.r.value.data() == c.storage[3].data());
  CHECK(c.r.token.data() == c.storage[2].data());
  CHECK(show({"PSET", "k", "tok-1", "v"}) ==
        "set key=k token=tok-1 value=v t=300 u=30 wait=0 beta=0 bo=0");
  CHECK(show({"PSET", "k", "tok", "", "60"}, defaults{1, 2}) ==
        "set key=k token=tok value= t=60 u=2 wait=0 beta=0 bo=0");
  CHECK(show({"PSET", "k", "tok", "v", "60", "7"}) ==
        "set key=k token=tok value=v t=60 u=7 wait=0 beta=0 bo=0");
  // Words that are options for PGET are plain arguments here.
  CHECK(show({"PSET", "k", "WAIT", "BETA"}) ==
        "set key=k token=WAIT value=BETA t=300 u=30 wait=0 beta=0 bo=0");
}

TEST_CASE("pget request: PRELEASE and its BACKOFF") {
  CHECK(show({"PRELEASE", "k", "tok"}) ==
        "release key=k token=tok value= t=0 u=0 wait=0 beta=0 bo=0");
  for (const std::string word : {"BACKOFF", "backoff", "BackOff"}) {
    CHECK(show({"prelease", "k", "tok", word, "5"}) ==
          "release key=k token=tok value= t=0 u=0 wait=0 beta=0 bo=5");
  }
  CHECK(call({"PRELEASE", "k", "t", "BACKOFF", "1"}).r.backoff == 1);
  CHECK(call({"PRELEASE", "k", "t", "BACKOFF", almost}).r.backoff == max_seconds - 1);
  CHECK(call({"PRELEASE", "k", "t", "BACKOFF", biggest}).r.backoff == max_seconds);
  for (const std::string& s : std::vector<std::string>{"0", "-1", "-0", "1.5", "x", "", too_big}) {
    INFO(s);
    CHECK(err({"PRELEASE", "k", "t", "BACKOFF", s}) ==
          "invalid BACKOFF '" + s + "': whole seconds, at least 1");
  }
  CHECK(err({"PRELEASE", "k", "t", "WAIT", "5"}) ==
        "unknown PRELEASE argument 'WAIT' (expected: BACKOFF seconds)");
  CHECK(err({"PRELEASE", "k", "t", "BACKOFFS", "5"}) ==
        "unknown PRELEASE argument 'BACKOFFS' (expected: BACKOFF seconds)");
}

TEST_CASE("pget request: PINVALIDATE and is_family") {
  CHECK(show({"pinvalidate", "some key"}) ==
        "invalidate key=some key token= value= t=0 u=0 wait=0 beta=0 bo=0");
  for (const char* n : {"pget", "pset", "prelease", "pinvalidate"}) CHECK(is_family(n));
  for (const char* n : {"PGET", "get", "", "pgetx", "pge", "set", "invalidate"}) {
    CHECK_FALSE(is_family(n));
  }
}

// ---- status keys ---------------------------------------------------------------------------

namespace {

// CRC16-XMODEM (polynomial 0x1021, initial value 0) as in the Redis Cluster specification.
std::uint16_t crc16(std::string_view s) {
  std::uint16_t crc = 0;
  for (unsigned char byte : s) {
    crc ^= static_cast<std::uint16_t>(byte << 8);
    for (int i = 0; i < 8; ++i) {
      crc = (crc & 0x8000) ? static_cast<std::uint16_t>((crc << 1) ^ 0x1021)
                           : static_cast<std::uint16_t>(crc << 1);
    }
  }
  return crc;
}

// keyHashSlot() from Redis's cluster.c, written independently of keys.cpp.
unsigned slot(std::string_view key) {
  std::size_t s = 0;
  while (s < key.size() && key[s] != '{') ++s;
  if (s == key.size()) return crc16(key) & 0x3FFF;
  std::size_t e = s + 1;
  while (e < key.size() && key[e] != '}') ++e;
  if (e == key.size() || e == s + 1) return crc16(key) & 0x3FFF;
  return crc16(key.substr(s + 1, e - s - 1)) & 0x3FFF;
}

struct named {
  bool ok = false;
  std::string key;
  std::string error;
};

named name(std::string_view key, const key_rules& rules) {
  named n;
  n.ok = status_key(key, rules, &n.key, &n.error);
  return n;
}

key_rules cluster(std::string prefix = "puppy:") {
  key_rules r;
  r.status_prefix = std::move(prefix);
  r.cluster = true;
  return r;
}

}  // namespace

TEST_CASE("pget keys: the CRC16 in this test matches Redis's") {
  CHECK(crc16("123456789") == 0x31C3);  // the check value given in the cluster specification
  CHECK(slot("foo") == 12182);
  CHECK(slot("somekey") == 11058);
  CHECK(slot("{user1000}.following") == slot("{user1000}.followers"));
  CHECK(slot("foo{}{bar}") == (crc16("foo{}{bar}") & 0x3FFF));
  CHECK(slot("foo{{bar}}zap") == (crc16("{bar") & 0x3FFF));
}

TEST_CASE("pget keys: without cluster mode the status key is prefix + key") {
  CHECK(name("user:1", key_rules{}).key == "puppy:user:1");
  CHECK(name("a}b{", key_rules{}).key == "puppy:a}b{");
  CHECK(name("", key_rules{}).key == "puppy:");
  key_rules custom;
  custom.status_prefix = "st|";
  CHECK(name("k", custom).key == "st|k");
  // *out is replaced, not appended to.
  std::string out = "junk", error;
  CHECK(status_key("k", key_rules{}, &out, &error));
  CHECK(out == "puppy:k");
}

TEST_CASE("pget keys: cluster mode keeps a hash tag or adds one") {
  CHECK(name("{user:1}:profile", cluster()).key == "puppy:{user:1}:profile");
  CHECK(name("x{t}y", cluster()).key == "puppy:x{t}y");
  CHECK(name("a}{b}", cluster()).key == "puppy:a}{b}");  // tag "b": after the first '{'
  CHECK(name("user:1", cluster()).key == "puppy:{user:1}");
  CHECK(name("a{b", cluster()).key == "puppy:{a{b}");
  CHECK(name("{", cluster()).key == "puppy:{{}");
  CHECK(name("k", cluster("p/")).key == "p/{k}");

  // An empty tag is no tag, and then a '}' in the key leaves no way to share its slot.
  for (const char* bad : {"{}x", "{}{a}", "x{}{y}", "a}b", "}"}) {
    INFO(bad);
    const named n = name(bad, cluster());
    CHECK_FALSE(n.ok);
    CHECK(n.error == "in cluster mode a key without a hash tag must not contain '}'");
  }
}

TEST_CASE("pget keys: in cluster mode the status key shares the data key's slot") {
  std::vector<std::string> keys = {"user:1",
                                   "{user:1}:profile",
                                   "{user:1}",
                                   "a{b",
                                   "{",
                                   "{{a}}",
                                   "a{{}}",
                                   "a}{b}",
                                   "x{y}z{w}",
                                   "with space",
                                   "crlf\r\nkey",
                                   "\xff\xfe{\x01}",
                                   "ключ",
                                   "{ключ}x",
                                   "puppy:nested",
                                   "{puppy:}k"};
  keys.emplace_back("nul\0byte", 8);
  keys.emplace_back(1000, 'k');
  for (const std::string prefix : {"puppy:", "st|", "p}:"}) {
    for (const auto& key : keys) {
      INFO("prefix '" << prefix << "' key '" << key << "'");
      const named n = name(key, cluster(prefix));
      REQUIRE(n.ok);
      CHECK(n.key != key);
      CHECK(slot(n.key) == slot(key));
    }
  }
}

// "" hashes to slot 0, but "puppy:{}" (an empty tag) hashes whole: refused in cluster mode.
TEST_CASE("pget keys: an empty key in cluster mode is refused") {
  const named n = name("", cluster());
  CHECK_FALSE(n.ok);
  CHECK(n.error == "in cluster mode the key must not be empty");
  CHECK(name("", key_rules{}).ok);  // without cluster mode "puppy:" is a fine status key
}

// With an empty prefix the status key would be the data key itself.
TEST_CASE("pget keys: an empty prefix is refused") {
  for (const bool in_cluster : {false, true}) {
    key_rules rules;
    rules.status_prefix = "";
    rules.cluster = in_cluster;
    for (const char* key : {"k", "{user:1}:profile"}) {
      INFO(key << (in_cluster ? " in cluster mode" : ""));
      const named n = name(key, rules);
      CHECK_FALSE(n.ok);
      CHECK(n.error ==
            "the status key prefix must not be empty (the status would overwrite the value)");
    }
  }
}

// A prefix with '{' would capture the status key's hash tag: refused in cluster mode.
TEST_CASE("pget keys: a cluster-mode prefix containing '{' is refused") {
  for (const char* key : {"k", "{user:1}:profile"}) {
    INFO(key);
    const named n = name(key, cluster("st{x}:"));
    CHECK_FALSE(n.ok);
    CHECK(n.error == "in cluster mode the status key prefix must not contain '{'");
  }
  CHECK(name("k",
             [] {
               key_rules r;
               r.status_prefix = "st{x}:";
               return r;
             }())
            .ok);  // without cluster mode any prefix is fine
}

TEST_CASE("status keys: the cluster's wake-up channel is a shard channel of the key's slot") {
  const auto rules = cluster();
  // "shard:" tells the script to SPUBLISH; the channel itself is the rest.
  CHECK(shard_wake_channel(rules, "puppy:{user:1}") == "shard:puppy:wake:puppy:{user:1}");
  CHECK(shard_channel_name(shard_wake_channel(rules, "puppy:{user:1}")) ==
        "puppy:wake:puppy:{user:1}");
  CHECK(shard_channel_name("puppy:wake") == "puppy:wake");  // not a shard channel: as it is
}
