#include "puppy/memcached/response.hpp"

#include <cstring>

#include "puppy/resp/number.hpp"

namespace puppy::memcached {
namespace {

// The longest line memcached sends (an error message, or VA with all flags).
constexpr std::size_t max_line = 8192;

bool starts(std::string_view line, std::string_view word) {
  return line.size() >= word.size() && line.compare(0, word.size(), word) == 0 &&
         (line.size() == word.size() || line[word.size()] == ' ');
}

std::string_view rest(std::string_view line, std::size_t word_len) {
  return line.size() > word_len ? line.substr(word_len + 1) : std::string_view();
}

}  // namespace

std::optional<std::string_view> response::flag(char letter) const {
  std::size_t pos = 0;
  while (pos < flags.size()) {
    const auto end = flags.find(' ', pos);
    const std::string_view token =
        flags.substr(pos, end == std::string_view::npos ? std::string_view::npos : end - pos);
    if (!token.empty() && token[0] == letter) return token.substr(1);
    if (end == std::string_view::npos) break;
    pos = end + 1;
  }
  return std::nullopt;
}

std::optional<std::int64_t> response::number(char letter) const {
  const auto v = flag(letter);
  long long n = 0;
  if (!v || !resp::string_to_ll(v->data(), v->size(), &n)) return std::nullopt;
  return n;
}

parse_result parse_response(const char* data, std::size_t size, std::size_t max_value,
                            response* out) {
  const char* nl = static_cast<const char*>(std::memchr(data, '\n', std::min(size, max_line)));
  if (nl == nullptr) {
    return {size >= max_line ? parse_status::invalid : parse_status::need_more, 0};
  }
  const std::size_t line_end = static_cast<std::size_t>(nl - data) + 1;
  if (line_end < 2 || data[line_end - 2] != '\r') return {parse_status::invalid, 0};
  const std::string_view line(data, line_end - 2);
  *out = response{};
  struct word {
    std::string_view text;
    code what;
  };
  static const word simple[] = {{"HD", code::hd},
                                {"EN", code::en},
                                {"NS", code::ns},
                                {"EX", code::ex},
                                {"NF", code::nf},
                                {"MN", code::mn},
                                {"OK", code::ok},
                                {"ERROR", code::error},
                                {"CLIENT_ERROR", code::client_error},
                                {"SERVER_ERROR", code::server_error}};
  if (starts(line, "VA")) {
    const std::string_view args = rest(line, 2);
    const auto space = args.find(' ');
    const std::string_view size_text = args.substr(0, space);
    long long len = 0;
    if (!resp::string_to_ll(size_text.data(), size_text.size(), &len) || len < 0 ||
        static_cast<std::size_t>(len) > max_value) {
      return {parse_status::invalid, 0};
    }
    const auto n = static_cast<std::size_t>(len);
    if (size < line_end + n + 2) return {parse_status::need_more, 0};
    if (data[line_end + n] != '\r' || data[line_end + n + 1] != '\n') {
      return {parse_status::invalid, 0};
    }
    out->what = code::va;
    out->flags = space == std::string_view::npos ? std::string_view() : args.substr(space + 1);
    out->data = std::string_view(data + line_end, n);
    return {parse_status::complete, line_end + n + 2};
  }
  for (const auto& w : simple) {
    if (starts(line, w.text)) {
      out->what = w.what;
      out->flags = rest(line, w.text.size());
      return {parse_status::complete, line_end};
    }
  }
  return {parse_status::invalid, 0};
}

}  // namespace puppy::memcached
