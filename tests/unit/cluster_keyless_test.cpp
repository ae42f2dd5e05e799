// Keyless commands in front of a cluster: policies, merged replies, SCAN cursors (on bytes).
#include <catch2/catch.hpp>

#include "puppy/cluster/keyless.hpp"

using namespace puppy::cluster;

TEST_CASE("keyless policy per command group") {
  CHECK(keyless_policy("ping", "") == keyless::any_node);
  CHECK(keyless_policy("dbsize", "") == keyless::sum);
  CHECK(keyless_policy("keys", "*") == keyless::concat);
  CHECK(keyless_policy("flushall", "") == keyless::all_ok);
  CHECK(keyless_policy("script", "load") == keyless::same);
  CHECK(keyless_policy("script", "exists") == keyless::all_and);
  CHECK(keyless_policy("script", "kill") == keyless::any_node);
  CHECK(keyless_policy("function", "delete") == keyless::all_ok);
  CHECK(keyless_policy("randomkey", "") == keyless::any_non_nil);
  CHECK(keyless_policy("scan", "0") == keyless::scan);
  CHECK(keyless_policy("publish", "") == keyless::first);
  CHECK(keyless_policy("pubsub", "channels") == keyless::unique);
  CHECK(keyless_policy("pubsub", "shardnumsub") == keyless::sum_pairs);
  CHECK(keyless_policy("pubsub", "numpat") == keyless::sum);
}

TEST_CASE("PUBSUB replies of every master merged: names once, counts added") {
  CHECK(merge_keyless(keyless::unique, {"*2\r\n$1\r\na\r\n$2\r\nbb\r\n", "*0\r\n",
                                        "*2\r\n$2\r\nbb\r\n$1\r\nc\r\n"}) ==
        "*3\r\n$1\r\na\r\n$2\r\nbb\r\n$1\r\nc\r\n");
  CHECK(merge_keyless(keyless::sum_pairs, {"*4\r\n$1\r\na\r\n:1\r\n$1\r\nb\r\n:0\r\n",
                                           "*4\r\n$1\r\na\r\n:2\r\n$1\r\nb\r\n:0\r\n"}) ==
        "*4\r\n$1\r\na\r\n:3\r\n$1\r\nb\r\n:0\r\n");
  CHECK(merge_keyless(keyless::sum_pairs, {"*0\r\n", "*0\r\n"}) == "*0\r\n");
  // RESP3: NUMSUB is a map.
  CHECK(merge_keyless(keyless::sum_pairs, {"%1\r\n$1\r\na\r\n:1\r\n", "%1\r\n$1\r\na\r\n:2\r\n"}) ==
        "%1\r\n$1\r\na\r\n:3\r\n");
  CHECK(merge_keyless(keyless::any_non_nil, {"_\r\n", "$1\r\nk\r\n"}) == "$1\r\nk\r\n");
  // Names in another order, or a short array: not a reply to the same request.
  CHECK(merge_keyless(keyless::sum_pairs, {"*2\r\n$1\r\na\r\n:1\r\n", "*2\r\n$1\r\nb\r\n:1\r\n"}) ==
        "-ERR unexpected reply from a node\r\n");
  CHECK(merge_keyless(keyless::unique, {"*2\r\n$1\r\na\r\n"}) ==
        "-ERR unexpected reply from a node\r\n");
}

