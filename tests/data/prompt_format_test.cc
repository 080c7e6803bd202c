// Label masks of every format, token by token, on hand-written examples.
#include <gtest/gtest.h>

#include "nlohmann/json.hpp"
#include "tests/data/expected_sample.h"
#include "tests/data/fake_tokenizer.h"
#include "worker/data/alpaca_format.h"
#include "worker/data/chat_template.h"
#include "worker/data/prompt_format.h"

namespace lorad {
namespace {

using testing::ExpectedSample;
using testing::FakeTokenizer;
using json = nlohmann::json;
constexpr int32_t kBos = FakeTokenizer::kBos, kEos = FakeTokenizer::kEos;

std::vector<Sample> RunFormat(const Tokenizer& tok, const DatasetSpec& spec, const TrainConfig& cfg,
                        const json& record) {
  auto format = MakePromptFormat(spec, cfg, tok);
  EXPECT_TRUE(format.ok()) << format.status();
  std::vector<Sample> out;
  absl::Status st = (*format)->Tokenize(record, &out);
  EXPECT_TRUE(st.ok()) << st;
  return out;
}

DatasetSpec Spec(const std::string& type) {
  DatasetSpec s;
  s.type = type;
  s.path = "data.jsonl";
  return s;
}

void ExpectSamplesEq(const Sample& got, const Sample& want) {
  ASSERT_EQ(got.input_ids.size(), want.input_ids.size());
  for (size_t i = 0; i < got.input_ids.size(); ++i) {
    EXPECT_EQ(got.input_ids[i], want.input_ids[i]) << "input_ids[" << i << "]";
    EXPECT_EQ(got.labels[i], want.labels[i]) << "labels[" << i << "]";
  }
}

TEST(CompletionFormat, BosTextEosAllTrained) {
  FakeTokenizer tok;
  TrainConfig cfg;
  auto out = RunFormat(tok, Spec("completion"), cfg, json{{"text", "hi there"}});
  ASSERT_EQ(out.size(), 1u);
  ExpectSamplesEq(out[0], ExpectedSample().Token(kBos, true).Trained("hi there").Token(kEos, true).sample());
}

TEST(CompletionFormat, CustomFieldAndNoBosEosWhenTokenizerHasNone) {
  FakeTokenizer::Options o;
  o.has_bos = false;
  o.has_eos = false;
  FakeTokenizer tok(o);
  TrainConfig cfg;
  DatasetSpec spec = Spec("completion");
  spec.field = "body";
  auto out = RunFormat(tok, spec, cfg, json{{"body", "abc"}});
  ASSERT_EQ(out.size(), 1u);
  ExpectSamplesEq(out[0], ExpectedSample().Trained("abc").sample());
}

TEST(CompletionFormat, LongTextSplitIntoSequenceLenChunks) {
  FakeTokenizer tok;
  TrainConfig cfg;
  cfg.sequence_len = 4;
  // BOS a b c d e f g EOS = 9 tokens → chunks of 4, 4, 1.
  auto out = RunFormat(tok, Spec("completion"), cfg, json{{"text", "abcdefg"}});
  ASSERT_EQ(out.size(), 3u);
  ExpectSamplesEq(out[0], ExpectedSample().Token(kBos, true).Trained("abc").sample());
  ExpectSamplesEq(out[1], ExpectedSample().Trained("defg").sample());
  ExpectSamplesEq(out[2], ExpectedSample().Token(kEos, true).sample());
}

TEST(CompletionFormat, MissingOrNonStringFieldIsAnError) {
  FakeTokenizer tok;
  TrainConfig cfg;
  auto format = MakePromptFormat(Spec("completion"), cfg, tok);
  ASSERT_TRUE(format.ok());
  std::vector<Sample> out;
  absl::Status st = (*format)->Tokenize(json{{"txt", "x"}}, &out);
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("missing field 'text'"), std::string::npos) << st;
  st = (*format)->Tokenize(json{{"text", 3}}, &out);
  EXPECT_NE(st.message().find("must be a string"), std::string::npos) << st;
}

TEST(AlpacaFormat, PromptMaskedOutputAndEosTrained) {
  FakeTokenizer tok;
  TrainConfig cfg;
  auto out = RunFormat(tok, Spec("alpaca"), cfg,
                 json{{"instruction", "Add."}, {"input", "1 2"}, {"output", "3"}});
  ASSERT_EQ(out.size(), 1u);
  const std::string prompt =
      "Below is an instruction that describes a task, paired with an input that provides further "
      "context. Write a response that appropriately completes the request.\n\n### "
      "Instruction:\nAdd.\n\n### Input:\n1 2\n\n### Response:\n";
  ExpectSamplesEq(out[0], ExpectedSample()
                              .Token(kBos, false)
                              .Masked(prompt)
                              .Trained("3")
                              .Token(kEos, true)
                              .sample());
}

TEST(AlpacaFormat, NoInputWordingAndTrainOnInputs) {
  FakeTokenizer tok;
  TrainConfig cfg;
  cfg.train_on_inputs = true;
  auto out = RunFormat(tok, Spec("alpaca"), cfg, json{{"instruction", "Say hi"}, {"output", "hi"}});
  ASSERT_EQ(out.size(), 1u);
  const std::string prompt =
      "Below is an instruction that describes a task. Write a response that appropriately "
      "completes the request.\n\n### Instruction:\nSay hi\n\n### Response:\n";
  ExpectSamplesEq(out[0], ExpectedSample()
                              .Token(kBos, true)
                              .Trained(prompt)
                              .Trained("hi")
                              .Token(kEos, true)
                              .sample());
}

TEST(AlpacaFormat, TokenizerThatAddsEosDoesNotGetTwo) {
  FakeTokenizer::Options o;
  o.add_eos = true;
  FakeTokenizer tok(o);
  TrainConfig cfg;
  auto out = RunFormat(tok, Spec("alpaca"), cfg, json{{"instruction", "i"}, {"output", "o"}});
  ASSERT_EQ(out.size(), 1u);
  // The prompt keeps the EOS the tokenizer appended (Axolotl does the same).
  const std::string prompt = AlpacaFormat::BuildPrompt("i", "");
  ExpectSamplesEq(out[0], ExpectedSample()
                              .Token(kBos, false)
                              .Masked(prompt)
                              .Token(kEos, false)
                              .Trained("o")
                              .Token(kEos, true)
                              .sample());
}

json Conversation() {
  return json{{"messages",
               {{{"role", "system"}, {"content", "Be brief."}},
                {{"role", "user"}, {"content", "Hi"}},
                {{"role", "assistant"}, {"content", "Hello"}},
                {{"role", "user"}, {"content", "Bye"}},
                {{"role", "assistant"}, {"content", "Ciao"}}}}};
}

TEST(ChatTemplateFormat, ChatmlMasksEverythingButAssistantContentAndTurnEnd) {
  FakeTokenizer tok;
  TrainConfig cfg;
  DatasetSpec spec = Spec("chat_template");
  spec.chat_template = "chatml";
  auto out = RunFormat(tok, spec, cfg, Conversation());
  ASSERT_EQ(out.size(), 1u);
  constexpr int32_t kS = FakeTokenizer::kImStart, kE = FakeTokenizer::kImEnd;
  ExpectSamplesEq(out[0], ExpectedSample()
                              .Token(kS, false).Masked("system\nBe brief.").Token(kE, false).Masked("\n")
                              .Token(kS, false).Masked("user\nHi").Token(kE, false).Masked("\n")
                              .Token(kS, false).Masked("assistant\n").Trained("Hello").Token(kE, true).Masked("\n")
                              .Token(kS, false).Masked("user\nBye").Token(kE, false).Masked("\n")
                              .Token(kS, false).Masked("assistant\n").Trained("Ciao").Token(kE, true).Masked("\n")
                              .sample());
}

TEST(ChatTemplateFormat, ShareGptConversationsAndTrainOnEosVariants) {
  FakeTokenizer tok;
  TrainConfig cfg;
  cfg.chat_template = "chatml";  // config-level template
  json rec = {{"conversations",
               {{{"from", "human"}, {"value", "Q"}},
                {{"from", "gpt"}, {"value", "A"}},
                {{"from", "human"}, {"value", "R"}},
                {{"from", "gpt"}, {"value", "B"}}}}};
  constexpr int32_t kS = FakeTokenizer::kImStart, kE = FakeTokenizer::kImEnd;
  auto expect = [&](bool eos1, bool eos2, bool user_eos) {
    return ExpectedSample()
        .Token(kS, false).Masked("user\nQ").Token(kE, user_eos).Masked("\n")
        .Token(kS, false).Masked("assistant\n").Trained("A").Token(kE, eos1).Masked("\n")
        .Token(kS, false).Masked("user\nR").Token(kE, user_eos).Masked("\n")
        .Token(kS, false).Masked("assistant\n").Trained("B").Token(kE, eos2).Masked("\n")
        .sample();
  };
  DatasetSpec spec = Spec("chat_template");
  for (auto [mode, e1, e2, ue] : std::vector<std::tuple<std::string, bool, bool, bool>>{
           {"turn", true, true, false},
           {"last", false, true, false},
           {"all", true, true, true},
           {"none", false, false, false}}) {
    SCOPED_TRACE(mode);
    spec.train_on_eos = mode;
    auto out = RunFormat(tok, spec, cfg, rec);
    ASSERT_EQ(out.size(), 1u);
    ExpectSamplesEq(out[0], expect(e1, e2, ue));
  }
}

TEST(ChatTemplateFormat, RolesToTrainAndFieldMessages) {
  FakeTokenizer tok;
  TrainConfig cfg;
  DatasetSpec spec = Spec("chat_template");
  spec.chat_template = "chatml";
  spec.field_messages = "dialog";
  spec.roles_to_train = {"human"};  // mapped to user, as Axolotl maps it
  json rec = {{"dialog",
               {{{"role", "user"}, {"content", "Q"}}, {{"role", "assistant"}, {"content", "A"}}}}};
  auto out = RunFormat(tok, spec, cfg, rec);
  ASSERT_EQ(out.size(), 1u);
  constexpr int32_t kS = FakeTokenizer::kImStart, kE = FakeTokenizer::kImEnd;
  ExpectSamplesEq(out[0], ExpectedSample()
                              .Token(kS, false).Masked("user\n").Trained("Q").Token(kE, true).Masked("\n")
                              .Token(kS, false).Masked("assistant\nA").Token(kE, false).Masked("\n")
                              .sample());
}

TEST(ChatTemplateFormat, Llama3TrimsContentAndStartsWithBos) {
  FakeTokenizer tok;
  TrainConfig cfg;
  DatasetSpec spec = Spec("chat_template");
  spec.chat_template = "llama3";
  json rec = {{"messages",
               {{{"role", "user"}, {"content", " Hi \n"}}, {{"role", "assistant"}, {"content", "Yo"}}}}};
  auto out = RunFormat(tok, spec, cfg, rec);
  ASSERT_EQ(out.size(), 1u);
  constexpr int32_t kSH = FakeTokenizer::kStartHeader, kEH = FakeTokenizer::kEndHeader,
                    kEot = FakeTokenizer::kEotId;
  ExpectSamplesEq(out[0], ExpectedSample()
                              .Token(kBos, false)
                              .Token(kSH, false).Masked("user").Token(kEH, false).Masked("\n\nHi").Token(kEot, false)
                              .Token(kSH, false).Masked("assistant").Token(kEH, false).Masked("\n\n").Trained("Yo").Token(kEot, true)
                              .sample());
}

TEST(ChatTemplateFormat, MistralV1SystemInFirstUserTurnAssistantEndsWithEos) {
  FakeTokenizer tok;
  TrainConfig cfg;
  DatasetSpec spec = Spec("chat_template");
  spec.chat_template = "mistral_v1";
  auto out = RunFormat(tok, spec, cfg, Conversation());
  ASSERT_EQ(out.size(), 1u);
  ExpectSamplesEq(out[0], ExpectedSample()
                              .Token(kBos, false)
                              .Masked(" [INST] Be brief.\n\nHi [/INST]").Trained(" Hello").Token(kEos, true)
                              .Masked(" [INST] Bye [/INST]").Trained(" Ciao").Token(kEos, true)
                              .sample());
}

TEST(ChatTemplateFormat, MistralV2V3SystemInLastUserTurnAndTrimmedAnswer) {
  FakeTokenizer tok;
  TrainConfig cfg;
  DatasetSpec spec = Spec("chat_template");
  spec.chat_template = "mistral_v2v3";
  json rec = Conversation();
  rec["messages"][4]["content"] = " Ciao ";
  auto out = RunFormat(tok, spec, cfg, rec);
  ASSERT_EQ(out.size(), 1u);
  ExpectSamplesEq(out[0], ExpectedSample()
                              .Token(kBos, false)
                              .Masked("[INST] Hi[/INST]").Trained(" Hello").Token(kEos, true)
                              .Masked("[INST] Be brief.\n\nBye[/INST]").Trained(" Ciao").Token(kEos, true)
                              .sample());
}

TEST(ChatTemplateFormat, MistralRejectsNonAlternatingRoles) {
  FakeTokenizer tok;
  TrainConfig cfg;
  DatasetSpec spec = Spec("chat_template");
  spec.chat_template = "mistral_v1";
  auto format = MakePromptFormat(spec, cfg, tok);
  ASSERT_TRUE(format.ok());
  std::vector<Sample> out;
  json rec = {{"messages",
               {{{"role", "user"}, {"content", "a"}}, {{"role", "user"}, {"content", "b"}}}}};
  absl::Status st = (*format)->Tokenize(rec, &out);
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("alternate"), std::string::npos) << st;
}

