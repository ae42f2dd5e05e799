#pragma once
// The fuzz targets' entry functions, shared by the libFuzzer executables (libfuzzer_main.cpp, one
// per target) and by the fuzz_replay test (replay.cpp), which feeds them every saved corpus file.
// Each entry runs its code under test on the bytes and checks invariants, not only that nothing
// crashes; a broken invariant throws fuzz_failure (libFuzzer reports the uncaught exception as a
// crash and saves the input, fuzz_replay reports the file and fails).
#include <cstddef>
#include <cstdint>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace puppy_fuzz {

using entry_fn = void (*)(const std::uint8_t* data, std::size_t size);

// request_framer: whole vs split at an input-derived point vs input-derived chunks; bounds.
void request_framer_entry(const std::uint8_t* data, std::size_t size);
// reply_scanner: whole vs split vs chunks; bounds; agreement with hiredis's reader.
void reply_scanner_entry(const std::uint8_t* data, std::size_t size);
// memcached::parse_response: bounds, views inside the input, need_more on every strict prefix.
void memcached_response_entry(const std::uint8_t* data, std::size_t size);
// split_inline_args against hiredis's sdssplitargs.
void inline_split_entry(const std::uint8_t* data, std::size_t size);
// memcached::translate: requests framed from the input, responses parsed from the bytes after
// each request; every reply must be exactly one RESP reply.
void memcached_translate_entry(const std::uint8_t* data, std::size_t size);

struct target {
  const char* name;  // also the corpus folder: tests/fuzz/corpus/<name>/
  entry_fn fn;
};
// Every target, in a fixed order.
const std::vector<target>& targets();

// A broken invariant.
struct fuzz_failure : std::logic_error {
  using std::logic_error::logic_error;
};
[[noreturn]] void fail(const char* file, int line, const std::string& what);

}  // namespace puppy_fuzz

// Checks an invariant; `what` is streamed into the message (e.g. FUZZ_CHECK(a == b, "a=" << a)).
#define FUZZ_CHECK(cond, what)                                 \
  do {                                                         \
    if (!(cond)) {                                             \
      std::ostringstream fuzz_msg_;                            \
      fuzz_msg_ << "invariant failed: " #cond ": " << what;    \
      ::puppy_fuzz::fail(__FILE__, __LINE__, fuzz_msg_.str()); \
    }                                                          \
  } while (false)
