#pragma once
// RESP encoding of the few replies and requests the proxy writes itself (its own answers, the
// commands it sends upstream). Everything it forwards is relayed as received, never re-encoded.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace puppy::resp::encode {

std::string simple(std::string_view s);  // +s
// -s, with s given without "-" and CRLF (e.g. "ERR syntax error"); CR and LF in s become spaces,
// as Redis's addReplyErrorLength makes them, so the reply stays one line.
std::string error(std::string_view s);
std::string integer(std::int64_t v);   // :v
std::string bulk(std::string_view s);  // $len s
std::string nil(bool resp3);           // RESP3 _ or RESP2 $-1
std::string array_header(std::size_t n);
void append_bulk(std::string* out, std::string_view s);  // bulk(s) without a temporary

}  // namespace puppy::resp::encode
