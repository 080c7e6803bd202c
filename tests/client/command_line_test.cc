#include "client/command_line.h"

#include <map>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "client/verb_table.h"

namespace lorad {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

class CommandLineTest : public ::testing::Test {
 protected:
  absl::StatusOr<CommandLine> Parse(std::vector<std::string> args) {
    return ParseCommandLine(
        args,
        [this](const std::string& k) -> std::optional<std::string> {
          auto it = env_.find(k);
          if (it == env_.end()) return std::nullopt;
          return it->second;
        },
        "/home/u/work");
  }
  std::map<std::string, std::string> env_;
};

TEST_F(CommandLineTest, SubmitWithEveryFlag) {
  auto cl = Parse({"submit", "job.yaml", "--resume", "runs/a/checkpoint-20", "--set", "lora_r=16",
                   "--set=learning_rate=1e-4", "--name", "demo", "--priority=-5",
                   "--idempotency-key", "k1", "--device", "cpu", "--max-attempts", "3",
                   "--max-runtime", "1h30m", "-f"});
  ASSERT_TRUE(cl.ok()) << cl.status();
  EXPECT_EQ(cl->verb, "submit");
  EXPECT_THAT(cl->args, ElementsAre("job.yaml"));
  EXPECT_EQ(cl->resume, "/home/u/work/runs/a/checkpoint-20");
  EXPECT_THAT(cl->set_overrides, ElementsAre("lora_r=16", "learning_rate=1e-4"));
  EXPECT_EQ(cl->name, "demo");
  EXPECT_EQ(cl->priority, -5);
  EXPECT_EQ(cl->idempotency_key, "k1");
  EXPECT_EQ(cl->device, "cpu");
  EXPECT_EQ(cl->max_attempts, 3);
  EXPECT_DOUBLE_EQ(cl->max_runtime_seconds, 5400);
  EXPECT_TRUE(cl->follow);
  EXPECT_FALSE(cl->dry_run);
}

TEST_F(CommandLineTest, MergeWithEveryFlag) {
  auto cl = Parse({"merge", "01JA", "--out", "runs/merged/", "--dtype", "BFloat16",
                   "--max-shard-size", "2GB", "--force", "--name", "m", "-f", "-o", "json"});
  ASSERT_TRUE(cl.ok()) << cl.status();
  EXPECT_EQ(cl->verb, "merge");
  EXPECT_THAT(cl->args, ElementsAre("01JA"));
  EXPECT_EQ(cl->merge_out, "/home/u/work/runs/merged/");
  EXPECT_EQ(cl->merge_dtype, "bf16");
  EXPECT_EQ(cl->max_shard_size, "2GB");
  EXPECT_TRUE(cl->force);
  EXPECT_EQ(cl->name, "m");
  EXPECT_TRUE(cl->follow);
  EXPECT_EQ(cl->output, OutputFormat::kJson);
  cl = Parse({"merge", "01JA", "--out", "/abs/merged"});
  ASSERT_TRUE(cl.ok()) << cl.status();
  EXPECT_EQ(cl->merge_out, "/abs/merged");
  EXPECT_EQ(cl->merge_dtype, "");  // the base model's
  EXPECT_EQ(cl->max_shard_size, "");
  EXPECT_FALSE(cl->force);
}

TEST_F(CommandLineTest, ResumeAutoStaysAuto) {
  auto cl = Parse({"submit", "j.yaml", "--resume", "auto"});
  ASSERT_TRUE(cl.ok());
  EXPECT_EQ(cl->resume, "auto");
  cl = Parse({"submit", "j.yaml", "--resume", "/abs/dir"});
  ASSERT_TRUE(cl.ok());
  EXPECT_EQ(cl->resume, "/abs/dir");
}

TEST_F(CommandLineTest, AliasesMapToCanonicalVerbs) {
  EXPECT_EQ(Parse({"ls"})->verb, "list");
  EXPECT_EQ(Parse({"describe", "j1"})->verb, "get");
  EXPECT_EQ(Parse({"rm", "j1", "j2"})->verb, "delete");
}

TEST_F(CommandLineTest, ListFlags) {
  auto cl = Parse({"list", "--state", "running,QUEUED", "--state=canceled", "-w", "-o", "json",
                   "--no-headers", "--limit", "5"});
  ASSERT_TRUE(cl.ok()) << cl.status();
  EXPECT_THAT(cl->states, ElementsAre("running", "queued", "cancelled"));
  EXPECT_TRUE(cl->watch);
  EXPECT_EQ(cl->output, OutputFormat::kJson);
  EXPECT_TRUE(cl->no_headers);
  EXPECT_EQ(cl->limit, 5);
  EXPECT_EQ(Parse({"list", "-oyaml"})->output, OutputFormat::kYaml);
  EXPECT_EQ(Parse({"list", "-o", "name"})->output, OutputFormat::kName);
}

TEST_F(CommandLineTest, OutputNameOnlyForList) {
  auto cl = Parse({"get", "j1", "-o", "name"});
  ASSERT_FALSE(cl.ok());
  EXPECT_THAT(cl.status().message(), HasSubstr("unknown format 'name'"));
}

TEST_F(CommandLineTest, LogsWaitCancelDelete) {
  auto logs = Parse({"logs", "j1", "--follow", "--since-seq", "42"});
  ASSERT_TRUE(logs.ok());
  EXPECT_TRUE(logs->follow);
  EXPECT_EQ(logs->since_seq, 42);
  auto wait = Parse({"wait", "j1", "--timeout", "90"});
  ASSERT_TRUE(wait.ok());
  EXPECT_DOUBLE_EQ(*wait->wait_timeout_seconds, 90);
  EXPECT_DOUBLE_EQ(*Parse({"wait", "j1", "--timeout=10m"})->wait_timeout_seconds, 600);
  auto cancel = Parse({"cancel", "a", "b", "--reason", "wrong data"});
  ASSERT_TRUE(cancel.ok());
  EXPECT_THAT(cancel->args, ElementsAre("a", "b"));
  EXPECT_EQ(cancel->cancel_reason, "wrong data");
  EXPECT_TRUE(Parse({"delete", "a", "--files"})->delete_files);
}

TEST_F(CommandLineTest, GlobalFlagsBeforeOrAfterTheVerb) {
  auto a = Parse({"--address", "unix:/tmp/x.sock", "list"});
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->connection.address, "unix:/tmp/x.sock");
  auto b = Parse({"list", "--address=localhost:7070", "--tls-ca", "ca.pem", "--token-file", "t",
                  "--request-timeout", "5s"});
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->connection.address, "localhost:7070");
  EXPECT_TRUE(b->connection.tls);  // implied by --tls-ca
  EXPECT_EQ(b->connection.token_file, "t");
  EXPECT_DOUBLE_EQ(b->connection.request_timeout_seconds, 5);
}

