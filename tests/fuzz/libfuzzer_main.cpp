// The libFuzzer entry point of one target; PUPPY_FUZZ_ENTRY names its entry function (see
// CMakeLists.txt: one executable per target).
#include <cstddef>
#include <cstdint>

#include "entries.hpp"

#ifndef PUPPY_FUZZ_ENTRY
#error "PUPPY_FUZZ_ENTRY must name an entry function of entries.hpp"
#endif

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  puppy_fuzz::PUPPY_FUZZ_ENTRY(data, size);  // a broken invariant throws: libFuzzer saves a crash
  return 0;
}
