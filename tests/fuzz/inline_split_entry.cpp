// split_inline_args under fuzzing, against hiredis's sdssplitargs (the same code as Redis 7.0's):
// on a line without NUL bytes (sdssplitargs reads a C string) both must accept or refuse it
// alike and give the same arguments. The input is one line, as the framer hands it over.
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "entries.hpp"
#include "hiredis_oracle.hpp"
#include "puppy/resp/inline_split.hpp"
#include "support.hpp"

namespace puppy_fuzz {

void inline_split_entry(const std::uint8_t* data, std::size_t size) {
  const std::string_view line(reinterpret_cast<const char*>(data), size);
  std::vector<std::string> mine;
  const bool mine_ok = puppy::resp::split_inline_args(line, &mine);
  std::size_t total = 0;
  for (const auto& a : mine) total += a.size();
  FUZZ_CHECK(total <= line.size(), "arguments longer than the line");
  if (line.find('\0') != std::string_view::npos) return;
  std::vector<std::string> theirs;
  const bool theirs_ok = resp_test::hiredis_splitargs(std::string(line), &theirs);
  FUZZ_CHECK(mine_ok == theirs_ok, "split_inline_args " << mine_ok << ", sdssplitargs " << theirs_ok
                                                        << " on \"" << printable(line) << "\"");
  if (!mine_ok) return;
  FUZZ_CHECK(mine.size() == theirs.size(), mine.size()
                                               << " vs " << theirs.size() << " arguments on \""
                                               << printable(line) << "\"");
  for (std::size_t i = 0; i < mine.size(); ++i) {
    FUZZ_CHECK(mine[i] == theirs[i], "argument " << i << ": \"" << printable(mine[i]) << "\" vs \""
                                                 << printable(theirs[i]) << "\"");
  }
}

}  // namespace puppy_fuzz
