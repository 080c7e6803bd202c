// Replays one fuzz corpus (tests/fuzz/corpus/NAME/*) through a fuzz target's
// entry point in the normal gtest build: seeds and crash reproducers added
// there become regression tests in every CI run.
#pragma once

#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

namespace lorad::testing {

inline std::string ReadCorpusFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

/// Runs every file of the corpus through `fn`; returns how many there were.
inline int ReplayCorpus(const std::string& corpus, int (*fn)(const uint8_t*, size_t)) {
  int n = 0;
  const auto dir = std::filesystem::path(LORAD_SOURCE_DIR) / "tests/fuzz/corpus" / corpus;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    const std::string bytes = ReadCorpusFile(e.path());
    EXPECT_EQ(fn(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()), 0) << e.path();
    ++n;
  }
  return n;
}

}  // namespace lorad::testing
