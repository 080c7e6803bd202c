// Drives the real loractl binary against an in-process fake JobService:
// every verb, every output format parsed back, the exit status of every
// error path, the live progress line on a pseudo-terminal and Ctrl-C.
#include <signal.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "tests/client/fake_lorad.h"
#include "tests/client/subprocess.h"

namespace lorad {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using testing::RunResult;

namespace fs = std::filesystem;

constexpr char kConfig[] = R"(base_model: ../models/tiny
adapter: lora
lora_r: 8
lora_alpha: 16
lora_target_linear: true
datasets:
  - path: data/tiny.jsonl
    type: completion
sequence_len: 64
micro_batch_size: 2
max_steps: 10
learning_rate: 0.002
output_dir: ../out/run
)";

std::vector<nlohmann::json> JsonLines(const std::string& text) {
  std::vector<nlohmann::json> out;
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    out.push_back(nlohmann::json::parse(line));
  }
  return out;
}

class LoractlFakeServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) /
           absl::StrCat("loractl-fake-", ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "cfg");
    socket_ = (dir_ / "s.sock").string();
    server_ = std::make_unique<testing::FakeLorad>(socket_, token_);
    server_->AddFinishedJob("job-ok", 20, v1::JOB_STATE_SUCCEEDED);
    server_->AddFinishedJob("job-bad", 4, v1::JOB_STATE_FAILED);
    server_->AddFinishedJob("job-stopped", 4, v1::JOB_STATE_CANCELLED);
    std::ofstream(dir_ / "cfg/job.yaml") << kConfig;
  }

  RunResult Loractl(std::vector<std::string> args, std::map<std::string, std::string> env = {}) {
    args.insert(args.begin(), LORACTL_PATH);
    env.emplace("LORAD_ADDRESS", "unix:" + socket_);
    return testing::Run(args, env, 60, dir_.string());
  }

  fs::path dir_;
  std::string socket_;
  std::string token_;
  std::unique_ptr<testing::FakeLorad> server_;
};

