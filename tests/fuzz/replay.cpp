// fuzz_replay CORPUS_DIR: feeds every file of CORPUS_DIR/<target>/ to that target's entry
// function (the same functions the libFuzzer executables run). Fails if an invariant breaks, if
// a target has no corpus, or if a target folder is unknown. With a file argument after the
// folder (fuzz_replay CORPUS_DIR TARGET FILE), replays just that file: how a crash found by
// scripts/fuzz.sh is reproduced in an ordinary (g++, debuggable) build.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "entries.hpp"

namespace fs = std::filesystem;

namespace {

std::string read_all(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Runs one input; prints the failure and returns false if an invariant broke.
bool replay_one(const puppy_fuzz::target& t, const fs::path& file) {
  const std::string bytes = read_all(file);
  try {
    t.fn(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
    return true;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "FAIL %s %s: %s\n", t.name, file.c_str(), e.what());
    return false;
  }
}

const puppy_fuzz::target* find_target(const std::string& name) {
  for (const auto& t : puppy_fuzz::targets()) {
    if (name == t.name) return &t;
  }
  return nullptr;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2 && argc != 4) {
    std::fprintf(stderr, "usage: fuzz_replay CORPUS_DIR [TARGET FILE]\n");
    return 2;
  }
  const fs::path root = argv[1];
  if (argc == 4) {
    const puppy_fuzz::target* t = find_target(argv[2]);
    if (t == nullptr) {
      std::fprintf(stderr, "unknown target %s\n", argv[2]);
      return 2;
    }
    return replay_one(*t, argv[3]) ? 0 : 1;
  }
  int failures = 0;
  for (const auto& entry : fs::directory_iterator(root)) {
    if (entry.is_directory() && find_target(entry.path().filename()) == nullptr) {
      std::fprintf(stderr, "FAIL: %s is no target's corpus\n", entry.path().c_str());
      ++failures;
    }
  }
  for (const auto& t : puppy_fuzz::targets()) {
    std::vector<fs::path> files;
    if (fs::is_directory(root / t.name)) {
      for (const auto& f : fs::directory_iterator(root / t.name)) {
        if (f.is_regular_file()) files.push_back(f.path());
      }
    }
    std::sort(files.begin(), files.end());
    if (files.empty()) {
      std::fprintf(stderr, "FAIL %s: no corpus in %s\n", t.name, (root / t.name).c_str());
      ++failures;
      continue;
    }
    int bad = 0;
    for (const auto& f : files) bad += replay_one(t, f) ? 0 : 1;
    std::printf("%-20s %zu inputs, %d failed\n", t.name, files.size(), bad);
    failures += bad;
  }
  return failures == 0 ? 0 : 1;
}
