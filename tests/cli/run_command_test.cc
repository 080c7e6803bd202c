// `lorad-worker run` as a user runs it: the real binary, real files, exit
// codes and messages for every bad input, JSON lines, --dry-run and SIGTERM.
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fcntl.h>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>

#include "tests/sanitizers/sanitizer_build.h"
#include "tests/train/tiny_run_fixture.h"

extern char** environ;

namespace lorad {
namespace {

using testing::TempDir;

const std::string kWorker = std::string(LORAD_BINARY_DIR) + "/worker/cli/lorad-worker";

struct Result {
  int code = -1;
  std::string out;
  std::string err;
};

pid_t Spawn(const std::vector<std::string>& args, const std::filesystem::path& out,
            const std::filesystem::path& err) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&actions, 2, err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  std::vector<char*> argv;
  argv.push_back(const_cast<char*>(kWorker.c_str()));
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  pid_t pid = -1;
  EXPECT_EQ(posix_spawn(&pid, kWorker.c_str(), &actions, nullptr, argv.data(), environ), 0);
  posix_spawn_file_actions_destroy(&actions);
  return pid;
}

int Wait(pid_t pid) {
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

Result RunWorker(const TempDir& tmp, const std::vector<std::string>& args) {
  Result r;
  r.code = Wait(Spawn(args, tmp.path() / "stdout.txt", tmp.path() / "stderr.txt"));
  r.out = testing::ReadText(tmp.path() / "stdout.txt");
  r.err = testing::ReadText(tmp.path() / "stderr.txt");
  return r;
}

std::vector<nlohmann::json> Records(const std::string& out) {
  std::vector<nlohmann::json> records;
  std::istringstream in(out);
  std::string line;
  while (std::getline(in, line)) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    EXPECT_TRUE(j.is_object()) << "not a JSON object line: " << line;
    records.push_back(j);
  }
  return records;
}

const std::string kGood =
    "lora_r: 4\nlora_target_linear: true\nlearning_rate: 0.01\nmicro_batch_size: 2\nbf16: false\n";

class RunCommandTest : public ::testing::Test {
 protected:
  RunCommandTest() : tmp_("cli") {
    testing::WriteRepetitiveDataset(tmp_.path() / "data.jsonl", 8);
  }
  std::string Config(const std::string& extra) {
    return testing::WriteConfig(tmp_.path(), tmp_.path() / "data.jsonl", extra).string();
  }
  void ExpectRefused(const std::string& extra, const std::string& needle) {
    Result r = RunWorker(tmp_, {"run", Config(extra), "--threads", "1"});
    EXPECT_EQ(r.code, 2) << r.err;
    EXPECT_NE(r.err.find(needle), std::string::npos) << "stderr lacks '" << needle << "':\n" << r.err;
    EXPECT_FALSE(std::filesystem::exists(tmp_.path() / "out" / "adapter_model.safetensors"));
  }
  TempDir tmp_;
};

TEST_F(RunCommandTest, RunsWithPassiveOpenMpWaitUnlessTheUserChose) {
  ::unsetenv("OMP_WAIT_POLICY");
  Result r = RunWorker(tmp_, {"version"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("OMP_WAIT_POLICY=PASSIVE"), std::string::npos) << r.out;
  ::setenv("OMP_WAIT_POLICY", "active", 1);
  r = RunWorker(tmp_, {"version"});
  ::unsetenv("OMP_WAIT_POLICY");
  EXPECT_NE(r.out.find("OMP_WAIT_POLICY=active"), std::string::npos) << r.out;
}

TEST_F(RunCommandTest, TrainsAndPrintsJsonLines) {
  Result r = RunWorker(tmp_, {"run", Config(kGood + "max_steps: 3\n"), "--threads", "1"});
  ASSERT_EQ(r.code, 0) << r.err;
  auto records = Records(r.out);
  int steps = 0, finals = 0;
  for (const auto& rec : records) {
    steps += rec["type"] == "step";
    finals += rec["type"] == "final";
  }
  EXPECT_EQ(steps, 3);
  EXPECT_EQ(finals, 1);
  EXPECT_TRUE(std::filesystem::exists(tmp_.path() / "out" / "adapter_model.safetensors"));
  EXPECT_EQ(r.err.find("\033["), std::string::npos) << "no colours when stderr is not a TTY";
}

TEST_F(RunCommandTest, DryRunTrainsNothing) {
  Result r = RunWorker(tmp_, {"run", Config(kGood + "max_steps: 7\n"), "--dry-run"});
  ASSERT_EQ(r.code, 0) << r.err;
  auto records = Records(r.out);
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0]["type"], "dry_run");
  EXPECT_EQ(records[0]["total_steps"], 7);
  EXPECT_GT(records[0]["trainable_parameters"].get<int64_t>(), 0);
  EXPECT_GT(records[0]["memory_estimate"]["total_bytes"].get<int64_t>(), 0);
  EXPECT_FALSE(std::filesystem::exists(tmp_.path() / "out"));
}