TEST(ChatTemplateFormat, Qwen25AddsDefaultSystemPrompt) {
  FakeTokenizer tok;
  TrainConfig cfg;
  DatasetSpec spec = Spec("chat_template");
  spec.chat_template = "qwen_25";
  json rec = {{"messages",
               {{{"role", "user"}, {"content", "Hi"}}, {{"role", "assistant"}, {"content", "Yo"}}}}};
  auto out = RunFormat(tok, spec, cfg, rec);
  ASSERT_EQ(out.size(), 1u);
  constexpr int32_t kS = FakeTokenizer::kImStart, kE = FakeTokenizer::kImEnd;
  ExpectSamplesEq(out[0],
                  ExpectedSample()
                      .Token(kS, false)
                      .Masked("system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.")
                      .Token(kE, false).Masked("\n")
                      .Token(kS, false).Masked("user\nHi").Token(kE, false).Masked("\n")
                      .Token(kS, false).Masked("assistant\n").Trained("Yo").Token(kE, true).Masked("\n")
                      .sample());
}

TEST(ChatTemplateFormat, TopLevelSystemFieldAndTrainOnInputs) {
  FakeTokenizer tok;
  TrainConfig cfg;
  cfg.train_on_inputs = true;
  DatasetSpec spec = Spec("chat_template");
  spec.chat_template = "chatml";
  json rec = {{"system", "S"},
              {"messages",
               {{{"role", "user"}, {"content", "Q"}}, {{"role", "assistant"}, {"content", "A"}}}}};
  auto out = RunFormat(tok, spec, cfg, rec);
  ASSERT_EQ(out.size(), 1u);
  constexpr int32_t kS = FakeTokenizer::kImStart, kE = FakeTokenizer::kImEnd;
  // train_on_inputs trains every turn's content, never the role headers.
  ExpectSamplesEq(out[0], ExpectedSample()
                              .Token(kS, false).Masked("system\n").Trained("S").Token(kE, true).Masked("\n")
                              .Token(kS, false).Masked("user\n").Trained("Q").Token(kE, true).Masked("\n")
                              .Token(kS, false).Masked("assistant\n").Trained("A").Token(kE, true).Masked("\n")
                              .sample());
}

