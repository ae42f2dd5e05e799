#pragma once
// Helpers for the fuzz entry functions: input-derived (deterministic) split points and chunk
// sizes, and printable bytes for failure messages.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace puppy_fuzz {

// FNV-1a of the input: the seed of every choice an entry makes, so a given input always runs the
// same way (in libFuzzer and in fuzz_replay alike).
std::uint64_t input_seed(std::string_view in);

// splitmix64 over `state`: the next pseudo-random value.
std::uint64_t next_random(std::uint64_t* state);

// The input cut into pieces of 1..max_chunk bytes chosen from `seed` (no piece if `in` is empty).
std::vector<std::string_view> random_chunks(std::string_view in, std::uint64_t seed,
                                            std::size_t max_chunk);

// The input as two pieces, cut at an offset in [0, size] chosen from `seed`.
std::vector<std::string_view> split_in_two(std::string_view in, std::uint64_t seed);

// The input one byte at a time.
std::vector<std::string_view> bytewise(std::string_view in);

// At most `max` bytes of `s`, with control and non-ASCII bytes escaped.
std::string printable(std::string_view s, std::size_t max = 120);

}  // namespace puppy_fuzz
