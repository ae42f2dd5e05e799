// memcached::parse_response under fuzzing, the way mc_connection reads a stream: responses one
// after another until need_more or invalid. Each complete response must lie within the input, its
// views inside its own bytes, parse the same from exactly its own bytes, and every strict prefix
// of it must be need_more (a response is never complete or invalid before all of it is there).
#include <sstream>
#include <string>
#include <string_view>

#include "entries.hpp"
#include "puppy/memcached/response.hpp"
#include "support.hpp"

namespace puppy_fuzz {
namespace {

using puppy::memcached::parse_response;
using puppy::memcached::parse_status;
using puppy::memcached::response;

bool inside(std::string_view view, const char* begin, std::size_t size) {
  return view.empty() || (view.data() >= begin && view.data() + view.size() <= begin + size);
}

void check_response(const char* p, std::size_t n, std::size_t max_value, const response& r,
                    std::size_t consumed) {
  FUZZ_CHECK(consumed > 0 && consumed <= n, consumed << " of " << n);
  FUZZ_CHECK(inside(r.flags, p, consumed), "flags outside the response");
  FUZZ_CHECK(inside(r.data, p, consumed), "data outside the response");
  FUZZ_CHECK(r.what == puppy::memcached::code::va || r.data.empty(), "data without VA");
  FUZZ_CHECK(r.data.size() <= max_value, r.data.size() << " > " << max_value);
  // The flag accessors stay within the flags.
  for (const char letter : {'t', 'c', 'f', 's', 'W', 'Z', 'k', 'b'}) {
    const auto v = r.flag(letter);
    FUZZ_CHECK(!v || inside(*v, r.flags.data(), r.flags.size()), "flag " << letter);
    (void)r.number(letter);
  }
  response again;
  const auto same = parse_response(p, consumed, max_value, &again);
  FUZZ_CHECK(same.status == parse_status::complete && same.consumed == consumed,
             "not complete from its own " << consumed << " bytes");
  FUZZ_CHECK(again.what == r.what && again.flags == r.flags && again.data == r.data,
             "different from its own bytes");
  for (std::size_t k = 0; k < consumed; ++k) {
    response part;
    const auto pr = parse_response(p, k, max_value, &part);
    FUZZ_CHECK(pr.status == parse_status::need_more && pr.consumed == 0,
               "prefix of " << k << " of " << consumed << " bytes: status "
                            << static_cast<int>(pr.status) << " consumed " << pr.consumed);
  }
}

void parse_stream(std::string_view in, std::size_t max_value) {
  std::size_t pos = 0;
  while (pos < in.size()) {
    response r;
    const auto res = parse_response(in.data() + pos, in.size() - pos, max_value, &r);
    if (res.status != parse_status::complete) {
      FUZZ_CHECK(res.consumed == 0, "consumed " << res.consumed << " without a response");
      return;
    }
    check_response(in.data() + pos, in.size() - pos, max_value, r, res.consumed);
    pos += res.consumed;
  }
}

}  // namespace

void memcached_response_entry(const std::uint8_t* data, std::size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  parse_stream(in, std::size_t{1} << 20);
  parse_stream(in, input_seed(in) % 64);
}

}  // namespace puppy_fuzz
