// memcached::ketama without servers around it (placement against twemproxy's is in
// tests/integration/memcached_test.cpp): one server takes every key without hashing, several
// share them deterministically.
#include <catch2/catch.hpp>
#include <set>
#include <string>

#include "puppy/memcached/ketama.hpp"

using namespace puppy::memcached;

TEST_CASE("ketama: a single server gets every key, whatever the hash") {
  for (const auto hash : {key_hash::md5, key_hash::fnv1a_64}) {
    const ketama one({{"10.0.0.1", 11211, 1}}, hash);
    CHECK(one.points() == 160);
    for (const char* key : {"", "a", "user:42", "{tag}x"}) CHECK(one.server_for(key) == 0);
  }
}

TEST_CASE("ketama: three servers share the keys, the same way every time") {
  const ketama ring({{"10.0.0.1", 11211, 1}, {"10.0.0.2", 11211, 1}, {"10.0.0.3", 11211, 1}},
                    key_hash::md5);
  const ketama again({{"10.0.0.1", 11211, 1}, {"10.0.0.2", 11211, 1}, {"10.0.0.3", 11211, 1}},
                     key_hash::md5);
  std::set<std::size_t> used;
  for (int i = 0; i < 300; ++i) {
    const std::string key = "key:" + std::to_string(i);
    const std::size_t s = ring.server_for(key);
    CHECK(s < 3);
    CHECK(again.server_for(key) == s);
    used.insert(s);
  }
  CHECK(used.size() == 3);
}
