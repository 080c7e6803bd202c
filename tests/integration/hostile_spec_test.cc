// Issue 11 "Hostile and broken input → Job specs", through the real daemon:
// path traversal, symlinks escaping allowed_roots, an output_dir overlapping a
// queued or running job's or the base model's directory, absurd sizes,
// non-UTF-8 strings and oversized messages are each refused with a clear error
// naming the key — and nothing is written: no job stored, no output_dir made.
// (The path policy and size limits themselves are unit-tested in
// tests/config/config_path_policy_test.cc and config_validation_test.cc; this
// proves SubmitJob applies them, and that the transport's own limits hold.)
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>

#include "daemon_harness.h"

namespace lorad::testing {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

class HostileSpecTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("lorad-hostile-" + std::to_string(getpid()));
    fs::remove_all(dir_);
    root_ = dir_ / "root";
    fs::create_directories(root_ / "model");
    std::ofstream(root_ / "model" / "config.json") << "{}";
    std::ofstream(root_ / "data.jsonl") << "{\"text\": \"hello\"}\n";
    // Outside the allowed root, reachable through a symlink inside it.
    fs::create_directories(dir_ / "outside" / "model");
    std::ofstream(dir_ / "outside" / "model" / "config.json") << "{}";
    std::ofstream(dir_ / "outside" / "secret.jsonl") << "{\"text\": \"secret\"}\n";
    fs::create_directory_symlink(dir_ / "outside", root_ / "escape");
    daemon_ = std::make_unique<Daemon>(
        dir_,
        "workers: cpu\nworker_binary: " + FakeWorkerBinary() +
            "\nheartbeat_interval_ms: 200\nheartbeat_timeout_ms: 5000\nallowed_roots: [" +
            root_.string() + "]\n",
        std::vector<std::string>{});
    daemon_->SetEnv("LORAD_FAKE_STEP_MS", "100");  // the running job outlives the test's submits
    daemon_->Start();
    stub_ = daemon_->JobStub();
  }
  void TearDown() override {
    if (daemon_) daemon_->Terminate(30s);
    daemon_.reset();
    if (!dir_.empty() && !std::getenv("LORAD_KEEP_TEST_DIRS")) fs::remove_all(dir_);
  }

  static std::string Yaml(const std::string& out, const std::string& extra = "",
                          const std::string& model = "./model",
                          const std::string& data = "./data.jsonl") {
    return "base_model: " + model + "\ndatasets:\n  - path: " + data +
           "\nlearning_rate: 0.001\nlora_target_linear: true\nmax_steps: 100\n" + extra +
           "output_dir: " + out + "\n";
  }
  grpc::Status Submit(const std::string& yaml, std::string* id = nullptr,
                      const std::string& name = "") {
    v1::JobSpec spec;
    spec.set_config_dir(root_.string());
    spec.set_config_yaml(yaml);
    spec.set_name(name);
    return SubmitSpec(*stub_, spec, id);
  }
  v1::JobState State(const std::string& id) { return GetJob(*stub_, id).state(); }
  // Refused with `code`, the message naming each of `words`; nothing stored
  // and none of `never` created.
  void ExpectRefused(const std::string& what, const grpc::Status& st, grpc::StatusCode code,
                     const std::vector<std::string>& words, const std::vector<fs::path>& never = {}) {
    SCOPED_TRACE(what);
    EXPECT_EQ(st.error_code(), code) << st.error_message();
    for (const auto& w : words) {
      EXPECT_NE(st.error_message().find(w), std::string::npos) << "no \"" << w << "\" in: " << st.error_message();
    }
    EXPECT_EQ(StoredJobCount(*stub_), stored_) << "a refused submit was stored";
    for (const auto& p : never) EXPECT_FALSE(fs::exists(p)) << p << " was created";
    ++refusals_;
  }

  fs::path dir_, root_;
  std::unique_ptr<Daemon> daemon_;
  std::unique_ptr<v1::JobService::Stub> stub_;
  int stored_ = 0;
  int refusals_ = 0;
};

