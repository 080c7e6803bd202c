#include "worker/tokenizer/bpe_trainer.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "worker/tokenizer/bundled_corpus.h"
#include "worker/tokenizer/byte_level.h"

namespace lorad {
namespace {

TEST(BpeTrainerTest, TrainsDeterministicLlama3StyleTokenizer) {
  BpeTrainerOptions opts;
  opts.num_merges = 300;
  auto a = TrainByteLevelBpe({std::string(BundledCorpus())}, opts);
  ASSERT_TRUE(a.ok()) << a.status();
  auto b = TrainByteLevelBpe({std::string(BundledCorpus())}, opts);
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(a->tokenizer_json, b->tokenizer_json);
  EXPECT_EQ(a->tokenizer_config_json, b->tokenizer_config_json);

  const auto tok = nlohmann::json::parse(a->tokenizer_json);
  const auto& vocab = tok["model"]["vocab"];
  const auto& merges = tok["model"]["merges"];
  EXPECT_GT(merges.size(), 100u);
  EXPECT_LE(merges.size(), 300u);
  // The whole byte alphabet is present, so no input can be unencodable.
  for (int byte = 0; byte < 256; ++byte) {
    EXPECT_TRUE(vocab.contains(ByteLevelAlphabet::Get().Encode(static_cast<uint8_t>(byte))))
        << byte;
  }
  // Every merge's parts and result are in the vocabulary.
  for (const auto& m : merges) {
    const std::string l = m[0], r = m[1];
    EXPECT_TRUE(vocab.contains(l) && vocab.contains(r) && vocab.contains(l + r)) << l << " " << r;
  }
  // Specials follow the learned vocabulary in order.
  const auto& added = tok["added_tokens"];
  ASSERT_EQ(added.size(), 5u);
  EXPECT_EQ(added[0]["content"], "<s>");
  EXPECT_EQ(added[0]["id"].get<int>(), static_cast<int>(vocab.size()));
  EXPECT_EQ(added[4]["content"], "<|im_end|>");
  EXPECT_EQ(tok["post_processor"]["processors"][1]["special_tokens"]["<s>"]["ids"][0],
            added[0]["id"]);

  const auto cfg = nlohmann::json::parse(a->tokenizer_config_json);
  EXPECT_EQ(cfg["bos_token"], "<s>");
  EXPECT_EQ(cfg["eos_token"], "</s>");
  EXPECT_EQ(cfg["pad_token"], "<pad>");
  EXPECT_NE(cfg["chat_template"].get<std::string>().find("<|im_start|>"), std::string::npos);
}

TEST(BpeTrainerTest, RejectsBadInput) {
  BpeTrainerOptions opts;
  EXPECT_FALSE(TrainByteLevelBpe({}, opts).ok());
  EXPECT_FALSE(TrainByteLevelBpe({"ok", "bad \xff utf8"}, opts).ok());
  opts.num_merges = -1;
  EXPECT_FALSE(TrainByteLevelBpe({"text"}, opts).ok());
  opts.num_merges = 10;
  opts.special_tokens = {"<s>", "<s>", "<pad>"};
  EXPECT_FALSE(TrainByteLevelBpe({"text"}, opts).ok());
}

}  // namespace
}  // namespace lorad
