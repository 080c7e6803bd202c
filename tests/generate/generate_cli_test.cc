// `lorad-worker generate` and `merge` as a user runs them: the real binary on
// the tiny preset, streamed text vs -o json, an adapter vs its merged model,
// and exit code 2 with a clear message for each bad input.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include <sstream>

#include "nlohmann/json.hpp"
#include "tests/generate/generate_test_util.h"
#include "tests/model/test_model_util.h"
#include "worker/base/file_util.h"
#include "worker/formats/model_config.h"
#include "worker/model/init_model.h"

extern char** environ;

namespace lorad {
namespace {

namespace fs = std::filesystem;

const std::string kWorker = std::string(LORAD_BINARY_DIR) + "/worker/cli/lorad-worker";

struct Result {
  int code = -1;
  std::string out;
  std::string err;
};

std::string ReadOrEmpty(const fs::path& p) {
  auto text = ReadFileToString(p);
  return text.ok() ? *text : "";
}

/// Runs lorad-worker with `args`, stdout and stderr captured in files.
Result Worker(const std::vector<std::string>& args) {
  static const fs::path io = testing::MakeTempDir("cli-io");
  const fs::path out = io / "stdout", err = io / "stderr";
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&actions, 2, err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  std::vector<char*> argv = {const_cast<char*>(kWorker.c_str())};
  for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  pid_t pid = -1;
  Result r;
  if (posix_spawn(&pid, kWorker.c_str(), &actions, nullptr, argv.data(), environ) != 0) {
    ADD_FAILURE() << "cannot start " << kWorker;
    posix_spawn_file_actions_destroy(&actions);
    return r;
  }
  posix_spawn_file_actions_destroy(&actions);
  int status = 0;
  waitpid(pid, &status, 0);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = ReadOrEmpty(out);
  r.err = ReadOrEmpty(err);
  return r;
}

std::vector<nlohmann::json> JsonLines(const std::string& out) {
  std::vector<nlohmann::json> lines;
  std::istringstream in(out);
  std::string line;
  while (std::getline(in, line)) {
    lines.push_back(nlohmann::json::parse(line, nullptr, false));
    EXPECT_TRUE(lines.back().is_object()) << line;
  }
  return lines;
}

class GenerateCliTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    root_ = new fs::path(testing::MakeTempDir("gen-cli"));
    InitModelOptions o;
    o.out = *root_ / "tiny";
    ASSERT_TRUE(InitModel(o).ok());
    auto config = LoadModelConfig(*root_ / "tiny");
    ASSERT_TRUE(config.ok());
    testing::RandomAdapterSpec spec;
    spec.b_std = 0.5;
    ASSERT_TRUE(testing::WriteRandomAdapter(*config, *root_ / "adapter", spec).ok());
  }
  static void TearDownTestSuite() {
    std::error_code ec;
    fs::remove_all(*root_, ec);
    delete root_;
  }
  static std::string Model() { return (*root_ / "tiny").string(); }
  static std::string Adapter() { return (*root_ / "adapter").string(); }
  static fs::path* root_;
};
fs::path* GenerateCliTest::root_ = nullptr;

TEST_F(GenerateCliTest, HelpListsGenerateAndMerge) {
  const Result r = Worker({"--help"});
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.out.find("generate MODEL_DIR"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("merge MODEL_DIR --adapter DIR --out DIR"), std::string::npos) << r.out;
  EXPECT_EQ(Worker({"generate", "--help"}).code, 0);
  EXPECT_EQ(Worker({"merge", "--help"}).code, 0);
}