TEST_F(CommandLineTest, EnvironmentFillsWhatFlagsLeaveUnset) {
  env_["LORAD_ADDRESS"] = "env.sock";
  env_["LORAD_TOKEN_FILE"] = "/etc/tok";
  auto a = Parse({"list"});
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->connection.address, "env.sock");
  EXPECT_EQ(a->connection.token_file, "/etc/tok");
  EXPECT_FALSE(a->connection.tls);
  EXPECT_EQ(Parse({"list", "--address", "flag.sock"})->connection.address, "flag.sock");
}

TEST_F(CommandLineTest, HelpForms) {
  auto overview = Parse({"--help"});
  ASSERT_TRUE(overview.ok());
  EXPECT_TRUE(overview->help);
  EXPECT_EQ(overview->verb, "");
  auto verb = Parse({"submit", "-h"});
  ASSERT_TRUE(verb.ok());  // missing CONFIG is fine with --help
  EXPECT_TRUE(verb->help);
  EXPECT_EQ(verb->verb, "submit");
  auto help_verb = Parse({"help", "ls"});
  ASSERT_TRUE(help_verb.ok());
  EXPECT_TRUE(help_verb->help);
  EXPECT_EQ(help_verb->verb, "list");
}

TEST_F(CommandLineTest, UsageErrorsNameTheProblem) {
  struct Case {
    std::vector<std::string> args;
    std::string expected;
  };
  const Case cases[] = {
      {{}, "missing verb"},
      {{"frobnicate"}, "unknown verb 'frobnicate'"},
      {{"submit"}, "missing CONFIG.yaml"},
      {{"get", "a", "b"}, "unexpected argument 'b'"},
      {{"list", "--bogus"}, "unknown flag --bogus for 'loractl list'"},
      {{"--follow", "logs", "j"}, "unknown flag --follow before the verb"},
      {{"submit", "j.yaml", "--name"}, "--name needs a value (NAME)"},
      {{"submit", "j.yaml", "--priority", "high"}, "--priority must be an integer"},
      {{"submit", "j.yaml", "--set", "novalue"}, "--set expects KEY=VALUE"},
      {{"submit", "j.yaml", "--dry-run", "--follow"}, "exclude each other"},
      {{"submit", "j.yaml", "--device", "tpu"}, "--device: expected any, cpu or cuda"},
      {{"list", "--state", "paused"}, "unknown state 'paused'"},
      {{"list", "-o", "xml"}, "unknown format 'xml'"},
      {{"wait", "j", "--timeout", "soon"}, "'soon' is not a duration"},
      {{"wait", "j", "--timeout", "-5"}, "must be positive"},
      {{"logs", "j", "--since-seq", "-1"}, "--since-seq must be an integer in [0"},
      {{"completion", "fish"}, "unknown shell 'fish'"},
      {{"list", "--tls-cert", "c.pem"}, "--tls-cert and --tls-key go together"},
      {{"list", "-w=1"}, "-w takes no value"},
      {{"list", "--watch=maybe"}, "--watch takes no value or true/false"},
      {{"merge", "j"}, "--out DIR is required"},
      {{"merge", "--out", "d"}, "missing JOB"},
      {{"merge", "j", "k", "--out", "d"}, "unexpected argument 'k'"},
      {{"merge", "j", "--out", "d", "--dtype", "int8"}, "--dtype: expected bf16, f16 or f32"},
      {{"merge", "j", "--out", "d", "--max-shard-size", "0"}, "--max-shard-size: size '0'"},
      {{"merge", "j", "--out", "d", "--max-shard-size", "big"}, "expected a positive size"},
      {{"submit", "j.yaml", "--out", "d"}, "unknown flag --out for 'loractl submit'"},
  };
  for (const Case& c : cases) {
    auto cl = Parse(c.args);
    ASSERT_FALSE(cl.ok()) << "accepted: " << testing::PrintToString(c.args);
    EXPECT_EQ(cl.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(cl.status().message(), HasSubstr(c.expected)) << testing::PrintToString(c.args);
    EXPECT_THAT(cl.status().message(), HasSubstr("--help')"));
  }
}

TEST_F(CommandLineTest, DoubleDashEndsFlags) {
  auto cl = Parse({"get", "--", "-weird-id"});
  ASSERT_TRUE(cl.ok()) << cl.status();
  EXPECT_THAT(cl->args, ElementsAre("-weird-id"));
}

TEST(DurationTest, Forms) {
  EXPECT_DOUBLE_EQ(*ParseDurationSeconds("2.5", "x"), 2.5);
  EXPECT_DOUBLE_EQ(*ParseDurationSeconds("1h30m", "x"), 5400);
  EXPECT_DOUBLE_EQ(*ParseDurationSeconds("250ms", "x"), 0.25);
  EXPECT_FALSE(ParseDurationSeconds("0", "x").ok());
  EXPECT_FALSE(ParseDurationSeconds("inf", "x").ok());
}

TEST(HelpTextTest, EveryVerbDocumentsItsFlagsAndExitCodes) {
  for (const VerbSpec& v : Verbs()) {
    const std::string help = HelpText(v.name);
    EXPECT_THAT(help, HasSubstr("Usage: loractl " + v.name)) << v.name;
    for (const FlagSpec& f : v.flags) EXPECT_THAT(help, HasSubstr("--" + f.name)) << v.name;
    EXPECT_THAT(help, HasSubstr("--address"));
    EXPECT_THAT(help, HasSubstr("130  interrupted"));
    EXPECT_THAT(help, HasSubstr("3    cannot reach lorad"));
  }
  const std::string overview = HelpText("");
  for (const VerbSpec& v : Verbs()) EXPECT_THAT(overview, HasSubstr("  " + v.name)) << v.name;
}

}  // namespace
}  // namespace lorad
