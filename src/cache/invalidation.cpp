#include "puppy/cache/invalidation.hpp"

#include "puppy/resp/number.hpp"

namespace puppy::cache {
namespace {

// The reader of the few shapes a push has: a header line, bulk strings, a null.
struct push_reader {
  std::string_view in;
  std::size_t pos = 0;

  bool header(char type, long long* n) {
    if (pos >= in.size() || in[pos] != type) return false;
    const auto cr = in.find("\r\n", pos);
    if (cr == std::string_view::npos) return false;
    const bool ok = resp::string_to_ll(in.data() + pos + 1, cr - pos - 1, n);
    pos = cr + 2;
    return ok;
  }
  bool bulk(std::string_view* out) {
    long long len = 0;
    if (!header('$', &len) || len < 0) return false;
    const auto n = static_cast<std::size_t>(len);
    if (pos + n + 2 > in.size() || in.compare(pos + n, 2, "\r\n") != 0) return false;
    *out = in.substr(pos, n);
    pos += n + 2;
    return true;
  }
};

}  // namespace

push_kind parse_push(std::string_view bytes, std::vector<std::string_view>* keys) {
  push_reader r{bytes};
  long long count = 0;
  std::string_view name;
  if (!r.header('>', &count) || count < 1 || !r.bulk(&name)) return push_kind::malformed;
  if (name != "invalidate") return push_kind::other;
  if (count != 2) return push_kind::malformed;
  if (bytes.compare(r.pos, 3, "_\r\n") == 0 || bytes.compare(r.pos, 5, "*-1\r\n") == 0) {
    return push_kind::all;
  }
  long long n = 0;
  if (!r.header('*', &n) || n < 0) return push_kind::malformed;
  keys->clear();
  for (long long i = 0; i < n; ++i) {
    std::string_view key;
    if (!r.bulk(&key)) return push_kind::malformed;
    keys->push_back(key);
  }
  return r.pos == bytes.size() ? push_kind::keys : push_kind::malformed;
}

}  // namespace puppy::cache