TEST_F(GenerateCliTest, StreamedTextEqualsTheJsonText) {
  // The tiny preset ships a (Jinja) ChatML template: the prompt format must be named.
  const Result json = Worker({"generate", Model(), "--prompt", "the cat sat", "--chat-template",
                              "none", "--max-new-tokens", "12", "-o", "json", "--threads", "1"});
  ASSERT_EQ(json.code, 0) << json.err;
  const auto lines = JsonLines(json.out);
  ASSERT_EQ(lines.size(), 1u);
  const nlohmann::json& j = lines[0];
  EXPECT_EQ(j["prompt"], "the cat sat");
  EXPECT_GT(j["prompt_tokens"].get<int>(), 1);
  ASSERT_TRUE(j["ids"].is_array());
  EXPECT_GE(j["ids"].size(), 1u);
  EXPECT_LE(j["ids"].size(), 12u);
  const std::string reason = j["stop_reason"];
  EXPECT_TRUE(reason == "eos" || (reason == "max_new_tokens" && j["ids"].size() == 12u)) << j;

  const Result text = Worker({"generate", Model(), "--prompt", "the cat sat", "--chat-template",
                              "none", "--max-new-tokens", "12", "--threads", "1"});
  ASSERT_EQ(text.code, 0) << text.err;
  EXPECT_EQ(text.out, j["text"].get<std::string>() + "\n");
  EXPECT_NE(text.err.find("new, stop:"), std::string::npos) << text.err;
}

TEST_F(GenerateCliTest, AdapterGenerationEqualsTheMergedModel) {
  const fs::path merged = *root_ / "merged";
  const Result merge = Worker({"merge", Model(), "--adapter", Adapter(), "--out", merged.string()});
  ASSERT_EQ(merge.code, 0) << merge.err;
  const auto summary = JsonLines(merge.out);
  ASSERT_EQ(summary.size(), 1u);
  EXPECT_EQ(summary[0]["merged_modules"], 4 * 7);
  EXPECT_TRUE(fs::exists(merged / "tokenizer.json"));
  EXPECT_TRUE(fs::exists(merged / "tokenizer_config.json"));

  const fs::path prompts = *root_ / "prompts.jsonl";
  ASSERT_TRUE(
      WriteFileAtomically(prompts,
                          "{\"prompt\": \"one two three\"}\n\n"
                          "{\"messages\": [{\"role\": \"user\", \"content\": \"hello\"}]}\n")
          .ok());
  const std::vector<std::string> common = {
      "--prompts", prompts.string(), "--chat-template", "chatml", "--max-new-tokens", "16", "-o",
      "json"};
  std::vector<std::string> with_adapter = {"generate", Model(), "--adapter", Adapter()};
  with_adapter.insert(with_adapter.end(), common.begin(), common.end());
  std::vector<std::string> from_merged = {"generate", merged.string()};
  from_merged.insert(from_merged.end(), common.begin(), common.end());
  std::vector<std::string> base_only = {"generate", Model()};
  base_only.insert(base_only.end(), common.begin(), common.end());

  const Result a = Worker(with_adapter), b = Worker(from_merged), base = Worker(base_only);
  ASSERT_EQ(a.code, 0) << a.err;
  ASSERT_EQ(b.code, 0) << b.err;
  ASSERT_EQ(base.code, 0) << base.err;
  const auto la = JsonLines(a.out), lb = JsonLines(b.out), lbase = JsonLines(base.out);
  ASSERT_EQ(la.size(), 2u);
  ASSERT_EQ(lb.size(), 2u);
  EXPECT_TRUE(la[1].contains("messages"));
  for (size_t i = 0; i < 2; ++i) EXPECT_EQ(la[i]["ids"], lb[i]["ids"]) << i;
  EXPECT_TRUE(la[0]["ids"] != lbase[0]["ids"] || la[1]["ids"] != lbase[1]["ids"])
      << "the adapter did not change the generation";
}

