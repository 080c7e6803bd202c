#include "server/server_config.h"

#include <cmath>

#include <gtest/gtest.h>

#include "server/auth.h"
#include "server/job_id.h"
#include "server/record_event.h"

namespace lorad {
namespace {

TEST(ServerConfigTest, EmptyConfigGivesDefaults) {
  auto c = ParseServerConfig("", "lorad.yaml");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->metrics_address, "127.0.0.1:9464");
  EXPECT_EQ(c->workers, "auto");
  EXPECT_EQ(c->max_queued_jobs, 1000);
}

TEST(ServerConfigTest, UnknownKeysAndBadValuesAreAllReported) {
  auto c = ParseServerConfig("max_queued_jobs: lots\nlisten_address: x\ntls:\n  cert: y\n",
                             "lorad.yaml");
  ASSERT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
  std::string msg(c.status().message());
  EXPECT_NE(msg.find("max_queued_jobs (line 1)"), std::string::npos) << msg;
  EXPECT_NE(msg.find("listen_address (line 2): unknown key"), std::string::npos) << msg;
  EXPECT_NE(msg.find("tls.cert (line 4): unknown key"), std::string::npos) << msg;
}

TEST(ServerConfigTest, FlagsOverrideFile) {
  auto c = ParseServerConfig("workers: cpu\nlisten: unix:/a.sock\n", "f");
  ASSERT_TRUE(c.ok());
  std::string config_file;
  const char* argv[] = {"lorad", "--listen", "unix:/b.sock", "--listen=127.0.0.1:0",
                        "--workers", "2", "--metrics-address", "127.0.0.1:0"};
  ASSERT_TRUE(ApplyServerFlags(8, const_cast<char**>(argv), &*c, &config_file).ok());
  EXPECT_EQ(c->listen, (std::vector<std::string>{"unix:/b.sock", "127.0.0.1:0"}));
  EXPECT_EQ(c->workers, "2");
  EXPECT_EQ(c->metrics_address, "127.0.0.1:0");
  const char* bad[] = {"lorad", "--bogus"};
  EXPECT_FALSE(ApplyServerFlags(2, const_cast<char**>(bad), &*c, &config_file).ok());
}

TEST(ServerConfigTest, WorkersSpec) {
  auto cpu_only = ParseWorkers("auto", 0);
  ASSERT_EQ(cpu_only->size(), 1u);
  EXPECT_EQ((*cpu_only)[0].cuda_visible_devices, "");
  auto gpus = ParseWorkers("auto", 2);
  ASSERT_EQ(gpus->size(), 2u);
  EXPECT_EQ((*gpus)[1].cuda_visible_devices, "1");
  auto list = ParseWorkers("1, cpu", 2);
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].cuda_visible_devices, "1");
  EXPECT_EQ((*list)[1].cuda_visible_devices, "");
  EXPECT_TRUE(ParseWorkers("none", 4)->empty());
  auto three = ParseWorkers("3", 2);
  ASSERT_TRUE(three.ok());
  ASSERT_EQ(three->size(), 3u);
  EXPECT_EQ((*three)[2].cuda_visible_devices, "0");  // round-robin over the GPUs
  EXPECT_EQ(ParseWorkers("4", 0)->size(), 4u);
  EXPECT_FALSE(ParseWorkers("gpu", 1).ok());
  EXPECT_FALSE(ParseWorkers("3,3", 4).ok());
  EXPECT_FALSE(ParseWorkers("2,5", 2).ok());  // GPU 5 not visible
}

TEST(AuthTest, ConstantTimeEqualsAndTokenTable) {
  EXPECT_TRUE(ConstantTimeEquals("abc", "abc"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "abd"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "abcd"));
  TokenTable t;
  t.Add("alice", "alice-token-0123456789", false);
  t.Add("ops", "ops-token-0123456789abc", true);
  auto a = t.Find("alice-token-0123456789");
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->identity, "alice");
  EXPECT_FALSE(a->admin);
  EXPECT_TRUE(t.Find("ops-token-0123456789abc")->admin);
  EXPECT_FALSE(t.Find("alice-token-012345678").has_value());
}

TEST(JobIdTest, ShortUniqueAndSortedBySubmitTime) {
  JobIdGenerator gen;
  std::string a = gen.Next(1'700'000'000'000);
  std::string b = gen.Next(1'700'000'000'000);  // same millisecond
  std::string c = gen.Next(1'699'999'999'999);  // clock stepped back
  std::string d = gen.Next(1'700'000'000'005);
  EXPECT_EQ(a.size(), 12u);
  EXPECT_LT(a, b);
  EXPECT_LT(b, c);
  EXPECT_LT(c, d);
  JobIdGenerator after_restart(d);
  EXPECT_LT(d, after_restart.Next(1'600'000'000'000));
}

TEST(RecordEventTest, TypedRecordsAndGenericFallback) {
  auto step = EventFromRecordJson(R"({"type":"step","step":3,"loss":1.25,"learning_rate":1e-4})");
  ASSERT_TRUE(step.ok());
  EXPECT_EQ(step->step().step(), 3);
  EXPECT_DOUBLE_EQ(step->step().loss(), 1.25);
  auto cp = EventFromRecordJson(R"({"type":"checkpoint","path":"/o/checkpoint-3","step":3})");
  EXPECT_EQ(cp->checkpoint().path(), "/o/checkpoint-3");
  // The trainer's own final record (as checkpoint_saver writes it).
  auto fin = EventFromRecordJson(
      R"({"type":"final","step":12,"path":"/o","loss":0.5,"total_tokens":99})");
  ASSERT_TRUE(fin.ok());
  EXPECT_EQ(fin->final_result().state(), v1::JOB_STATE_SUCCEEDED);
  EXPECT_EQ(fin->final_result().output_dir(), "/o");
  EXPECT_EQ(fin->final_result().step(), 12);
  // A non-finite loss (null in the record) stays NaN for the gauge and alerts.
  auto nan = EventFromRecordJson(R"({"type":"step","step":4,"loss":null})");
  ASSERT_TRUE(nan.ok());
  EXPECT_TRUE(std::isnan(nan->step().loss()));
  auto total = EventFromRecordJson(R"({"type":"step","step":3,"total_steps":12})");
  EXPECT_EQ(total->step().total_steps(), 12);
  auto other = EventFromRecordJson(R"({"type":"overfitting","gap":0.3})");
  EXPECT_EQ(other->record_json(), R"({"type":"overfitting","gap":0.3})");
  EXPECT_FALSE(EventFromRecordJson("[1,2]").ok());
  EXPECT_FALSE(EventFromRecordJson("{not json").ok());
}

}  // namespace
}  // namespace lorad