// The attention backend a run uses is resolved per sequence length (auto),
// reported with its reason, and the dry run's memory estimate follows it: at
// sequence_len 2048 eager keeps heads × T² scores per layer, blockwise none.
TEST_F(RunCommandTest, DryRunReportsTheAttentionBackendAndItsMemory) {
  auto dry = [&](const std::string& extra) {
    Result r = RunWorker(tmp_, {"run", Config(kGood + "max_steps: 2\n" + extra), "--dry-run",
                                "--threads", "1"});
    EXPECT_EQ(r.code, 0) << r.err;
    auto records = Records(r.out);
    EXPECT_EQ(records.size(), 1u);
    return records.empty() ? nlohmann::json() : records[0];
  };
  const nlohmann::json short_auto = dry("");  // sequence_len 64
  EXPECT_EQ(short_auto["attention"]["backend"], "eager");
  EXPECT_EQ(short_auto["attention"]["requested"], "auto");
  EXPECT_NE(short_auto["attention"]["reason"].get<std::string>().find("sequence_len 64"),
            std::string::npos);
  const nlohmann::json long_auto = dry("sequence_len: 2048\n");
  const nlohmann::json long_eager = dry("sequence_len: 2048\nattention: eager\n");
  const nlohmann::json long_flash = dry("sequence_len: 2048\nflash_attention: true\n");
  EXPECT_EQ(long_auto["attention"]["backend"], "blockwise");
  EXPECT_EQ(long_eager["attention"]["backend"], "eager");
  EXPECT_EQ(long_flash["attention"]["backend"], "blockwise");
  EXPECT_EQ(long_auto["memory_estimate"]["attention_backend"], "blockwise");
  const auto eager_attn = long_eager["memory_estimate"]["attention_bytes"].get<int64_t>();
  const auto block_attn = long_auto["memory_estimate"]["attention_bytes"].get<int64_t>();
  // tiny, micro_batch_size 2, fp32: 4 layers × 2 rows × 4 heads × 2048² fp32
  // probabilities = 512 MiB kept by eager.
  EXPECT_EQ(eager_attn, int64_t{4} * 2 * 4 * 2048 * 2048 * 4);
  EXPECT_LT(block_attn * 20, eager_attn);
  EXPECT_LT(long_auto["memory_estimate"]["total_bytes"].get<int64_t>(),
            long_eager["memory_estimate"]["total_bytes"].get<int64_t>() / 2);
  // sdpa on a LibTorch without it (1.13) runs blockwise and says why.
  const nlohmann::json sdpa = dry("attention: sdpa\n");
  if (sdpa["attention"]["backend"] != "sdpa") {
    EXPECT_EQ(sdpa["attention"]["backend"], "blockwise");
    EXPECT_NE(sdpa["attention"]["reason"].get<std::string>().find(
                  "no scaled_dot_product_attention"),
              std::string::npos);
  }
}