TEST_F(LoractlFakeServerTest, SubmitPrintsTheIdAloneAndSendsTheSpecAsWritten) {
  RunResult r = Loractl({"submit", "cfg/job.yaml", "--set", "lora_r=16", "--name", "n1",
                         "--priority", "5", "--resume", "prev/checkpoint-20", "--idempotency-key",
                         "k1", "--device", "cpu", "--max-runtime", "1h"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "job-1\n");
  EXPECT_THAT(r.err, HasSubstr("warning: fake warning"));
  const v1::JobSpec spec = server_->last_spec();
  EXPECT_EQ(spec.config_yaml(), kConfig);
  EXPECT_EQ(spec.config_dir(), (dir_ / "cfg").string());
  EXPECT_THAT(spec.set_overrides(), ElementsAre("lora_r=16"));
  EXPECT_EQ(spec.name(), "n1");
  EXPECT_EQ(spec.priority(), 5);
  EXPECT_EQ(spec.resume_from(), (dir_ / "prev/checkpoint-20").string());
  EXPECT_EQ(spec.idempotency_key(), "k1");
  EXPECT_EQ(spec.device_kind(), v1::DEVICE_KIND_CPU);
  EXPECT_EQ(spec.max_runtime().seconds(), 3600);
}

TEST_F(LoractlFakeServerTest, MergeSendsAMergeJobAndPrintsItsIdAlone) {
  RunResult r = Loractl({"merge", "job-ok", "--out", "models/merged", "--dtype", "bf16",
                         "--max-shard-size", "1GB", "--force", "--name", "m1"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "job-1\n");
  const v1::JobSpec spec = server_->last_spec();
  EXPECT_EQ(spec.kind(), v1::JOB_KIND_MERGE);
  EXPECT_EQ(spec.config_yaml(), "");
  EXPECT_EQ(spec.name(), "m1");
  EXPECT_EQ(spec.merge().source_job_id(), "job-ok");
  EXPECT_EQ(spec.merge().out_dir(), (dir_ / "models/merged").string());  // absolute here
  EXPECT_EQ(spec.merge().dtype(), "bf16");
  EXPECT_EQ(spec.merge().max_shard_size(), "1GB");
  EXPECT_TRUE(spec.merge().force());

  r = Loractl({"merge", "job-ok", "--out", "/srv/merged", "-o", "json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const nlohmann::json j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["id"], "job-2");
  EXPECT_EQ(j["spec"]["kind"], "JOB_KIND_MERGE");
  EXPECT_EQ(j["spec"]["merge"]["out_dir"], "/srv/merged");

  r = Loractl({"merge", "job-ok"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("--out DIR is required"));
}

TEST_F(LoractlFakeServerTest, SubmitChecksTheConfigLocallyFirst) {
  std::ofstream(dir_ / "cfg/bad.yaml") << "base_model: m\nlora_r: 0\nlearning_rate: -1\n";
  RunResult r = Loractl({"submit", "cfg/bad.yaml"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.out, "");
  EXPECT_THAT(r.err, HasSubstr("cfg/bad.yaml is not a valid training config"));
  EXPECT_THAT(r.err, HasSubstr("lora_r"));
  EXPECT_THAT(r.err, HasSubstr("learning_rate"));
  EXPECT_EQ(server_->last_spec().config_yaml(), "");  // nothing was sent

  r = Loractl({"submit", "cfg/nope.yaml"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("cfg/nope.yaml: No such file or directory"));

  r = Loractl({"submit", "cfg/job.yaml", "--set", "lora_r=oops"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("lora_r"));
}

TEST_F(LoractlFakeServerTest, NonUtf8TextIsRefusedLocallyNamingTheField) {
  // gRPC 1.51 answers a request with non-UTF-8 text UNIMPLEMENTED and no
  // message; loractl refuses it before sending, naming the field.
  const std::string latin1 = "\xe9t\xe9";
  RunResult r = Loractl({"submit", "cfg/job.yaml", "--name", "n-" + latin1});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.out, "");
  EXPECT_THAT(r.err, HasSubstr("the job spec: name is not valid UTF-8"));
  r = Loractl({"submit", "cfg/job.yaml", "--dry-run", "--idempotency-key", latin1});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("the job spec: idempotency_key is not valid UTF-8"));
  // A config in a folder whose name is not UTF-8: config_dir is sent as is.
  fs::create_directories(dir_ / ("cfg-" + latin1));
  fs::copy_file(dir_ / "cfg/job.yaml", dir_ / ("cfg-" + latin1) / "job.yaml");
  r = Loractl({"submit", "cfg-" + latin1 + "/job.yaml"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("the job spec: config_dir is not valid UTF-8"));
  r = Loractl({"merge", "job-ok", "--out", "models/" + latin1});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("the job spec: merge.out_dir is not valid UTF-8"));
  EXPECT_EQ(server_->last_spec().ByteSizeLong(), 0u);  // nothing reached the server
}

TEST_F(LoractlFakeServerTest, ServerValidationErrorIsExit2WithTheServersMessage) {
  std::string text = kConfig;
  text.replace(text.find("../models/tiny"), 14, "/srv/missing_on_server");
  std::ofstream(dir_ / "cfg/remote.yaml") << text;
  RunResult r = Loractl({"submit", "cfg/remote.yaml"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("lorad refused the job:\nbase_model: /srv/missing_on_server does not exist"));
}

TEST_F(LoractlFakeServerTest, DryRunAsksTheServerAndQueuesNothing) {
  RunResult r = Loractl({"submit", "cfg/job.yaml", "--dry-run", "-o", "json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["estimated_steps"], "80");
  EXPECT_EQ(j["estimated_checkpoint_bytes"], std::to_string(3 << 20));
  EXPECT_EQ(j["output_dir"], (dir_ / "cfg/out").string());
  EXPECT_EQ(j["resolved_config_json"], "");  // defaults printed
  r = Loractl({"submit", "cfg/job.yaml", "--dry-run"});
  EXPECT_THAT(r.out, HasSubstr("estimated steps:  80"));
  EXPECT_THAT(r.out, HasSubstr("checkpoint size:  3.0 MiB"));
  EXPECT_EQ(Loractl({"get", "job-1"}).exit_code, 4);  // nothing queued
}

TEST_F(LoractlFakeServerTest, ListInEveryFormat) {
  RunResult table = Loractl({"list"});
  ASSERT_EQ(table.exit_code, 0) << table.err;
  std::vector<std::string> lines = absl::StrSplit(table.out, '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 4u);  // header + 3 jobs over two pages
  EXPECT_THAT(lines[0], HasSubstr("ID"));
  EXPECT_THAT(table.out, HasSubstr("job-ok"));
  EXPECT_THAT(table.out, HasSubstr("SUCCEEDED"));
  EXPECT_THAT(table.out, HasSubstr("20/20"));
  lines = absl::StrSplit(Loractl({"ls", "--no-headers"}).out, '\n', absl::SkipEmpty());
  EXPECT_EQ(lines.size(), 3u);

  const auto items = JsonLines(Loractl({"list", "-o", "json"}).out);
  ASSERT_EQ(items.size(), 3u);
  std::map<std::string, nlohmann::json> by_id;
  for (const auto& j : items) by_id[j["id"]] = j;
  const auto& ok = by_id.at("job-ok");
  EXPECT_EQ(ok["state"], "JOB_STATE_SUCCEEDED");
  EXPECT_EQ(ok["last_step"], "20");
  EXPECT_EQ(ok["total_steps"], "20");
  EXPECT_EQ(ok["attempt"], 1);
  EXPECT_EQ(ok["output_dir"], "/out/job-ok");
  EXPECT_EQ(ok["error"], "");
  EXPECT_EQ(ok["spec"]["name"], "fake-job-ok");
  EXPECT_EQ(ok["spec"]["priority"], 0);
  EXPECT_DOUBLE_EQ(ok["last_loss"].get<double>(), 3.0 / 20);
  EXPECT_EQ(by_id.at("job-bad")["error"], "stopped on purpose");

  const auto docs = YAML::LoadAll(Loractl({"list", "-o", "yaml"}).out);
  ASSERT_EQ(docs.size(), 3u);
  for (const auto& d : docs) EXPECT_EQ(d["id"].as<std::string>().substr(0, 4), "job-");

  EXPECT_EQ(Loractl({"list", "--state", "failed,cancelled", "-o", "name"}).out,
            "job-stopped\njob-bad\n");
}

TEST_F(LoractlFakeServerTest, GetInEveryFormat) {
  RunResult r = Loractl({"get", "job-bad", "-o", "json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["id"], "job-bad");
  EXPECT_EQ(j["state"], "JOB_STATE_FAILED");
  EXPECT_EQ(j["error"], "stopped on purpose");
  EXPECT_EQ(j["worker_id"], "");
  EXPECT_EQ(j["spec"]["config_yaml"], "base_model: m\n");
  const YAML::Node y = YAML::Load(Loractl({"describe", "job-bad", "-o", "yaml"}).out);
  EXPECT_EQ(y["state"].as<std::string>(), "JOB_STATE_FAILED");
  EXPECT_EQ(y["last_step"].as<std::string>(), "4");
  r = Loractl({"get", "job-bad"});
  EXPECT_THAT(r.out, HasSubstr("state:        FAILED"));
  EXPECT_THAT(r.out, HasSubstr("error:        stopped on purpose"));
  EXPECT_THAT(r.out, HasSubstr("config:\n  base_model: m"));
}

TEST_F(LoractlFakeServerTest, LogsInEveryFormat) {
  RunResult r = Loractl({"logs", "job-ok"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::vector<std::string> lines = absl::StrSplit(r.out, '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 25u);  // start, 20 steps, checkpoint, eval, final, end
  EXPECT_THAT(lines[0], HasSubstr("#1 "));
  EXPECT_THAT(lines[0], HasSubstr("state QUEUED -> RUNNING"));
  EXPECT_THAT(lines[1], HasSubstr("step 1/20 loss=3.0000"));
  EXPECT_THAT(r.out, HasSubstr("checkpoint step=10 /out/job-ok/checkpoint-10"));
  EXPECT_THAT(r.out, HasSubstr("eval step=10 eval_loss=2.0000"));
  EXPECT_THAT(lines.back(), HasSubstr("state RUNNING -> SUCCEEDED"));

  const auto events = JsonLines(Loractl({"logs", "job-ok", "-o", "json", "--since-seq", "5"}).out);
  ASSERT_EQ(events.size(), 20u);
  for (size_t i = 0; i < events.size(); ++i) {
    EXPECT_EQ(events[i]["seq"], std::to_string(6 + i));  // no gaps, after 5
    EXPECT_EQ(events[i]["job_id"], "job-ok");
  }
  EXPECT_EQ(events[0]["step"]["step"], "5");
  EXPECT_EQ(events[0]["step"]["total_steps"], "20");
  EXPECT_DOUBLE_EQ(events[0]["step"]["loss"].get<double>(), 3.0 / 5);
  EXPECT_EQ(events[0]["step"]["grad_norm"], 0);  // default printed
  EXPECT_EQ(events.back()["state_change"]["to_state"], "JOB_STATE_SUCCEEDED");

  const auto docs = YAML::LoadAll(Loractl({"logs", "job-bad", "-o", "yaml"}).out);
  ASSERT_EQ(docs.size(), 9u);
  EXPECT_EQ(docs[7]["final_result"]["state"].as<std::string>(), "JOB_STATE_FAILED");
}

TEST_F(LoractlFakeServerTest, CheckpointsWorkersVersionHealth) {
  RunResult r = Loractl({"checkpoints", "job-ok"});
  EXPECT_THAT(r.out, HasSubstr("STEP"));
  EXPECT_THAT(r.out, HasSubstr("/out/job-ok/checkpoint-10"));
  auto cks = JsonLines(Loractl({"checkpoints", "job-ok", "-o", "json"}).out);
  ASSERT_EQ(cks.size(), 1u);
  EXPECT_EQ(cks[0]["step"], "10");
  EXPECT_EQ(cks[0]["exists"], true);

  auto workers = JsonLines(Loractl({"workers", "-o", "json"}).out);
  ASSERT_EQ(workers.size(), 1u);
  EXPECT_EQ(workers[0]["id"], "w0");
  EXPECT_EQ(workers[0]["pid"], "4242");
  EXPECT_EQ(workers[0]["job_id"], "");
  EXPECT_THAT(Loractl({"workers", "--no-headers"}).out, HasSubstr("w0   IDLE   cpu"));

  r = Loractl({"version"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_THAT(r.out, HasSubstr("client: loractl "));
  EXPECT_THAT(r.out, HasSubstr("server: lorad 9.8.7, API v1, store schema 3"));
  const auto v = nlohmann::json::parse(Loractl({"version", "-o", "json"}).out);
  EXPECT_EQ(v["server"]["version"], "9.8.7");
  EXPECT_FALSE(v["client"]["version"].get<std::string>().empty());

  r = Loractl({"health"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "SERVING\n");
  EXPECT_EQ(nlohmann::json::parse(Loractl({"health", "-o", "json"}).out)["status"], "SERVING");
}

TEST_F(LoractlFakeServerTest, WaitExitStatusIsTheOutcome) {
  RunResult r = Loractl({"wait", "job-ok"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.out, "job job-ok SUCCEEDED\n");
  r = Loractl({"wait", "job-bad"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("job job-bad FAILED: stopped on purpose"));
  EXPECT_EQ(Loractl({"wait", "job-stopped"}).exit_code, 1);
  const auto j = nlohmann::json::parse(Loractl({"wait", "job-ok", "-o", "json"}).out);
  EXPECT_EQ(j["state"], "JOB_STATE_SUCCEEDED");
  server_->AddHangingJob("job-hang");
  r = Loractl({"wait", "job-hang", "--timeout", "0.5"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("timed out after 0.5s waiting for job job-hang (still RUNNING"));
  EXPECT_EQ(Loractl({"wait", "nope"}).exit_code, 4);
}

TEST_F(LoractlFakeServerTest, CancelDeleteRetry) {
  ASSERT_EQ(Loractl({"submit", "cfg/job.yaml"}).out, "job-1\n");
  RunResult r = Loractl({"cancel", "job-1", "--reason", "wrong data"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "job job-1 cancelled\n");
  r = Loractl({"cancel", "job-ok"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("job job-ok already finished"));
  r = Loractl({"cancel", "job-1", "ghost"});  // one fails, the other is reported
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("2 of 2 jobs could not be cancelled"));

  r = Loractl({"retry", "job-bad"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "job-bad\n");
  EXPECT_EQ(nlohmann::json::parse(Loractl({"get", "job-bad", "-o", "json"}).out)["attempt"], 2);

  r = Loractl({"delete", "job-ok", "job-stopped"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "job job-ok deleted\njob job-stopped deleted\n");
  r = Loractl({"rm", "job-ok"});
  EXPECT_EQ(r.exit_code, 4);
  EXPECT_THAT(r.err, HasSubstr("job job-ok not found"));
}

TEST_F(LoractlFakeServerTest, NotFoundIsExit4Everywhere) {
  for (const char* verb : {"get", "logs", "checkpoints", "retry", "loss", "wait"}) {
    RunResult r = Loractl({verb, "ghost"});
    EXPECT_EQ(r.exit_code, 4) << verb << ": " << r.err;
    EXPECT_THAT(r.err, HasSubstr("ghost")) << verb;
  }
}

TEST_F(LoractlFakeServerTest, UnreachableIsExit3WithAHint) {
  for (const std::string& address : {"unix:" + (dir_ / "nobody.sock").string(), std::string("127.0.0.1:1")}) {
    RunResult r = Loractl({"list", "--address", address});
    EXPECT_EQ(r.exit_code, 3) << r.err;
    EXPECT_THAT(r.err, HasSubstr("cannot reach lorad at "));
    EXPECT_THAT(r.err, HasSubstr("is it running? `systemctl status lorad`"));
    EXPECT_THAT(r.err, Not(HasSubstr("UNAVAILABLE")));
    EXPECT_THAT(r.err, Not(HasSubstr("failed to connect")));
  }
  RunResult r = Loractl({"version", "--address", "unix:" + (dir_ / "nobody.sock").string()});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_THAT(r.out, HasSubstr("client: loractl"));  // the client's half still prints
}

TEST_F(LoractlFakeServerTest, UsageErrorsAreExit2) {
  for (std::vector<std::string> args : std::vector<std::vector<std::string>>{
           {"frobnicate"}, {"get"}, {"list", "--bogus"}, {"list", "-o", "xml"},
           {"list", "--address", "nohostport"}}) {
    RunResult r = Loractl(args);
    EXPECT_EQ(r.exit_code, 2) << args[0];
    EXPECT_THAT(r.err, HasSubstr("loractl: ")) << args[0];
  }
  RunResult help = Loractl({"wait", "--help"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_THAT(help.out, HasSubstr("Exit status:"));
}

TEST_F(LoractlFakeServerTest, LossCurveInBraille) {
  RunResult r = Loractl({"loss", "job-ok", "--width", "60", "--height", "8"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("job job-ok: SUCCEEDED, step 20/20"));
  EXPECT_THAT(r.out, HasSubstr("\xE2\xA0"));  // braille block U+28xx
  EXPECT_THAT(r.out, HasSubstr("train loss (20 points, last 0.15)"));
  EXPECT_THAT(r.out, HasSubstr("eval loss (last 2)"));
}

TEST_F(LoractlFakeServerTest, FollowOnATerminalDrawsTheProgressLine) {
  // script(1) gives loractl a pseudo-terminal for stdout and stderr.
  const std::string cmd = absl::StrCat(LORACTL_PATH, " logs -f job-ok --address unix:", socket_);
  RunResult r = testing::Run({"/usr/bin/script", "-qfec", cmd, "/dev/null"}, {{"COLUMNS", "120"}});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("\r\x1b[2K"));        // the line is redrawn in place
  EXPECT_THAT(r.out, HasSubstr("step 20/20 "));      // final state of the line
  EXPECT_THAT(r.out, HasSubstr("█"));                // the bar
  EXPECT_THAT(r.out, HasSubstr("100%"));
  EXPECT_THAT(r.out, HasSubstr("loss 0.1500"));
  EXPECT_THAT(r.out, HasSubstr("1.0k tok/s"));
  EXPECT_THAT(r.out, HasSubstr("checkpoint step=10"));  // events above the line
  EXPECT_THAT(r.out, Not(HasSubstr("step 7/20 loss=")));  // steps are not printed as records

  // Not a terminal: plain one-line records, no escape sequences.
  RunResult plain = Loractl({"logs", "-f", "job-ok"});
  EXPECT_THAT(plain.out, HasSubstr("step 7/20 loss="));
  EXPECT_THAT(plain.out + plain.err, Not(HasSubstr("\x1b[")));
}

TEST_F(LoractlFakeServerTest, CtrlCDetachesWithExit130AndNeverCancels) {
  server_->AddHangingJob("job-hang");
  testing::Subprocess p;
  ASSERT_TRUE(p.Start({LORACTL_PATH, "logs", "-f", "job-hang"}, {{"LORAD_ADDRESS", "unix:" + socket_}}));
  ASSERT_TRUE(p.WaitForOutput("step 1/100", 30)) << p.err();
  p.Signal(SIGINT);
  EXPECT_EQ(p.Wait(30), 130);
  EXPECT_THAT(p.err(), HasSubstr("detached from job job-hang; it keeps running"));
  EXPECT_EQ(server_->cancel_calls(), 0);
}

TEST_F(LoractlFakeServerTest, SubmitFollowStreamsToStderrAndExitsWithTheOutcome) {
  RunResult r = Loractl({"submit", "cfg/job.yaml", "--follow", "--name", "auto-succeed"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "job-1\n");  // the id alone, even when following
  EXPECT_THAT(r.err, HasSubstr("step 6/6 loss="));
  EXPECT_THAT(r.err, HasSubstr("job job-1 SUCCEEDED: adapter in /out/job-1"));
  r = Loractl({"submit", "cfg/job.yaml", "-f", "--name", "auto-fail"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.out, "job-2\n");
  EXPECT_THAT(r.err, HasSubstr("job job-2 FAILED: stopped on purpose"));
}

TEST_F(LoractlFakeServerTest, ListWatchPrintsUntilInterrupted) {
  testing::Subprocess p;
  ASSERT_TRUE(p.Start({LORACTL_PATH, "list", "--watch", "-o", "json"},
                      {{"LORAD_ADDRESS", "unix:" + socket_}}));
  ASSERT_TRUE(p.WaitForOutput("\"job-bad\"", 30)) << p.err();  // the last of the list
  p.Signal(SIGINT);
  EXPECT_EQ(p.Wait(30), 130);
  EXPECT_EQ(JsonLines(p.out()).size(), 3u);  // each job once: nothing changed meanwhile
}

class LoractlAuthTest : public LoractlFakeServerTest {
 protected:
  void SetUp() override {
    token_ = "s3cret";
    LoractlFakeServerTest::SetUp();
  }
};

TEST_F(LoractlAuthTest, TokenFileIsSentAndMissingTokenIsExit5) {
  RunResult r = Loractl({"list"});
  EXPECT_EQ(r.exit_code, 5);
  EXPECT_THAT(r.err, HasSubstr("did not accept our credentials"));
  EXPECT_THAT(r.err, HasSubstr("--token-file"));
  std::ofstream(dir_ / "token") << "s3cret\n";
  r = Loractl({"list", "-o", "name"}, {{"LORAD_TOKEN_FILE", (dir_ / "token").string()}});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("job-ok"));
  r = Loractl({"list", "--token-file", (dir_ / "missing").string()});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("--token-file"));
  // Never over plain TCP to another host.
  r = Loractl({"list", "--token-file", (dir_ / "token").string(), "--address", "example.com:7070"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("refusing to send the token"));
}

}  // namespace
}  // namespace lorad
