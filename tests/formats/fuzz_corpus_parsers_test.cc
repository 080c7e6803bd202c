// Replays the corpora of the fuzz targets whose parsers live above the format
// layer (tokenizer.json, training YAML, dataset records, training_state.json)
// through the targets' own entry points in the normal build, as
// fuzz_corpus_test does for the file formats.
#include <gtest/gtest.h>

#include "tests/fuzz/corpus_replay.h"

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#define LLVMFuzzerTestOneInput FuzzTokenizerJson
#include "tests/fuzz/tokenizer_json_fuzzer.cc"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput FuzzTrainConfig
#include "tests/fuzz/train_config_fuzzer.cc"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput FuzzDatasetRecords
#include "tests/fuzz/dataset_records_fuzzer.cc"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput FuzzTrainingState
#include "tests/fuzz/training_state_fuzzer.cc"
#undef LLVMFuzzerTestOneInput

namespace lorad {
namespace {

namespace fs = std::filesystem;

using testing::ReplayCorpus;

TEST(FuzzCorpusParsersTest, SeedsRunThroughEveryTarget) {
  EXPECT_GE(ReplayCorpus("tokenizer_json", FuzzTokenizerJson), 2);
  EXPECT_GE(ReplayCorpus("train_config", FuzzTrainConfig), 3);
  EXPECT_GE(ReplayCorpus("dataset_records", FuzzDatasetRecords), 3);
  EXPECT_GE(ReplayCorpus("training_state", FuzzTrainingState), 1);
}

TEST(FuzzCorpusParsersTest, TrainingStateSeedIsAcceptedAndBadValuesAreRefused) {
  const fs::path seed = fs::path(LORAD_SOURCE_DIR) / "tests/fuzz/corpus/training_state/checkpoint-8.json";
  auto s = ParseTrainingStateJson(testing::ReadCorpusFile(seed), "seed");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->optimizer_step, 8);
  EXPECT_EQ(s->cursor.position, 16);
  EXPECT_EQ(s->lr_policy, "");          // written before resume_lr_policy existed
  EXPECT_EQ(s->env.attention, "eager");  // ... and before the attention choice: it ran eager
  // The backend a checkpoint records survives the round trip; a mistyped one is refused.
  TrainingStateMeta with_backend = *s;
  with_backend.env.attention = "blockwise";
  auto round = ParseTrainingStateJson(TrainingStateJson(with_backend), "round");
  ASSERT_TRUE(round.ok()) << round.status();
  EXPECT_EQ(round->env.attention, "blockwise");
  auto typed = nlohmann::json::parse(TrainingStateJson(with_backend));
  typed["env"]["attention"] = 3;
  EXPECT_FALSE(ParseTrainingStateJson(typed.dump(), "x").ok());
  auto j = nlohmann::json::parse(testing::ReadCorpusFile(seed));
  j["optimizer_step"] = 1e300;  // would be an out-of-range float → int cast
  auto bad = ParseTrainingStateJson(j.dump(), "x/training_state.json");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(std::string(bad.status().message()).find("x/training_state.json: 'optimizer_step' is not an integer"),
            std::string::npos) << bad.status();
  j = nlohmann::json::parse(testing::ReadCorpusFile(seed));
  j["progress"]["total_tokens"] = 1e300;
  bad = ParseTrainingStateJson(j.dump(), "x/training_state.json");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(std::string(bad.status().message()).find("progress: training progress: 'total_tokens' is not an integer"),
            std::string::npos) << bad.status();
  j = nlohmann::json::parse(testing::ReadCorpusFile(seed));
  j["schedule"]["total_steps"] = -3;
  EXPECT_FALSE(ParseTrainingStateJson(j.dump(), "x").ok());
}

}  // namespace
}  // namespace lorad
