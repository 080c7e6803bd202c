// loractl against a REAL lorad (and real lorad-worker processes when built)
// on a temporary state dir and socket.  Binaries come from the build tree, or
// from $LORAD_TEST_LORAD / $LORAD_TEST_WORKER.  Without lorad the suite is
// skipped; without lorad-worker only the training tests are skipped (jobs
// then stay QUEUED, which is what the queue-side tests need anyway).
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_split.h"
#include "tests/client/subprocess.h"

namespace lorad {
namespace {

using ::testing::HasSubstr;
using testing::RunResult;
namespace fs = std::filesystem;

std::string Binary(const char* env_var, const char* built) {
  if (const char* v = std::getenv(env_var); v && *v) return v;
  return built;
}

bool Executable(const std::string& path) { return !path.empty() && access(path.c_str(), X_OK) == 0; }

std::vector<nlohmann::json> JsonLines(const std::string& text) {
  std::vector<nlohmann::json> out;
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    out.push_back(nlohmann::json::parse(line));
  }
  return out;
}

// A training config for the tiny model: a few steps, checkpoints every 4.
std::string JobYaml(int max_steps, const std::string& output_dir) {
  return absl::StrCat(R"(base_model: ../models/tiny
adapter: lora
lora_r: 4
lora_alpha: 8
lora_target_linear: true
datasets:
  - path: data/tiny.jsonl
    type: completion
sequence_len: 64
micro_batch_size: 2
gradient_accumulation_steps: 1
max_steps: )", max_steps, R"(
learning_rate: 0.002
lr_scheduler: constant
seed: 7
bf16: false
output_dir: )", output_dir, R"(
save_steps: 4
logging_steps: 1
)");
}

class LoractlIntegrationTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    lorad_ = Binary("LORAD_TEST_LORAD", LORAD_PATH);
    worker_ = Binary("LORAD_TEST_WORKER", LORAD_WORKER_PATH);
    if (!Executable(lorad_)) return;
    dir_ = fs::path(::testing::TempDir()) / absl::StrCat("loractl-it-", getpid());
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "cfg/data");
    fs::create_directories(dir_ / "state");
    fs::copy_file(fs::path(LORAD_SOURCE_DIR) / "examples/data/tiny.jsonl", dir_ / "cfg/data/tiny.jsonl");
    have_worker_ = Executable(worker_);
    if (have_worker_) {
      RunResult init = testing::Run(
          {worker_, "init-model", "--preset", "tiny", "--out", (dir_ / "models/tiny").string()}, {}, 120);
      ASSERT_EQ(init.exit_code, 0) << init.err;
    } else {
      // Enough for the server's path checks; no job runs without a worker.
      fs::create_directories(dir_ / "models/tiny");
      std::ofstream(dir_ / "models/tiny/config.json") << "{}";
    }
    std::ofstream(dir_ / "cfg/job.yaml") << JobYaml(12, "../out/run");
    socket_ = (dir_ / "state/lorad.sock").string();
    daemon_ = new testing::Subprocess();
    ASSERT_TRUE(daemon_->Start({lorad_, "--state-dir", (dir_ / "state").string(), "--listen",
                                "unix:" + socket_, "--metrics-address", "127.0.0.1:0", "--workers",
                                have_worker_ ? "cpu" : "none", "--worker-binary",
                                have_worker_ ? worker_ : "/bin/false"}));
    // Ready when the health check answers (lorad writes lorad.addr once bound).
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (std::chrono::steady_clock::now() < deadline && daemon_->running()) {
      if (Loractl({"health"}).exit_code == 0) return;
      daemon_->WaitForOutput("\x01never", 0.2, true);  // reads lorad's log while waiting
    }
    FAIL() << "lorad did not become healthy:\n" << daemon_->err();
  }

  static void TearDownTestSuite() {
    if (daemon_ != nullptr) {
      daemon_->Signal(SIGTERM);
      daemon_->Wait(60);
      delete daemon_;
      daemon_ = nullptr;
    }
  }

  void SetUp() override {
    if (!Executable(lorad_)) GTEST_SKIP() << "lorad is not built (set LORAD_TEST_LORAD)";
  }


  static RunResult Loractl(std::vector<std::string> args, double timeout = 120) {
    args.insert(args.begin(), LORACTL_PATH);
    return testing::Run(args, {{"LORAD_ADDRESS", "unix:" + socket_}}, timeout, dir_.string());
  }

  static std::string Submit(std::vector<std::string> extra) {
    std::vector<std::string> args = {"submit", "cfg/job.yaml"};
    args.insert(args.end(), extra.begin(), extra.end());
    RunResult r = Loractl(args);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    std::string id = r.out;
    while (!id.empty() && id.back() == '\n') id.pop_back();
    EXPECT_EQ(id.find('\n'), std::string::npos) << "stdout must hold the id alone: " << r.out;
    return id;
  }

  static nlohmann::json GetJson(const std::string& id) {
    RunResult r = Loractl({"get", id, "-o", "json"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return nlohmann::json::parse(r.out);
  }

  static inline std::string lorad_, worker_, socket_;
  static inline fs::path dir_;
  static inline bool have_worker_ = false;
  static inline testing::Subprocess* daemon_ = nullptr;
};

TEST_F(LoractlIntegrationTest, QueueSideVerbsInEveryFormat) {
  // A long job at low priority, so on a CPU worker it is still around to cancel.
  const std::string id = Submit({"--set", "max_steps=100000", "--set", "output_dir=../out/queue",
                                 "--name", "queue-side", "--priority", "-5"});
  ASSERT_FALSE(id.empty());

  const nlohmann::json j = GetJson(id);
  EXPECT_EQ(j["id"], id);
  EXPECT_EQ(j["spec"]["name"], "queue-side");
  EXPECT_EQ(j["spec"]["priority"], -5);
  EXPECT_EQ(j["spec"]["config_dir"], (dir_ / "cfg").string());
  EXPECT_EQ(j["spec"]["set_overrides"][0], "max_steps=100000");
  EXPECT_EQ(j["output_dir"], (dir_ / "out/queue").string());
  EXPECT_TRUE(j["state"] == "JOB_STATE_QUEUED" || j["state"] == "JOB_STATE_RUNNING") << j["state"];
  EXPECT_EQ(j["error"], "");  // defaults printed

  const YAML::Node y = YAML::Load(Loractl({"get", id, "-o", "yaml"}).out);
  EXPECT_EQ(y["id"].as<std::string>(), id);
  EXPECT_EQ(y["spec"]["name"].as<std::string>(), "queue-side");

  bool listed = false;
  for (const auto& job : JsonLines(Loractl({"list", "-o", "json"}).out)) {
    if (job["id"] == id) listed = job["spec"]["name"] == "queue-side";
  }
  EXPECT_TRUE(listed);
  EXPECT_THAT(Loractl({"list", "--no-headers"}).out, HasSubstr(id));
  EXPECT_THAT(Loractl({"ls", "-o", "name", "--state", "queued,running"}).out, HasSubstr(id + "\n"));

  RunResult r = Loractl({"wait", id, "--timeout", "1"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("timed out after 1s waiting for job " + id));

  r = Loractl({"cancel", id, "--reason", "test"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  r = Loractl({"wait", id, "--timeout", "120"});
  EXPECT_EQ(r.exit_code, 1) << r.err;  // cancelled
  EXPECT_EQ(r.out, "job " + id + " CANCELLED\n");

  const auto events = JsonLines(Loractl({"logs", id, "-o", "json"}).out);
  ASSERT_FALSE(events.empty());
  for (size_t i = 0; i < events.size(); ++i) EXPECT_EQ(events[i]["seq"], std::to_string(i + 1));
  EXPECT_EQ(events.back()["job_id"], id);

  r = Loractl({"cancel", id});
  EXPECT_EQ(r.exit_code, 2) << r.err;  // already finished: FAILED_PRECONDITION

  r = Loractl({"retry", id});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, id + "\n");
  EXPECT_NE(GetJson(id)["state"], "JOB_STATE_CANCELLED");
  EXPECT_EQ(Loractl({"cancel", id}).exit_code, 0);
  EXPECT_EQ(Loractl({"wait", id, "--timeout", "120"}).exit_code, 1);

  r = Loractl({"delete", id});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  r = Loractl({"get", id});
  EXPECT_EQ(r.exit_code, 4);
  EXPECT_THAT(r.err, HasSubstr(id));
}

TEST_F(LoractlIntegrationTest, IdempotentSubmitReturnsTheSameJob) {
  const std::string a = Submit({"--idempotency-key", "same-key", "--set", "output_dir=../out/idem",
                                "--set", "max_steps=100000", "--priority", "-9"});
  const std::string b = Submit({"--idempotency-key", "same-key", "--set", "output_dir=../out/idem",
                                "--set", "max_steps=100000", "--priority", "-9"});
  EXPECT_EQ(a, b);
  RunResult r = Loractl({"submit", "cfg/job.yaml", "--idempotency-key", "same-key"});
  EXPECT_EQ(r.exit_code, 2) << r.err;  // same key, different spec: ALREADY_EXISTS
  Loractl({"cancel", a});
  Loractl({"wait", a, "--timeout", "120"});
  EXPECT_EQ(Loractl({"delete", a}).exit_code, 0);
}

TEST_F(LoractlIntegrationTest, ErrorPathsHaveTheirExitCodes) {
  RunResult r = Loractl({"submit", "cfg/job.yaml", "--set", "base_model=/no/such/model"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("lorad refused the job"));
  EXPECT_THAT(r.err, HasSubstr("base_model"));
  EXPECT_EQ(r.out, "");

  r = Loractl({"submit", "cfg/job.yaml", "--set", "lora_r=0"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("not a valid training config"));

  for (const char* verb : {"get", "logs", "wait", "checkpoints", "cancel", "retry", "delete"}) {
    r = Loractl({verb, "nosuchjob"});
    EXPECT_EQ(r.exit_code, 4) << verb << ": " << r.err;
  }
  r = Loractl({"list", "--address", "unix:" + (dir_ / "nobody.sock").string()});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_THAT(r.err, HasSubstr("cannot reach lorad at"));
  r = Loractl({"version"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("server: lorad "));
  EXPECT_EQ(Loractl({"health"}).out, "SERVING\n");
  EXPECT_EQ(Loractl({"workers", "-o", "json"}).exit_code, 0);
}

TEST_F(LoractlIntegrationTest, SubmitFollowOnATerminalTrainsToTheEnd) {
  if (!have_worker_) GTEST_SKIP() << "lorad-worker is not built (set LORAD_TEST_WORKER)";
  const std::string cmd = absl::StrCat(LORACTL_PATH, " --address unix:", socket_,
                                       " submit cfg/job.yaml --follow --name follow");
  RunResult r = testing::Run({"/usr/bin/script", "-qfec", cmd, "/dev/null"}, {{"COLUMNS", "120"}},
                             600, dir_.string());
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("\r\x1b[2K"));
  EXPECT_THAT(r.out, HasSubstr("step 12/12 "));
  EXPECT_THAT(r.out, HasSubstr("100%"));
  EXPECT_THAT(r.out, HasSubstr("checkpoint step=4"));
  EXPECT_THAT(r.out, HasSubstr("SUCCEEDED"));
  const std::string id = std::string(absl::StripAsciiWhitespace(r.out.substr(0, r.out.find('\n'))));

  const nlohmann::json j = GetJson(id);
  EXPECT_EQ(j["state"], "JOB_STATE_SUCCEEDED");
  EXPECT_EQ(j["last_step"], "12");
  EXPECT_EQ(j["total_steps"], "12");
  EXPECT_EQ(j["output_dir"], (dir_ / "out/run").string());
  EXPECT_TRUE(fs::exists(dir_ / "out/run/adapter_model.safetensors"));

  const auto events = JsonLines(Loractl({"logs", id, "-o", "json"}).out);
  std::vector<int64_t> steps;
  for (size_t i = 0; i < events.size(); ++i) {
    EXPECT_EQ(events[i]["seq"], std::to_string(i + 1));  // gap-free
    if (events[i].contains("step")) {
      steps.push_back(std::stoll(events[i]["step"]["step"].get<std::string>()));
      EXPECT_TRUE(std::isfinite(events[i]["step"]["loss"].get<double>()));
    }
  }
  ASSERT_EQ(steps.size(), 12u);
  for (int s = 0; s < 12; ++s) EXPECT_EQ(steps[s], s + 1);

  const auto cks = JsonLines(Loractl({"checkpoints", id, "-o", "json"}).out);
  ASSERT_FALSE(cks.empty());
  EXPECT_EQ(cks.front()["step"], "4");
  RunResult loss = Loractl({"loss", id, "--width", "60"});
  EXPECT_EQ(loss.exit_code, 0);
  EXPECT_THAT(loss.out, HasSubstr("train loss (12 points"));
  EXPECT_EQ(Loractl({"wait", id}).exit_code, 0);
}

TEST_F(LoractlIntegrationTest, SubmitResumeContinuesTheAdapterAndReproducesTheProbeLoss) {
  if (!have_worker_) GTEST_SKIP() << "lorad-worker is not built (set LORAD_TEST_WORKER)";
  const std::string first = Submit({"--set", "output_dir=../out/first", "--set", "max_steps=8"});
  ASSERT_EQ(Loractl({"wait", first, "--timeout", "600"}, 620).exit_code, 0);
  const std::string second = Submit({"--resume", (dir_ / "out/first").string(), "--set",
                                     "output_dir=../out/second", "--set", "max_steps=4"});
  RunResult w = Loractl({"wait", second, "--timeout", "600"}, 620);
  ASSERT_EQ(w.exit_code, 0) << w.err << Loractl({"logs", second}).out;

  bool found = false;
  for (const auto& e : JsonLines(Loractl({"logs", second, "-o", "json"}).out)) {
    if (!e.contains("resume")) continue;
    found = true;
    EXPECT_EQ(e["resume"]["source"].get<std::string>().find((dir_ / "out/first").string()), 0u);
    const auto record = nlohmann::json::parse(e["resume"]["record_json"].get<std::string>());
    ASSERT_TRUE(record.contains("probe")) << record.dump();
    const auto& probe = record["probe"];
    EXPECT_TRUE(probe["available"].get<bool>()) << probe.dump();
    EXPECT_TRUE(probe["passed"].get<bool>()) << probe.dump();
    EXPECT_NEAR(probe["recorded"].get<double>(), probe["recomputed"].get<double>(),
                probe["tolerance"].get<double>());
  }
  EXPECT_TRUE(found) << "no resume event";
  EXPECT_THAT(Loractl({"logs", second}).out, HasSubstr("adapter loaded"));
}

TEST_F(LoractlIntegrationTest, MergeAFinishedJobOnTheServerWithProgress) {
  if (!have_worker_) GTEST_SKIP() << "lorad-worker is not built (set LORAD_TEST_WORKER)";
  const std::string train = Submit({"--set", "output_dir=../out/to-merge", "--set", "max_steps=4",
                                    "--name", "to-merge"});
  ASSERT_EQ(Loractl({"wait", train, "--timeout", "600"}, 620).exit_code, 0);

  // Refused before anything is queued, with the reason and the exit status.
  RunResult r = Loractl({"merge", train, "--out", "models/tiny/merged"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_THAT(r.err, HasSubstr("overlaps the base model's directory"));
  r = Loractl({"merge", "nosuchjob", "--out", "out/m"});
  EXPECT_EQ(r.exit_code, 4) << r.err;

  // A small shard size: the tiny model (~1 MB of F32) comes out in several shards.
  const fs::path out = dir_ / "out/merged";
  r = Loractl({"merge", train, "--out", "out/merged", "--max-shard-size", "300KB", "--follow",
               "--name", "merged"},
              600);
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  const std::string id = std::string(absl::StripAsciiWhitespace(r.out));
  ASSERT_FALSE(id.empty());
  EXPECT_THAT(r.err, HasSubstr("merge shard 1/"));
  EXPECT_THAT(r.err, HasSubstr("final SUCCEEDED merged 28 modules into "));
  EXPECT_THAT(r.err, HasSubstr("job " + id + " SUCCEEDED: merged model in " + out.string()));

  const nlohmann::json j = GetJson(id);
  EXPECT_EQ(j["state"], "JOB_STATE_SUCCEEDED");
  EXPECT_EQ(j["spec"]["kind"], "JOB_KIND_MERGE");
  EXPECT_EQ(j["merge"]["adapter_dir"], (dir_ / "out/to-merge").string());
  EXPECT_EQ(j["merge"]["model_dir"], (dir_ / "models/tiny").string());
  EXPECT_EQ(j["output_dir"], out.string());
  const int shards = std::stoi(j["total_steps"].get<std::string>());
  EXPECT_GT(shards, 1);
  EXPECT_EQ(j["last_step"], j["total_steps"]);
  EXPECT_THAT(Loractl({"list"}).out, ::testing::ContainsRegex(id + " +merged +merge +SUCCEEDED"));

  int progress = 0;
  for (const auto& e : JsonLines(Loractl({"logs", id, "-o", "json"}).out)) {
    if (!e.contains("record_json")) continue;
    const auto rec = nlohmann::json::parse(e["record_json"].get<std::string>());
    if (rec["type"] == "merge_progress") {
      EXPECT_EQ(rec["shard"], ++progress);
    }
  }
  EXPECT_EQ(progress, shards);

  // A Hugging Face model directory: config, shards with their index, tokenizer;
  // nothing half-written or temporary beside it.
  EXPECT_TRUE(fs::exists(out / "config.json"));
  EXPECT_TRUE(fs::exists(out / "tokenizer.json"));
  const auto index = nlohmann::json::parse(std::ifstream(out / "model.safetensors.index.json"));
  std::set<std::string> files;
  for (const auto& [name, file] : index["weight_map"].items()) files.insert(file.get<std::string>());
  EXPECT_EQ(static_cast<int>(files.size()), shards);
  for (const std::string& f : files) EXPECT_TRUE(fs::exists(out / f)) << f;
  for (const auto& e : fs::directory_iterator(dir_ / "out")) {
    EXPECT_EQ(e.path().filename().string().find(".merge-"), std::string::npos) << e.path();
  }

  // It loads, and greedy text from it is the base model's with the adapter.
  auto generate = [&](std::vector<std::string> model) {
    model.insert(model.begin(), {worker_, "generate"});
    for (const char* a : {"--prompt", "the cat sat", "--chat-template", "none",
                          "--max-new-tokens", "12", "-o", "json", "--threads", "1"}) {
      model.push_back(a);
    }
    RunResult g = testing::Run(model, {}, 300);
    EXPECT_EQ(g.exit_code, 0) << g.err;
    return g.exit_code == 0 ? JsonLines(g.out).at(0) : nlohmann::json();
  };
  const nlohmann::json with_adapter =
      generate({(dir_ / "models/tiny").string(), "--adapter", (dir_ / "out/to-merge").string()});
  const nlohmann::json merged = generate({out.string()});
  EXPECT_EQ(with_adapter["ids"], merged["ids"]);
  EXPECT_EQ(with_adapter["text"], merged["text"]);

  // Again into the same, now non-empty, directory: only with --force.
  r = Loractl({"merge", train, "--out", "out/merged"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_THAT(r.err, HasSubstr("not empty; choose another directory or pass --force"));
  r = Loractl({"merge", train, "--out", "out/merged", "--force", "--follow"}, 600);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(fs::exists(out / "model.safetensors"));  // the default shard size: one file
  EXPECT_FALSE(fs::exists(out / "model.safetensors.index.json"));
}

}  // namespace
}  // namespace lorad
