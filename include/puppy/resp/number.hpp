#pragma once
#include <cstddef>

namespace puppy::resp {

// Parses [s, s+len) as a signed decimal exactly as Redis's string2ll does: no sign '+', no spaces,
// no leading zeros ("0" alone is fine, "-0" is not), at most 20 characters, no overflow.
// Returns false (and leaves *value untouched) when the text is not such a number.
bool string_to_ll(const char* s, std::size_t len, long long* value);

}  // namespace puppy::resp
