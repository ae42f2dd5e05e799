#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "servers.hpp"

namespace {
// A sanitizer report from a proxy fails the test that started it (see servers.hpp).
const bool sanitizer_hook = [] {
  puppy::test::on_sanitizer_report = [](const std::string& log) {
    if (Catch::getCurrentContext().getResultCapture() != nullptr) {
      FAIL_CHECK("puppy-proxy reported a sanitizer error; its log:\n" << log);
      return;
    }
    std::fprintf(stderr, "puppy-proxy reported a sanitizer error; its log:\n%s\n", log.c_str());
    std::abort();
  };
  return true;
}();
}  // namespace
