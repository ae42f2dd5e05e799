// The PGET family's decisions (decision.hpp) with an injected clock: status parsing and
// formatting, decide_get for every status kind, XFetch early refresh, decide_set, decide_release.
#include <catch2/catch.hpp>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>

#include "puppy/pget/decision.hpp"

using namespace puppy::pget;
using kind = status::kind;

namespace {

constexpr std::int64_t now = 1'700'000'000'000;  // the injected clock, in ms
constexpr std::string_view tok = "T-new";

status current(std::int64_t compute_ms, std::int64_t fresh_until_ms = now + 300'000) {
  return parse_status(format_current(compute_ms, fresh_until_ms));
}
status backoff(std::int64_t compute_ms) {
  return parse_status(format_backoff(compute_ms));
}
status held(std::string_view token, std::int64_t granted, std::int64_t compute,
            std::int64_t fresh_until) {
  return parse_status(format_lease(token, granted, compute, fresh_until));
}

get_decision get(const status& st, std::int64_t pttl, bool has_value, double xfetch = 0) {
  return decide_get(st, pttl, has_value, now, tok, xfetch);
}

void check_no_lease(const get_decision& d, state answer, std::int64_t retry_after) {
  CHECK(d.answer == answer);
  CHECK_FALSE(d.take_lease);
  CHECK(d.new_status.empty());
  CHECK(d.retry_after_ms == retry_after);
}

void check_lease(const get_decision& d, const std::string& new_status) {
  CHECK(d.answer == state::lease);
  CHECK(d.take_lease);
  CHECK(d.new_status == new_status);
  CHECK(d.retry_after_ms == -1);
}

}  // namespace

TEST_CASE("pget decision: state names") {
  CHECK(std::string(state_name(state::fresh)) == "fresh");
  CHECK(std::string(state_name(state::stale)) == "stale");
  CHECK(std::string(state_name(state::lease)) == "lease");
  CHECK(std::string(state_name(state::miss)) == "miss");
}

TEST_CASE("pget decision: status formats and round trips") {
  CHECK(format_current(0, 5) == "current:0:5");
  CHECK(format_current(1234, now) == "current:1234:1700000000000");
  CHECK(format_backoff(17) == "backoff:17");
  CHECK(format_lease("abc", now, 42, 0) == "lease:abc:1700000000000:42:0");
  CHECK(format_lease("t", 1, 2, 3) == "lease:t:1:2:3");

  const status none = parse_status(std::nullopt);
  CHECK(none.what == kind::none);
  CHECK(none.token.empty());
  CHECK(none.compute_ms == 0);

  const auto c = parse_status(std::string_view("current:250:1700000300000"));
  CHECK(c.what == kind::current);
  CHECK(c.compute_ms == 250);
  CHECK(c.fresh_until_ms == 1700000300000);
  // Written by an older puppy-proxy (no deadline), and by django-puppy-cache (nothing else).
  const auto old = parse_status(std::string_view("current:250"));
  CHECK(old.what == kind::current);
  CHECK(old.compute_ms == 250);
  CHECK(old.fresh_until_ms == 0);
  const auto seed = parse_status(std::string_view("current"));
  CHECK(seed.what == kind::current);
  CHECK(seed.compute_ms == 0);
  CHECK(seed.fresh_until_ms == 0);
  // The seed's lease: held by someone whose token nobody knows.
  CHECK(parse_status(std::string_view("updating")).what == kind::unknown);

  const auto b = parse_status(std::string_view("backoff:99"));
  CHECK(b.what == kind::backoff);
  CHECK(b.compute_ms == 99);

  const auto l = parse_status(std::string_view("lease:tok-1:1700000000123:40:1700000005000"));
  CHECK(l.what == kind::lease);
  CHECK(l.token == "tok-1");
  CHECK(l.granted_ms == 1700000000123);
  CHECK(l.compute_ms == 40);
  CHECK(l.fresh_until_ms == 1700000005000);

  // Numbers have at most 18 digits (as the script requires: Lua numbers are doubles).
  constexpr std::int64_t big = 999'999'999'999'999'999;
  CHECK(parse_status(std::string_view("current:1000000000000000000")).what == kind::unknown);
  CHECK(parse_status(std::string_view("current:-1")).what == kind::unknown);
  CHECK(parse_status(std::string_view("current:007")).what == kind::unknown);
  CHECK(parse_status(std::string_view("current:1:-5")).what == kind::unknown);
  CHECK(parse_status(std::string_view("current:1:1000000000000000000")).what == kind::unknown);
  CHECK(parse_status(std::string_view("lease:t:1:2:abc")).what == kind::unknown);
  for (std::int64_t v : {std::int64_t{0}, std::int64_t{1}, std::int64_t{86'400'000}, big}) {
    INFO(v);
    CHECK(current(v).what == kind::current);
    CHECK(current(v).compute_ms == v);
    CHECK(current(v, v).fresh_until_ms == v);
    CHECK(backoff(v).what == kind::backoff);
    CHECK(backoff(v).compute_ms == v);
    const status r = held("0123456789abcdef", v, v / 2, v / 3);
    CHECK(r.what == kind::lease);
    CHECK(r.token == "0123456789abcdef");
    CHECK(r.granted_ms == v);
    CHECK(r.compute_ms == v / 2);
    CHECK(r.fresh_until_ms == v / 3);
  }
}

