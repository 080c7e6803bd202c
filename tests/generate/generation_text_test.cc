// The torch-free parts of generation: streaming detokenization, prompts with
// chat templates and generation prompts, generation_config.json.
#include <gtest/gtest.h>

#include "tests/model/test_model_util.h"
#include "worker/base/file_util.h"
#include "worker/data/generation_prompt.h"
#include "worker/formats/generation_config.h"
#include "worker/formats/model_config.h"
#include "worker/model/init_model.h"
#include "worker/tokenizer/stream_decoder.h"
#include "worker/tokenizer/tokenizer.h"
#include "worker/tokenizer/utf8_util.h"

namespace lorad {
namespace {

namespace fs = std::filesystem;

/// The tiny preset's byte-level BPE tokenizer (and model), made once.
const fs::path& TinyDir() {
  static const fs::path dir = [] {
    const fs::path d = testing::MakeTempDir("gen-text") / "tiny";
    InitModelOptions o;
    o.out = d;
    absl::Status s = InitModel(o);
    EXPECT_TRUE(s.ok()) << s;
    return d;
  }();
  return dir;
}

std::unique_ptr<Tokenizer> TinyTokenizer() {
  auto t = Tokenizer::LoadFromDir(TinyDir());
  EXPECT_TRUE(t.ok()) << t.status();
  return t.ok() ? *std::move(t) : nullptr;
}

// The embedding covers every token the tokenizer can produce, the ChatML
// tokens (added after BOS/EOS/pad) included.
TEST(TinyPresetTest, VocabularyCoversTheAddedTokens) {
  auto tok = TinyTokenizer();
  ASSERT_NE(tok, nullptr);
  auto config = LoadModelConfig(TinyDir());
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->vocab_size, tok->vocab_size());
  EXPECT_LT(*tok->TokenToId("<|im_end|>"), config->vocab_size);
}

// Token by token, the streamed pieces are valid UTF-8 (a character split over
// byte tokens waits for its last byte) and add up to the full decode.
TEST(StreamDecoderTest, PiecesAreWholeCharactersAndAddUpToTheFullDecode) {
  auto tok = TinyTokenizer();
  ASSERT_NE(tok, nullptr);
  const std::string text =
      "The café served crème brûlée — 日本語 and 🙂 emoji, twice: 🙂🙂.\nEnd";
  const std::vector<int32_t> ids = tok->Encode(text, /*add_special_tokens=*/false);
  ASSERT_GT(ids.size(), 20u);
  StreamDecoder stream(*tok, /*skip_special_tokens=*/true);
  std::string joined;
  int held_back = 0;
  for (int32_t id : ids) {
    const std::string piece = stream.Push(id);
    EXPECT_TRUE(IsValidUtf8(piece)) << "piece for id " << id;
    if (piece.empty()) ++held_back;
    joined += piece;
  }
  joined += stream.Finish();
  EXPECT_EQ(joined, text);
  EXPECT_EQ(joined, tok->Decode(ids, true));
  EXPECT_GT(held_back, 0) << "no multi-byte character was split: the test proves nothing";
}

TEST(StreamDecoderTest, SkipsSpecialTokensAndFlushesAnIncompleteTail) {
  auto tok = TinyTokenizer();
  ASSERT_NE(tok, nullptr);
  StreamDecoder stream(*tok, /*skip_special_tokens=*/true);
  std::string out;
  out += stream.Push(*tok->TokenToId("<|im_start|>"));
  for (int32_t id : tok->Encode("hi", false)) out += stream.Push(id);
  out += stream.Push(*tok->eos_id());
  out += stream.Finish();
  EXPECT_EQ(out, "hi");
  // The first byte of "🙂" alone: held back, then U+FFFD at the end, as a full
  // decode of the same ids gives.
  const std::vector<int32_t> emoji = tok->Encode("🙂", false);
  ASSERT_GT(emoji.size(), 1u);
  StreamDecoder partial(*tok, true);
  EXPECT_EQ(partial.Push(emoji[0]), "");
  EXPECT_EQ(partial.Finish(), tok->Decode({emoji[0]}, true));
}

TEST(GenerationPromptTest, NoneAndChatml) {
  auto tok = TinyTokenizer();
  ASSERT_NE(tok, nullptr);
  auto none = GenerationPrompt::ByName("none");
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->is_chat());
  EXPECT_EQ(*none->FromText(*tok, "Hello there"), tok->Encode("Hello there", true));
  EXPECT_TRUE(none->TurnEndIds(*tok).empty());
  EXPECT_EQ(none->FromMessages(*tok, {{"user", "hi"}}).status().code(),
            absl::StatusCode::kInvalidArgument);

