#pragma once
// hiredis 0.14 as an independent oracle: its reply reader (RESP2 only), its command encoder and
// its copy of sdssplitargs (the same code as Redis 7.0's).
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace resp_test {

// One top-level reply as hiredis's reader saw it.
struct oracle_reply {
  std::size_t end = 0;  // offset just past the reply: hiredis completed it after this byte
  int type = 0;         // REDIS_REPLY_*
  std::string str;      // for status, error and string replies
  std::size_t elements = 0;
  std::vector<std::string> element_strs;  // string elements of a top-level array
};

// hiredis 0.14 allocates an array's element table as soon as it reads the header (1.x caps the
// count with maxelements; 0.14 has no cap): "*1536870912\r\n" asks for 12 GB. The oracle does not
// feed hiredis an input past a '*' whose count is above this.
constexpr std::size_t max_oracle_elements = std::size_t{1} << 20;

// Feeds `in` to a hiredis reader one byte at a time and collects every reply with the offset where
// it completed. Returns false (and sets *error) if hiredis reported a protocol error, or if the
// oracle stopped before a '*' with a count above max_oracle_elements (the replies completed
// before it are in *out).
bool hiredis_replies(std::string_view in, std::vector<oracle_reply>* out, std::string* error);

// hiredis's redisFormatCommandArgv: a multibulk request for `args`.
std::string hiredis_format(const std::vector<std::string>& args);

// hiredis's sdssplitargs on the C string `line` (it stops at a NUL byte). Returns false on
// unbalanced quotes.
bool hiredis_splitargs(const std::string& line, std::vector<std::string>* out);

}  // namespace resp_test