TEST(ChatTemplateFormat, TerminatorThatIsNotOneTokenStaysMasked) {
  FakeTokenizer::Options o;
  o.chat_tokens = false;
  FakeTokenizer tok(o);
  TrainConfig cfg;
  DatasetSpec spec = Spec("chat_template");
  spec.chat_template = "chatml";
  json rec = {{"messages",
               {{{"role", "user"}, {"content", "Q"}}, {{"role", "assistant"}, {"content", "A"}}}}};
  auto out = RunFormat(tok, spec, cfg, rec);
  ASSERT_EQ(out.size(), 1u);
  ExpectSamplesEq(out[0], ExpectedSample()
                              .Masked("<|im_start|>user\nQ<|im_end|>\n<|im_start|>assistant\n")
                              .Trained("A")
                              .Masked("<|im_end|>\n")
                              .sample());
}

TEST(ChatTemplateFormat, IdsAreThoseOfTheWholeConversationWhenPiecesEncodeDifferently) {
  // A tokenizer that starts every run of text with a marker (SentencePiece's
  // "▁"): encoding "user\n" and "Q" separately would give two markers where
  // the whole conversation has one.
  FakeTokenizer::Options o;
  o.marker_per_run = true;
  FakeTokenizer tok(o);
  TrainConfig cfg;
  DatasetSpec spec = Spec("chat_template");
  spec.chat_template = "chatml";
  json rec = {{"messages",
               {{{"role", "user"}, {"content", "Q"}}, {{"role", "assistant"}, {"content", "Ans"}}}}};
  auto out = RunFormat(tok, spec, cfg, rec);
  ASSERT_EQ(out.size(), 1u);
  constexpr int32_t kS = FakeTokenizer::kImStart, kE = FakeTokenizer::kImEnd,
                    kM = FakeTokenizer::kMarker;
  ExpectSamplesEq(out[0], ExpectedSample()
                              .Token(kS, false).Token(kM, false).Masked("user\nQ").Token(kE, false)
                              .Token(kM, false).Masked("\n").Token(kS, false)
                              .Token(kM, false).Masked("assistant\n").Trained("Ans").Token(kE, true)
                              .Token(kM, false).Masked("\n")
                              .sample());
  std::string text = "<|im_start|>user\nQ<|im_end|>\n<|im_start|>assistant\nAns<|im_end|>\n";
  EXPECT_EQ(out[0].input_ids, tok.Encode(text, false));

  // Mistral: the answer's leading space and text are one run with " [/INST]".
  spec.chat_template = "mistral_v1";
  out = RunFormat(tok, spec, cfg, rec);
  ASSERT_EQ(out.size(), 1u);
  ExpectSamplesEq(out[0], ExpectedSample()
                              .Token(kBos, false)
                              .Token(kM, false).Masked(" [INST] Q [/INST]").Trained(" Ans")
                              .Token(kEos, true)
                              .sample());
}