TEST_F(RunCommandTest, MissingDataset) {
  std::filesystem::remove(tmp_.path() / "data.jsonl");
  ExpectRefused(kGood, "data.jsonl");
}
TEST_F(RunCommandTest, ZeroRank) { ExpectRefused("lora_r: 0\nlearning_rate: 0.01\n", "lora_r"); }
TEST_F(RunCommandTest, NegativeLearningRate) {
  ExpectRefused("learning_rate: -0.1\n", "learning_rate");
}
TEST_F(RunCommandTest, UnknownScheduler) {
  ExpectRefused("learning_rate: 0.01\nlr_scheduler: sawtooth\n", "lr_scheduler");
}
TEST_F(RunCommandTest, QloraRefused) {
  ExpectRefused("adapter: qlora\nlearning_rate: 0.01\n", "qlora");
}

TEST_F(RunCommandTest, OccupiedOutputDirRefusedUnlessOverwrite) {
  std::filesystem::create_directories(tmp_.path() / "out");
  testing::WriteText(tmp_.path() / "out" / "adapter_config.json", "{}");
  Result r = RunWorker(tmp_, {"run", Config(kGood + "max_steps: 1\n"), "--threads", "1"});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("output_dir"), std::string::npos) << r.err;
  EXPECT_EQ(testing::ReadText(tmp_.path() / "out" / "adapter_config.json"), "{}");
  r = RunWorker(tmp_, {"run", Config(kGood + "max_steps: 1\n"), "--threads", "1", "--overwrite"});
  EXPECT_EQ(r.code, 0) << r.err;
}

TEST_F(RunCommandTest, BinOnlyModelRefused) {
  const auto model = tmp_.path() / "binmodel";
  std::filesystem::create_directories(model);
  for (const char* f : {"config.json", "tokenizer.json", "tokenizer_config.json"}) {
    if (std::filesystem::exists(testing::TinyModelDir() / f)) {
      std::filesystem::copy_file(testing::TinyModelDir() / f, model / f);
    }
  }
  testing::WriteText(model / "pytorch_model.bin", "not really a pickle");
  ExpectRefused(kGood + "base_model: " + model.string() + "\n", ".bin");
}

TEST_F(RunCommandTest, UnsupportedArchitectureRefused) {
  const auto model = tmp_.path() / "gpt2";
  std::filesystem::copy(testing::TinyModelDir(), model, std::filesystem::copy_options::recursive);
  auto cfg = nlohmann::json::parse(testing::ReadText(model / "config.json"));
  cfg["architectures"] = {"GPT2LMHeadModel"};
  cfg["model_type"] = "gpt2";
  testing::WriteText(model / "config.json", cfg.dump());
  ExpectRefused(kGood + "base_model: " + model.string() + "\n", "GPT2LMHeadModel");
}

TEST_F(RunCommandTest, TokenizerLargerThanTheEmbeddingRefused) {
  const auto model = tmp_.path() / "short-vocab";
  std::filesystem::copy(testing::TinyModelDir(), model, std::filesystem::copy_options::recursive);
  auto cfg = nlohmann::json::parse(testing::ReadText(model / "config.json"));
  cfg["vocab_size"] = cfg["vocab_size"].get<int64_t>() - 2;
  testing::WriteText(model / "config.json", cfg.dump());
  ExpectRefused(kGood + "base_model: " + model.string() + "\n", "has no row for the added tokens");
}

// The shipped examples train as the README shows them (the tiny preset in
// place of ../models/tiny, fewer steps): the loss falls and every step is finite.
class ExampleRunTest : public RunCommandTest, public ::testing::WithParamInterface<const char*> {};