TEST_F(HostileSpecTest, EachHostileSpecIsRefusedWithItsKeyAndNothingIsWritten) {
  const auto INVALID = grpc::StatusCode::INVALID_ARGUMENT;
  // Path traversal out of the root, absolute or with "..".
  ExpectRefused("dot-dot output_dir", Submit(Yaml("./../outside/out")), INVALID,
                {"output_dir", "outside the allowed roots"}, {dir_ / "outside" / "out"});
  ExpectRefused("absolute output_dir", Submit(Yaml((dir_ / "elsewhere").string())), INVALID,
                {"output_dir", "outside the allowed roots"}, {dir_ / "elsewhere"});
  ExpectRefused("dot-dot dataset", Submit(Yaml("./out", "", "./model", "./../outside/secret.jsonl")),
                INVALID, {"datasets[0].path", "outside the allowed roots"}, {root_ / "out"});
  // Symlinks inside the root that lead out of it.
  ExpectRefused("symlinked output_dir", Submit(Yaml("./escape/out")), INVALID,
                {"output_dir", "resolves to", "outside the allowed roots"}, {dir_ / "outside" / "out"});
  ExpectRefused("symlinked base_model", Submit(Yaml("./out", "", "./escape/model")), INVALID,
                {"base_model", "resolves to", "outside the allowed roots"}, {root_ / "out"});
  ExpectRefused("symlinked dataset", Submit(Yaml("./out", "", "./model", "./escape/secret.jsonl")),
                INVALID, {"datasets[0].path", "resolves to"}, {root_ / "out"});
  // An output_dir overlapping the base model's directory, either way round.
  ExpectRefused("output_dir inside the base model", Submit(Yaml("./model/adapter")), INVALID,
                {"output_dir", "overlaps the base model's directory"}, {root_ / "model" / "adapter"});
  ExpectRefused("output_dir containing the base model", Submit(Yaml(".")), INVALID,
                {"output_dir", "overlaps the base model's directory"});
  // Absurd sizes.
  ExpectRefused("sequence_len 10^9", Submit(Yaml("./out", "sequence_len: 1000000000\n")), INVALID,
                {"sequence_len"}, {root_ / "out"});
  ExpectRefused("lora_r 10^6", Submit(Yaml("./out", "lora_r: 1000000\n")), INVALID, {"lora_r"},
                {root_ / "out"});
  ExpectRefused("micro_batch_size 10^9", Submit(Yaml("./out", "micro_batch_size: 1000000000\n")),
                INVALID, {"micro_batch_size"}, {root_ / "out"});
  // Oversized: past the spec's 4 MiB limit, and past the transport's 8 MiB.
  const std::string five_mib = Yaml("./out") + "# " + std::string(5 << 20, 'x') + "\n";
  ExpectRefused("5 MiB config", Submit(five_mib), INVALID, {"config_yaml", "4 MiB"}, {root_ / "out"});
  const std::string nine_mib = Yaml("./out") + "# " + std::string(9 << 20, 'x') + "\n";
  ExpectRefused("9 MiB message", Submit(nine_mib), grpc::StatusCode::RESOURCE_EXHAUSTED, {}, {root_ / "out"});
  // Not UTF-8: a YAML value, and the job name.  Protobuf refuses invalid UTF-8
  // in a string field while parsing the request, before lorad sees it, so
  // nothing is stored — but Debian's gRPC 1.51 answers such a request on the
  // callback API with UNIMPLEMENTED and no message, not a clear error: a client
  // must check UTF-8 before sending (see the issue 11 notes).
  const std::string latin1 = "\xe9t\xe9";
  const grpc::Status bad_yaml = Submit(Yaml("./out-" + latin1));
  EXPECT_NE(bad_yaml.error_code(), grpc::StatusCode::OK);
  ExpectRefused("non-UTF-8 YAML", bad_yaml, bad_yaml.error_code(), {}, {root_ / ("out-" + latin1)});
  const grpc::Status bad_name = Submit(Yaml("./out"), nullptr, "name-" + latin1);
  EXPECT_NE(bad_name.error_code(), grpc::StatusCode::OK);
  ExpectRefused("non-UTF-8 name", bad_name, bad_name.error_code(), {}, {root_ / "out"});

  // An output_dir overlapping a running or a queued job's.
  std::string running, queued;
  ASSERT_TRUE(Submit(Yaml("./jobs/a"), &running).ok());
  ++stored_;
  ASSERT_TRUE(WaitFor([&] { return State(running) == v1::JOB_STATE_RUNNING; }, 60s));
  ASSERT_TRUE(Submit(Yaml("./jobs/b"), &queued).ok());
  ++stored_;
  ASSERT_EQ(State(queued), v1::JOB_STATE_QUEUED);
  const auto PRECONDITION = grpc::StatusCode::FAILED_PRECONDITION;
  ExpectRefused("same output_dir as the running job", Submit(Yaml("./jobs/a")), PRECONDITION,
                {"output_dir", running, "JOB_STATE_RUNNING"});
  ExpectRefused("inside the running job's output_dir", Submit(Yaml("./jobs/a/nested")), PRECONDITION,
                {"overlaps the output_dir of job " + running}, {root_ / "jobs" / "a" / "nested"});
  ExpectRefused("inside the queued job's output_dir", Submit(Yaml("./jobs/b/nested")), PRECONDITION,
                {"overlaps the output_dir of job " + queued, "JOB_STATE_QUEUED"},
                {root_ / "jobs" / "b" / "nested"});
  ExpectRefused("containing both jobs' output_dirs", Submit(Yaml("./jobs")), PRECONDITION,
                {"overlaps the output_dir of job"});
  // Nothing was written outside the root at any point.
  EXPECT_EQ(std::distance(fs::directory_iterator(dir_ / "outside"), fs::directory_iterator()), 2);
  RecordProperty("hostile_specs_refused", refusals_);
  std::printf("hostile specs: %d refused, each naming its key; nothing stored or written\n",
              refusals_);
}

}  // namespace
}  // namespace lorad::testing