TEST(ChatTemplate, JinjaTemplatesRefusedWithSupportedNames) {
  for (const char* name : {"tokenizer_default", "jinja", "gemma"}) {
    auto t = ChatTemplate::ByName(name);
    ASSERT_FALSE(t.ok()) << name;
    EXPECT_NE(t.status().message().find("chatml, llama3, mistral_v1, mistral_v2v3, qwen_25"),
              std::string::npos)
        << t.status();
  }
  FakeTokenizer tok;
  TrainConfig cfg;
  DatasetSpec spec = Spec("chat_template");
  spec.chat_template = "tokenizer_default";
  auto format = MakePromptFormat(spec, cfg, tok);
  ASSERT_FALSE(format.ok());
  EXPECT_NE(format.status().message().find("Jinja"), std::string::npos) << format.status();
}

TEST(PromptFormat, UnknownTypeAndBadTrainOnEosRefused) {
  FakeTokenizer tok;
  TrainConfig cfg;
  auto f = MakePromptFormat(Spec("sharegpt"), cfg, tok);
  ASSERT_FALSE(f.ok());
  EXPECT_NE(f.status().message().find("completion, alpaca, chat_template"), std::string::npos);
  DatasetSpec spec = Spec("chat_template");
  spec.train_on_eos = "sometimes";
  f = MakePromptFormat(spec, cfg, tok);
  ASSERT_FALSE(f.ok());
  EXPECT_NE(f.status().message().find("train_on_eos"), std::string::npos);
}

}  // namespace
}  // namespace lorad