TEST_CASE("pget decision: malformed or foreign status values are unknown") {
  for (const char* text : {"", ":", "current:1:2:3", "current:x", "CURRENT:1", "backoff",
                           "backoff:1:2", "lease", "lease:t:1:2", "lease:t:1:2:3:4",
                           "Lease:t:1:2:3", "updating:tok", "bogus:1", "1", "fresh"}) {
    INFO("'" << text << "'");
    CHECK(parse_status(std::string_view(text)).what == kind::unknown);
  }
  // A token with ':' does not survive the format (so tokens must not contain one).
  CHECK(held("a:b", 1, 2, 3).what == kind::unknown);
  // Empty fields are skipped, as Lua's gmatch('[^:]+') in the script does.
  CHECK(parse_status(std::string_view("current::5")).what == kind::current);
  CHECK(parse_status(std::string_view("current::5")).compute_ms == 5);
  CHECK(parse_status(std::string_view(":backoff:5:")).what == kind::backoff);
  CHECK(parse_status(std::string_view("lease:t::1:2:3")).token == "t");
  // The one-pass reading of "current:C:F" hands everything else to the general rules, which
  // must give the same answers as before it existed.
  CHECK(parse_status(std::string_view("current:5:")).what == kind::current);
  CHECK(parse_status(std::string_view("current:5:")).fresh_until_ms == 0);
  CHECK(parse_status(std::string_view("current:5::7")).fresh_until_ms == 7);
  CHECK(parse_status(std::string_view("current:0:0")).what == kind::current);
  CHECK(parse_status(std::string_view("current:5:07")).what == kind::unknown);
  CHECK(parse_status(std::string_view("current:5:7x")).what == kind::unknown);
  CHECK(parse_status(std::string_view("current:5:7:")).what == kind::current);
  CHECK(parse_status(std::string_view("current:5:7:")).fresh_until_ms == 7);
  CHECK(parse_status(std::string_view("current:999999999999999999:1")).compute_ms ==
        999'999'999'999'999'999);
}

TEST_CASE("pget decision: a current status's numbers read eight digits at a time") {
  // Every length from 1 to 18 digits, every digit at every place of an eight-digit chunk.
  std::int64_t n = 0;
  for (int digits = 1; digits <= 18; ++digits) {
    n = n * 10 + (digits % 10);
    for (const std::int64_t v : {n, n - (digits > 1 ? 1 : 0)}) {
      const std::string text = format_current(v, v);
      INFO(text);
      const auto st = parse_status(std::string_view(text));
      CHECK(st.what == kind::current);
      CHECK(st.compute_ms == v);
      CHECK(st.fresh_until_ms == v);
    }
  }
  CHECK(parse_status(std::string_view("current:1:9876543210987654")).fresh_until_ms ==
        9'876'543'210'987'654);
  // 19 digits never wrap into a wrong value: unknown, as before.
  CHECK(parse_status(std::string_view("current:1:1234567890123456789")).what == kind::unknown);
  CHECK(parse_status(std::string_view("current:12345678901234567890:1")).what == kind::unknown);
  // A byte that is not a digit anywhere in a chunk of eight ends the number there.
  for (const char bad : {'/', ':', 'a', ' ', '\xb0', '\x3f', '\0'}) {
    for (std::size_t at = 0; at < 13; ++at) {
      std::string text = "current:5:1700000300000";
      text[10 + at] = bad;
      INFO(at << " " << static_cast<int>(static_cast<unsigned char>(bad)));
      const auto st = parse_status(std::string_view(text));
      if (bad == ':' && at > 0 && at < 12) {
        CHECK(st.what == kind::unknown);  // current:5:A:B: four parts
      } else if (bad == ':') {
        CHECK(st.what == kind::current);  // an empty part, skipped
      } else {
        CHECK(st.what == kind::unknown);
      }
    }
  }
}

TEST_CASE("pget decision: no status: the first reader takes a lease") {
  const status none = parse_status(std::nullopt);
  check_lease(get(none, -2, true), "lease:T-new:1700000000000:0:0");
  check_lease(get(none, -2, false), "lease:T-new:1700000000000:0:0");
  // BETA changes nothing here.
  check_lease(get(none, -2, true, 1e9), format_lease(tok, now, 0, 0));
  // The new status parses back to a lease held by the new token, granted now.
  const status st = parse_status(get(none, -2, false).new_status);
  CHECK(st.what == kind::lease);
  CHECK(st.token == tok);
  CHECK(st.granted_ms == now);
  CHECK(decide_set(st, tok, now + 10) == std::optional<std::int64_t>(10));
}

TEST_CASE("pget decision: current status") {
  // With the value: fresh, no lease.
  check_no_lease(get(current(80), 300'000, true), state::fresh, -1);
  check_no_lease(get(current(0), 1, true), state::fresh, -1);
  // Without the value (evicted): a lease at once, keeping compute_ms, so nobody busy-loops.
  check_lease(get(current(80), 300'000, false), format_lease(tok, now, 80, 0));
  check_lease(get(current(80), 300'000, false), "lease:T-new:1700000000000:80:0");
  check_lease(get(current(80), 300'000, false, 1e9), format_lease(tok, now, 80, 0));
}

TEST_CASE("pget decision: a lease held by someone else") {
  const status other = held("T-old", now - 2'000, 30, 0);
  check_no_lease(get(other, 7'000, true), state::stale, 7'000);
  check_no_lease(get(other, 7'000, false), state::miss, 7'000);
  check_no_lease(get(other, 1, true), state::stale, 1);
  // PTTL's "no expiry" / "gone" answers are passed through.
  check_no_lease(get(other, -1, false), state::miss, -1);
  check_no_lease(get(other, -2, true), state::stale, -2);
  // BETA never takes a second lease.
  check_no_lease(get(other, 7'000, true, 1e9), state::stale, 7'000);
}

TEST_CASE("pget decision: a lease taken early (XFetch) keeps the value fresh until fresh_until") {
  const auto early = [](std::int64_t fresh_until) {
    return held("T-old", now - 500, 120, fresh_until);
  };
  check_no_lease(get(early(now + 10'000), 25'000, true), state::fresh, -1);
  check_no_lease(get(early(now + 1), 25'000, true), state::fresh, -1);
  check_no_lease(get(early(now), 25'000, true), state::stale, 25'000);  // exactly at the end
  check_no_lease(get(early(now - 1), 25'000, true), state::stale, 25'000);
  // Without the value, nothing is fresh whatever fresh_until says.
  check_no_lease(get(early(now + 10'000), 25'000, false), state::miss, 25'000);
  check_no_lease(get(early(now + 10'000), 25'000, true, 1e9), state::fresh, -1);
}

TEST_CASE("pget decision: backoff and unknown statuses hand out no lease") {
  // A back-off ends when its status does: look again then.
  const status off = backoff(45);
  check_no_lease(get(off, 4'000, true), state::stale, 4'000);
  check_no_lease(get(off, 4'000, false), state::miss, 4'000);
  check_no_lease(get(off, 4'000, true, 1e9), state::stale, 4'000);
  check_no_lease(get(off, -1, false), state::miss, -1);
  // A foreign lease (the seed's "updating") ends unannounced: look again every 100 ms, or
  // when its status ends if that is sooner.
  for (const char* text : {"someone-else's-marker", "updating"}) {
    INFO(text);
    const status st = parse_status(std::string_view(text));
    check_no_lease(get(st, 4'000, true), state::stale, foreign_lease_poll_ms);
    check_no_lease(get(st, 4'000, false), state::miss, 100);
    check_no_lease(get(st, 4'000, true, 1e9), state::stale, 100);
    check_no_lease(get(st, -1, false), state::miss, 100);  // a status that never expires
    check_no_lease(get(st, 101, false), state::miss, 100);
    check_no_lease(get(st, 100, false), state::miss, 100);
    check_no_lease(get(st, 40, false), state::miss, 40);
  }
}

TEST_CASE("pget decision: XFetch early refresh") {
  const status st = current(100);  // the last regeneration took 100 ms
  const std::int64_t pttl = 5'000;

  SECTION("factor 0 (no BETA) never refreshes early") {
    check_no_lease(get(st, pttl, true, 0), state::fresh, -1);
    check_no_lease(get(current(999'999'999'999'999'999), 1, true, 0), state::fresh, -1);
  }
  SECTION("factor * compute_ms >= pttl: an early lease until the status would have ended") {
    const get_decision d = get(st, pttl, true, 50.0);  // 100 * 50 == 5000: the boundary
    check_lease(d, format_lease(tok, now, 100, now + pttl));
    check_lease(d, "lease:T-new:1700000000000:100:1700000005000");
    const status taken = parse_status(d.new_status);
    CHECK(taken.what == kind::lease);
    CHECK(taken.fresh_until_ms == now + pttl);
    CHECK(taken.compute_ms == 100);
    // Others now read fresh until then, and stale from then on.
    const auto other = [&](std::int64_t at, bool has) {
      return decide_get(taken, 30'000, has, at, "T-other", 1e9);
    };
    check_no_lease(other(now + 1, true), state::fresh, -1);
    check_no_lease(other(now + pttl - 1, true), state::fresh, -1);
    check_no_lease(other(now + pttl, true), state::stale, 30'000);
    check_no_lease(other(now + 1, false), state::miss, 30'000);

    check_lease(get(st, pttl, true, 1e6), format_lease(tok, now, 100, now + pttl));
    check_lease(get(st, 1, true, 0.01), format_lease(tok, now, 100, now + 1));
  }
  SECTION("factor * compute_ms < pttl: fresh") {
    check_no_lease(get(st, pttl, true, 49.99), state::fresh, -1);
    check_no_lease(get(st, pttl + 1, true, 50.0), state::fresh, -1);
    check_no_lease(get(current(0), pttl, true, 1e12), state::fresh, -1);  // nothing to go by
    check_no_lease(get(st, pttl, true, -1.0), state::fresh, -1);
  }
  SECTION("a status without expiry (or gone) never refreshes early") {
    check_no_lease(get(st, -1, true, 1e12), state::fresh, -1);
    check_no_lease(get(st, -2, true, 1e12), state::fresh, -1);
    check_no_lease(get(st, 0, true, 1e12), state::fresh, -1);
  }
}

TEST_CASE("pget decision: decide_set accepts only the lease holder") {
  const status lease = held("T1", now - 250, 0, 0);
  CHECK(decide_set(lease, "T1", now) == std::optional<std::int64_t>(250));
  CHECK(decide_set(lease, "T1", now - 250) == std::optional<std::int64_t>(0));
  CHECK(decide_set(lease, "T1", now - 1'000) == std::optional<std::int64_t>(0));  // clock back
  CHECK(decide_set(held("T1", now - 10, 999, now + 5), "T1", now) ==
        std::optional<std::int64_t>(10));  // compute_ms is measured, not copied

  for (const char* wrong : {"T2", "", "T", "T1 ", "t1", "T1T1"}) {
    INFO(wrong);
    CHECK_FALSE(decide_set(lease, wrong, now).has_value());
  }
  for (const status& st : {parse_status(std::nullopt), current(10), backoff(10),
                           parse_status(std::string_view("T1"))}) {
    CHECK_FALSE(decide_set(st, "T1", now).has_value());
    CHECK_FALSE(decide_set(st, "", now).has_value());
  }
}

TEST_CASE("pget decision: decide_release accepts only the lease holder") {
  const status lease = held("T1", now - 250, 30, 0);
  CHECK(decide_release(lease, "T1"));
  CHECK(decide_release(held("T1", now, 0, now + 100), "T1"));
  for (const char* wrong : {"T2", "", "T", "t1"}) CHECK_FALSE(decide_release(lease, wrong));
  for (const status& st : {parse_status(std::nullopt), current(10), backoff(10),
                           parse_status(std::string_view("lease:T1"))}) {
    CHECK_FALSE(decide_release(st, "T1"));
    CHECK_FALSE(decide_release(st, ""));
  }
}

TEST_CASE("pget decision: a whole regeneration cycle with the clock moving") {
  std::optional<std::string> status_text;  // the status key
  bool has_value = false;                  // the data key
  std::int64_t t = now;
  const auto st = [&] {
    return status_text ? parse_status(std::string_view(*status_text)) : parse_status(std::nullopt);
  };

  // A: first reader gets a lease.
  get_decision a = decide_get(st(), -2, has_value, t, "A", 0);
  REQUIRE(a.answer == state::lease);
  status_text = a.new_status;
  // B, 10 ms later: miss while A computes; B's PSET is refused.
  t += 10;
  check_no_lease(decide_get(st(), 29'990, has_value, t, "B", 0), state::miss, 29'990);
  CHECK_FALSE(decide_set(st(), "B", t).has_value());
  // A stores after 400 ms.
  t += 390;
  const auto compute = decide_set(st(), "A", t);
  REQUIRE(compute == std::optional<std::int64_t>(400));
  status_text = format_current(*compute, t + 300'000);
  has_value = true;
  check_no_lease(decide_get(st(), 300'000, has_value, t, "C", 0), state::fresh, -1);
  // A's second PSET with the same token is refused: the lease is gone.
  CHECK_FALSE(decide_set(st(), "A", t).has_value());
  // Near the end, BETA 1 with -ln(u) = 2: 400 * 2 >= 800 ms left -> D refreshes early.
  t += 299'200;
  get_decision d = decide_get(st(), 800, has_value, t, "D", 2.0);
  check_lease(d, format_lease("D", t, 400, t + 800));
  status_text = d.new_status;
  check_no_lease(decide_get(st(), 30'000, has_value, t + 100, "E", 2.0), state::fresh, -1);
  // D gives up with a back-off: readers get stale, and no lease.
  REQUIRE(decide_release(st(), "D"));
  status_text = format_backoff(st().compute_ms);
  CHECK(*status_text == "backoff:400");
  check_no_lease(decide_get(st(), 5'000, has_value, t + 200, "F", 0), state::stale, 5'000);
}

namespace {

read_decision read(const status& st, bool has_value, double xfetch = 0) {
  return decide_read(st, has_value, now, xfetch);
}

void check_answer(const read_decision& d, state answer) {
  CHECK(d.next == read_next::answer);
  CHECK(d.answer == answer);
}

}  // namespace

TEST_CASE("pget read decision: one MGET answers fresh and stale reads, the rest go on") {
  // No status: the lease is to be taken (atomically, in a second step).
  CHECK(read(parse_status(std::nullopt), true).next == read_next::take_lease);
  CHECK(read(parse_status(std::nullopt), false).next == read_next::take_lease);
  CHECK(read(parse_status(std::nullopt), true, 1e9).next == read_next::take_lease);
  // Current with its value: fresh, whatever wrote it.
  check_answer(read(current(80), true), state::fresh);
  check_answer(read(parse_status(std::string_view("current")), true), state::fresh);
  check_answer(read(parse_status(std::string_view("current:80")), true), state::fresh);
  // Current without its value: miss, and the status is healed.
  CHECK(read(current(80), false).next == read_next::heal);
  CHECK(read(current(80), false).answer == state::miss);
  CHECK(read(parse_status(std::string_view("current")), false).next == read_next::heal);
  // Someone else's lease, a back-off, a foreign marker (the seed's "updating"): stale or miss.
  for (const status& st : {held("T-old", now - 2'000, 30, 0), backoff(45),
                           parse_status(std::string_view("updating"))}) {
    check_answer(read(st, true), state::stale);
    check_answer(read(st, false), state::miss);
    check_answer(read(st, true, 1e9), state::stale);  // BETA never takes a second lease
  }
  // A lease taken early keeps the value fresh until fresh_until.
  check_answer(read(held("T-old", now - 500, 120, now + 1), true), state::fresh);
  check_answer(read(held("T-old", now - 500, 120, now), true), state::stale);
  check_answer(read(held("T-old", now - 500, 120, now + 10'000), false), state::miss);
}

TEST_CASE("pget read decision: BETA's early refresh decided from the stored deadline") {
  // compute 100 ms, 5,000 ms of freshness left: factor 50 is the boundary (as decide_get's).
  const status st = current(100, now + 5'000);
  check_answer(read(st, true, 0), state::fresh);
  check_answer(read(st, true, 49.99), state::fresh);
  CHECK(read(st, true, 50.0).next == read_next::atomic);
  CHECK(read(st, true, 1e6).next == read_next::atomic);
  check_answer(read(current(100, now + 5'001), true, 50.0), state::fresh);
  check_answer(read(current(0, now + 1), true, 1e12), state::fresh);  // nothing to go by
  // The deadline passed by the reader's clock while Redis still keeps the status: fresh.
  check_answer(read(current(100, now), true, 1e12), state::fresh);
  check_answer(read(current(100, now - 1), true, 1e12), state::fresh);
  // A status without a deadline (older proxy, the seed) asks the script, which reads the TTL.
  CHECK(read(parse_status(std::string_view("current:100")), true, 1.0).next == read_next::atomic);
  // The seed's current: compute time 0, so never early, and no need to ask.
  check_answer(read(parse_status(std::string_view("current")), true, 1e12), state::fresh);
  // Agrees with decide_get given the TTL that the deadline implies.
  for (const double f : {0.0, 1.0, 10.0, 49.0, 50.0, 51.0, 1000.0}) {
    INFO(f);
    const bool early = read(st, true, f).next == read_next::atomic;
    CHECK(early == decide_get(st, 5'000, true, now, tok, f).take_lease);
  }
}