TEST_F(GenerateCliTest, BadInputsExitTwoWithAClearMessage) {
  auto expect_2 = [](const std::vector<std::string>& args, const std::string& message) {
    const Result r = Worker(args);
    EXPECT_EQ(r.code, 2) << args[0] << " " << message << "\n" << r.err;
    EXPECT_NE(r.err.find(message), std::string::npos) << "wanted '" << message << "' in:\n"
                                                      << r.err;
  };
  const std::string missing = (*root_ / "no-such-adapter").string();
  expect_2({"generate", Model(), "--adapter", missing, "--prompt", "x", "--chat-template", "none"},
           "no such directory");
  expect_2({"merge", Model(), "--adapter", missing, "--out", (*root_ / "m1").string()},
           "does not exist");

  // adapter_config.json's r disagrees with its weights' rank.
  const fs::path lying = *root_ / "lying-adapter";
  fs::copy(*root_ / "adapter", lying, fs::copy_options::recursive);
  std::string cfg = ReadOrEmpty(lying / "adapter_config.json");
  const size_t at = cfg.find("\"r\": 4");
  ASSERT_NE(at, std::string::npos);
  cfg.replace(at, 6, "\"r\": 8");
  ASSERT_TRUE(WriteFileAtomically(lying / "adapter_config.json", cfg).ok());
  expect_2({"generate", Model(), "--adapter", lying.string(), "--prompt", "x", "--chat-template",
            "none"},
           "rank 4 in the weights but 8 in adapter_config.json");
  expect_2({"merge", Model(), "--adapter", lying.string(), "--out", (*root_ / "m2").string()},
           "rank 4 in the weights but 8");

  // An adapter made for another model shape.
  auto config = LoadModelConfig(Model());
  ASSERT_TRUE(config.ok());
  ModelConfig other = *config;
  other.hidden_size = 48;
  ASSERT_TRUE(testing::WriteRandomAdapter(other, *root_ / "other-adapter", {}).ok());
  expect_2({"generate", Model(), "--adapter", (*root_ / "other-adapter").string(), "--prompt", "x",
            "--chat-template", "none"},
           "does not fit the base model");

  // A non-empty --out.
  const fs::path occupied = *root_ / "occupied";
  fs::create_directories(occupied);
  ASSERT_TRUE(WriteFileAtomically(occupied / "x", "x").ok());
  expect_2({"merge", Model(), "--adapter", Adapter(), "--out", occupied.string()},
           "is not empty; choose another directory or pass --force");
  EXPECT_FALSE(fs::exists(occupied / "model.safetensors"));

  // Options and prompts.
  const std::string m = Model();
  expect_2({"generate", m, "--chat-template", "none"},
           "exactly one of --prompt TEXT and --prompts FILE");
  expect_2({"generate", m, "--prompt", "x", "--temperature", "-1"}, "temperature");
  expect_2({"generate", m, "--prompt", "x", "--top-p", "0"}, "top_p");
  expect_2({"generate", m, "--prompt", "x", "--max-new-tokens", "0"}, "positive integer");
  expect_2({"generate", m, "--prompt", "x", "--chat-template", "vicuna"},
           "unknown chat template 'vicuna'");
  expect_2({"generate", m, "--prompt", "x", "-o", "yaml"}, "-o supports only json");
  expect_2(
      {"merge", m, "--adapter", Adapter(), "--out", (*root_ / "m3").string(), "--dtype", "int8"},
      "--dtype wants bf16, f16 or f32");
  expect_2({"merge", m, "--adapter", Adapter(), "--out", (*root_ / "m4").string(),
            "--max-shard-size", "lots"},
           "--max-shard-size");
  expect_2({"merge", m, "--out", (*root_ / "m5").string()}, "--adapter DIR");
  const fs::path bad_prompts = *root_ / "bad.jsonl";
  ASSERT_TRUE(WriteFileAtomically(bad_prompts, "{\"prompt\": \"ok\"}\n{\"text\": 3}\n").ok());
  expect_2({"generate", m, "--prompts", bad_prompts.string(), "--chat-template", "none"},
           bad_prompts.string() + ":2:");
  const fs::path chat_prompts = *root_ / "chat.jsonl";
  ASSERT_TRUE(WriteFileAtomically(chat_prompts,
                                  "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}]}\n")
                  .ok());
  expect_2({"generate", m, "--prompts", chat_prompts.string(), "--chat-template", "none"},
           "needs a chat template");

  // The model's own Jinja template cannot run: without --chat-template, say so.
  expect_2({"generate", m, "--prompt", "x"}, "pass --chat-template NAME");
  // A model without one: the prompt text is used as is.
  const fs::path plain = *root_ / "plain-model";
  fs::copy(*root_ / "tiny", plain, fs::copy_options::recursive);
  auto tc = nlohmann::json::parse(ReadOrEmpty(plain / "tokenizer_config.json"));
  ASSERT_TRUE(tc.contains("chat_template"));
  tc.erase("chat_template");
  ASSERT_TRUE(WriteFileAtomically(plain / "tokenizer_config.json", tc.dump(2)).ok());
  const Result plain_run =
      Worker({"generate", plain.string(), "--prompt", "x", "--max-new-tokens", "2"});
  EXPECT_EQ(plain_run.code, 0) << plain_run.err;
}

}  // namespace
}  // namespace lorad