TEST_P(ExampleRunTest, FineTunesTheTinyPreset) {
  const std::string yaml = std::string(LORAD_SOURCE_DIR) + "/examples/" + GetParam();
  Result r = RunWorker(tmp_, {"run", yaml, "--set", "base_model=" + testing::TinyModelDir().string(),
                              "--set", "output_dir=" + (tmp_.path() / "out").string(), "--set",
                              "max_steps=40", "--set", "logging_steps=1", "--threads", "1"});
  ASSERT_EQ(r.code, 0) << r.err;
  std::vector<double> losses;
  int evals = 0;
  for (const auto& rec : Records(r.out)) {
    if (rec.value("type", "") == "eval") {
      ++evals;
      EXPECT_TRUE(rec["eval_loss"].is_number()) << rec.dump();
    }
    if (rec.value("type", "") != "step") continue;
    ASSERT_TRUE(rec["loss"].is_number()) << rec.dump();
    losses.push_back(rec["loss"].get<double>());
  }
  // chat-lora.yaml holds out two conversations and evaluates every 10 steps.
  if (std::string(GetParam()) == "chat-lora.yaml") {
    EXPECT_EQ(evals, 4);
  }
  ASSERT_EQ(losses.size(), 40u);
  const double first = (losses[0] + losses[1] + losses[2]) / 3;
  const double last = (losses[37] + losses[38] + losses[39]) / 3;
  EXPECT_LT(last, 0.85 * first) << "first " << first << " last " << last;
  EXPECT_TRUE(std::filesystem::exists(tmp_.path() / "out" / "adapter_model.safetensors"));
}

INSTANTIATE_TEST_SUITE_P(Examples, ExampleRunTest,
                         ::testing::Values("tiny-lora.yaml", "alpaca-lora.yaml", "chat-lora.yaml"),
                         [](const auto& info) {
                           std::string n = info.param;
                           return n.substr(0, n.find('-'));
                         });

// Disk full while checkpointing: output_dir on a 1 MiB tmpfs (mounted in a
// user + mount namespace, so no root is needed) that holds one checkpoint of
// the tiny adapter but not two.  The run fails with a clear error, the
// previous checkpoint still verifies, and no temporary directory is left.
TEST_F(RunCommandTest, DiskFullWhileCheckpointingKeepsThePreviousCheckpoint) {
  // Containers often forbid user namespaces: then there is no way to mount a
  // small file system without root, and the test says so instead of failing.
  if (std::system("unshare --user --map-root-user --mount true >/dev/null 2>&1") != 0) {
    GTEST_SKIP() << "this host does not allow user + mount namespaces (unshare): the "
                    "disk-full test needs them to mount a 1 MiB tmpfs";
  }
  const auto disk = tmp_.path() / "disk";
  const auto copy = tmp_.path() / "copy";
  std::filesystem::create_directories(disk);
  const std::string config =
      Config(kGood + "max_steps: 40\nsave_steps: 1\nsave_total_limit: 0\noutput_dir: " +
             (disk / "out").string() + "\n");
  const std::string script =
      "mount -t tmpfs -o size=1m none " + disk.string() + " && " + kWorker + " run " + config +
      " --threads 1 > " + (tmp_.path() / "stdout.txt").string() + " 2> " +
      (tmp_.path() / "stderr.txt").string() + "; echo $? > " + (tmp_.path() / "rc.txt").string() +
      "; cp -a " + (disk / "out").string() + " " + copy.string();
  const std::string cmd = "unshare --user --map-root-user --mount sh -c '" + script + "'";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  const std::string err = testing::ReadText(tmp_.path() / "stderr.txt");
  EXPECT_EQ(std::stoi(testing::ReadText(tmp_.path() / "rc.txt")), 1) << err;
  EXPECT_NE(err.find("No space left on device"), std::string::npos) << err;
  // The newest checkpoint left behind is complete, and nothing half-written remains.
  std::vector<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(copy)) {
    names.push_back(e.path().filename().string());
  }
  int checkpoints = 0;
  for (const auto& n : names) {
    EXPECT_EQ(n.find("tmp"), std::string::npos) << "left behind: " << n;
    checkpoints += n.rfind("checkpoint-", 0) == 0;
  }
  ASSERT_GE(checkpoints, 1) << "the disk did not even hold one checkpoint";
  Result resume = RunWorker(tmp_, {"run", config, "--resume", "auto", "--dry-run", "--set",
                                   "output_dir=" + copy.string(), "--threads", "1"});
  EXPECT_EQ(resume.code, 0) << resume.err;
  EXPECT_NE(resume.err.find("exact resume"), std::string::npos) << resume.err;
}