  auto chatml = GenerationPrompt::ByName("chatml");
  ASSERT_TRUE(chatml.ok());
  EXPECT_TRUE(chatml->is_chat());
  EXPECT_EQ(*chatml->FromText(*tok, "Hello there"),
            tok->Encode("<|im_start|>user\nHello there<|im_end|>\n<|im_start|>assistant\n", false));
  EXPECT_EQ(*chatml->FromMessages(*tok, {{"system", "Be brief."}, {"user", "Hi"}}),
            tok->Encode("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
                        "<|im_start|>assistant\n",
                        false));
  EXPECT_EQ(chatml->TurnEndIds(*tok), std::vector<int32_t>{*tok->TokenToId("<|im_end|>")});
}

TEST(GenerationPromptTest, OtherTemplatesAndUnknownNames) {
  auto tok = TinyTokenizer();
  ASSERT_NE(tok, nullptr);
  // mistral_v1: BOS as an id, no assistant header; the reply ends with EOS.
  auto mistral = GenerationPrompt::ByName("mistral_v1");
  ASSERT_TRUE(mistral.ok());
  std::vector<int32_t> want = {*tok->bos_id()};
  for (int32_t id : tok->Encode(" [INST] Hi [/INST]", false)) want.push_back(id);
  EXPECT_EQ(*mistral->FromText(*tok, "Hi"), want);
  EXPECT_TRUE(mistral->TurnEndIds(*tok).empty());
  // llama3's end of turn is not in this tokenizer: nothing to stop at besides EOS.
  auto llama3 = GenerationPrompt::ByName("llama3");
  ASSERT_TRUE(llama3.ok());
  EXPECT_TRUE(llama3->TurnEndIds(*tok).empty());

  auto unknown = GenerationPrompt::ByName("vicuna");
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(unknown.status().message().find("none"), std::string::npos);
  auto jinja = GenerationPrompt::ByName("tokenizer_default");
  EXPECT_NE(jinja.status().message().find("Jinja"), std::string::npos);
}

TEST(GenerationPromptTest, DetectsAModelsOwnJinjaTemplate) {
  const fs::path dir = testing::MakeTempDir("jinja");
  EXPECT_FALSE(HasJinjaChatTemplate(dir));
  ASSERT_TRUE(WriteFileDurably(dir / "tokenizer_config.json", "{\"chat_template\": null}").ok());
  EXPECT_FALSE(HasJinjaChatTemplate(dir));
  ASSERT_TRUE(WriteFileAtomically(dir / "tokenizer_config.json",
                                  "{\"chat_template\": \"{% for m in messages %}{% endfor %}\"}")
                  .ok());
  EXPECT_TRUE(HasJinjaChatTemplate(dir));
  const fs::path dir2 = testing::MakeTempDir("jinja2");
  ASSERT_TRUE(WriteFileDurably(dir2 / "chat_template.jinja", "{{ x }}").ok());
  EXPECT_TRUE(HasJinjaChatTemplate(dir2));
}

TEST(GenerationConfigTest, EosAsIntOrListAndErrors) {
  EXPECT_EQ(ParseGenerationConfig("{\"eos_token_id\": 7}", "g")->eos_token_ids,
            std::vector<int64_t>{7});
  EXPECT_EQ(ParseGenerationConfig("{\"eos_token_id\": [128001, 128009], \"do_sample\": true}", "g")
                ->eos_token_ids,
            (std::vector<int64_t>{128001, 128009}));
  EXPECT_TRUE(ParseGenerationConfig("{\"temperature\": 0.6}", "g")->eos_token_ids.empty());
  auto bad = ParseGenerationConfig("{\"eos_token_id\": \"</s>\"}", "gen.json");
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("eos_token_id"), std::string::npos);
  EXPECT_FALSE(ParseGenerationConfig("{\"eos_token_id\": -1}", "g").ok());
  EXPECT_FALSE(ParseGenerationConfig("[1]", "g").ok());
  const fs::path dir = testing::MakeTempDir("genconfig");
  EXPECT_TRUE(LoadGenerationConfig(dir)->eos_token_ids.empty());  // absent file
}

}  // namespace
}  // namespace lorad