TEST_CASE("keyless replies merged as one Redis holding every key answers") {
  CHECK(merge_keyless(keyless::sum, {":3\r\n", ":0\r\n", ":4\r\n"}) == ":7\r\n");
  CHECK(merge_keyless(keyless::concat,
                      {"*1\r\n$1\r\na\r\n", "*0\r\n", "*2\r\n$1\r\nb\r\n$1\r\nc\r\n"}) ==
        "*3\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n");
  CHECK(merge_keyless(keyless::all_ok, {"+OK\r\n", "+OK\r\n"}) == "+OK\r\n");
  CHECK(merge_keyless(keyless::all_ok, {"+OK\r\n", "-ERR x\r\n", "-ERR y\r\n"}) == "-ERR x\r\n");
  CHECK(merge_keyless(keyless::same, {"$1\r\na\r\n", "$1\r\nb\r\n"}) ==
        "-ERR unexpected reply from a node\r\n");
  CHECK(merge_keyless(keyless::all_and, {"*3\r\n:1\r\n:1\r\n:0\r\n", "*3\r\n:1\r\n:0\r\n:0\r\n"}) ==
        "*3\r\n:1\r\n:0\r\n:0\r\n");
  CHECK(merge_keyless(keyless::all_and, {"*2\r\n:1\r\n:1\r\n", "*1\r\n:1\r\n"}) ==
        "-ERR unexpected reply from a node\r\n");
  CHECK(merge_keyless(keyless::any_non_nil, {"$-1\r\n", "$1\r\nk\r\n", "$-1\r\n"}, 2) ==
        "$1\r\nk\r\n");
  CHECK(merge_keyless(keyless::any_non_nil, {"$-1\r\n", "$-1\r\n"}) == "$-1\r\n");
  CHECK(merge_keyless(keyless::sum, {":1\r\n", "+OK\r\n"}) ==
        "-ERR unexpected reply from a node\r\n");
  CHECK(merge_keyless(keyless::sum, {}) == "-ERR unexpected reply from a node\r\n");
}

TEST_CASE("SCAN cursors carry the master's place in their low 10 bits") {
  const auto start = decode_scan_cursor("0", 3);
  REQUIRE(start);
  CHECK(start->node == 0);
  CHECK(start->cursor == 0);
  const auto c = decode_scan_cursor(std::to_string((77ull << 10) | 2), 3);
  REQUIRE(c);
  CHECK(c->node == 2);
  CHECK(c->cursor == 77);
  CHECK_FALSE(decode_scan_cursor("3", 3));  // no fourth master
  CHECK_FALSE(decode_scan_cursor("-1", 3));
  CHECK_FALSE(decode_scan_cursor("12x", 3));
  CHECK_FALSE(decode_scan_cursor("", 3));
  CHECK_FALSE(decode_scan_cursor("18446744073709551616", 3));  // 2^64
  // After a master's last page: the next master's start; after the last master's: 0.
  CHECK(next_scan_cursor(0, 0, 3) == 1u);
  CHECK(next_scan_cursor(0, 2, 3) == 0u);
  CHECK(next_scan_cursor(5, 1, 3) == ((5u << 10) | 1));
  CHECK(next_scan_cursor((1ull << 54) - 1, 1, 3).has_value());
  CHECK_FALSE(next_scan_cursor(1ull << 54, 1, 3));  // does not fit
  CHECK(scan_request({"SCAN", "99", "MATCH", "a*"}, 7) ==
        "*4\r\n$4\r\nSCAN\r\n$1\r\n7\r\n$5\r\nMATCH\r\n$2\r\na*\r\n");
  const auto page = parse_scan_page("*2\r\n$2\r\n12\r\n*2\r\n$1\r\na\r\n$1\r\nb\r\n");
  REQUIRE(page);
  CHECK(page->cursor == 12);
  CHECK(page->count == 2);
  CHECK(page->elements == "$1\r\na\r\n$1\r\nb\r\n");
  CHECK_FALSE(parse_scan_page("-ERR x\r\n"));
  CHECK_FALSE(parse_scan_page("*2\r\n$1\r\nx\r\n*0\r\n"));
  CHECK(scan_reply(3, 1, "$1\r\na\r\n") == "*2\r\n$1\r\n3\r\n*1\r\n$1\r\na\r\n");
  CHECK(scan_count({"SCAN", "0", "count", "500"}) == 500);
  CHECK(scan_count({"SCAN", "0", "MATCH", "x"}) == 10);
}