// A job sized past the memory the process may use (ulimit -v): exit 1 with a
// message naming memory, the job's sizes and what would shrink it.
TEST_F(RunCommandTest, OutOfMemoryIsAClearFailure) {
  if (lorad::testing::kAddressSanitizer) GTEST_SKIP() << lorad::testing::kNoAddressLimitUnderAsan;
  std::string data;
  const char* words[] = {"the", "cat", "sat", "on", "a", "mat", "and", "dog", "ran", "far"};
  for (int row = 0; row < 48; ++row) {
    std::string text;
    for (int w = 0; w < 3000; ++w) text += std::string(words[(row * 7 + w * 3) % 10]) + " ";
    data += nlohmann::json({{"text", text}}).dump() + "\n";
  }
  testing::WriteText(tmp_.path() / "long.jsonl", data);
  // 64 rows × 2048 tokens: one layer's fp32 attention scores alone are 4 GiB.
  // Eager pinned: auto would pick blockwise here and reach the limit slowly.
  const std::string config = Config(
      "lora_r: 4\nlora_target_linear: true\nlearning_rate: 0.01\nbf16: false\nattention: eager\n"
      "sequence_len: 2048\nmicro_batch_size: 64\nmax_steps: 1\n"
      "datasets:\n  - path: " + (tmp_.path() / "long.jsonl").string() + "\n    type: completion\n");
  const std::string cmd = "ulimit -v 2500000 && exec " + kWorker + " run " + config +
                          " --threads 1 > " + (tmp_.path() / "stdout.txt").string() + " 2> " +
                          (tmp_.path() / "stderr.txt").string();
  const int rc = std::system(("sh -c '" + cmd + "'").c_str());
  const std::string err = testing::ReadText(tmp_.path() / "stderr.txt");
  ASSERT_TRUE(WIFEXITED(rc)) << err;
  EXPECT_EQ(WEXITSTATUS(rc), 1) << err;
  for (const char* needle : {"out of memory", "micro_batch_size 64 × sequence_len 2048",
                             "enable gradient_checkpointing", "enable bf16"}) {
    EXPECT_NE(err.find(needle), std::string::npos) << "stderr lacks '" << needle << "':\n" << err;
  }
  const auto records = Records(testing::ReadText(tmp_.path() / "stdout.txt"));
  ASSERT_FALSE(records.empty());
  EXPECT_EQ(records.back().value("code", ""), "RESOURCE_EXHAUSTED") << records.back().dump();
}

TEST_F(RunCommandTest, SigtermCheckpointsAndExits130) {
  const auto out = tmp_.path() / "sig-stdout.txt";
  pid_t pid = Spawn({"run", Config(kGood + "max_steps: 100000\n"), "--threads", "1"}, out,
                    tmp_.path() / "sig-stderr.txt");
  // Wait (with a deadline) until the first step record is out.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (testing::ReadText(out).find("\"type\":\"step\"") == std::string::npos) {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "no step record within 120 s";
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // polling, not synchronisation
  }
  kill(pid, SIGTERM);
  EXPECT_EQ(Wait(pid), 130) << testing::ReadText(tmp_.path() / "sig-stderr.txt");
  bool checkpoint = false;
  for (const auto& rec : Records(testing::ReadText(out))) {
    if (rec["type"] == "checkpoint" && rec["reason"] == "stop") checkpoint = true;
  }
  EXPECT_TRUE(checkpoint);
}

}  // namespace
}  // namespace lorad
