// Replays the fuzz corpora (tests/fuzz/corpus/*) through the fuzz targets'
// own entry points in the normal (gcc, non-fuzzing) build, so seeds and any
// crash reproducers added there are regression tests in every CI run.
#include <gtest/gtest.h>

#include "tests/fuzz/corpus_replay.h"

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#define LLVMFuzzerTestOneInput FuzzSafetensorsHeader
#include "tests/fuzz/safetensors_header_fuzzer.cc"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput FuzzModelConfig
#include "tests/fuzz/model_config_fuzzer.cc"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput FuzzAdapterConfig
#include "tests/fuzz/adapter_config_fuzzer.cc"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput FuzzCheckpointManifest
#include "tests/fuzz/checkpoint_manifest_fuzzer.cc"
#undef LLVMFuzzerTestOneInput

namespace lorad {
namespace {

namespace fs = std::filesystem;

using testing::ReplayCorpus;

TEST(FuzzCorpusTest, SeedsRunThroughEveryTarget) {
  EXPECT_GE(ReplayCorpus("safetensors_header", FuzzSafetensorsHeader), 3);
  EXPECT_GE(ReplayCorpus("model_config", FuzzModelConfig), 3);
  EXPECT_GE(ReplayCorpus("adapter_config", FuzzAdapterConfig), 2);
  EXPECT_GE(ReplayCorpus("checkpoint_manifest", FuzzCheckpointManifest), 1);
}

TEST(FuzzCorpusTest, SeedsAreAcceptedByTheParsers) {
  // The seeds are valid inputs, so the fuzzer starts from deep parser states.
  fs::path root = fs::path(LORAD_SOURCE_DIR) / "tests/fuzz/corpus";
  for (const char* f : {"llama31.json", "qwen2.json", "mistral.json"}) {
    std::ifstream in(root / "model_config" / f);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    auto c = ParseModelConfig(text, f);
    EXPECT_TRUE(c.ok()) << f << ": " << c.status();
  }
  std::ifstream in(root / "safetensors_header" / "two_tensors", std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto h = ParseSafetensorsHeader({reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()},
                                  "two_tensors");
  EXPECT_TRUE(h.ok()) << h.status();
  std::ifstream huge(root / "safetensors_header" / "huge_claim", std::ios::binary);
  std::string hb((std::istreambuf_iterator<char>(huge)), std::istreambuf_iterator<char>());
  EXPECT_FALSE(
      ParseSafetensorsHeader({reinterpret_cast<const uint8_t*>(hb.data()), hb.size()}, "huge_claim")
          .ok());
}

}  // namespace
}  // namespace lorad
