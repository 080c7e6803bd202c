#include "client/message_printer.h"

#include <sstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <nlohmann/json.hpp>

#include "lorad/v1/lorad.pb.h"

namespace lorad {
namespace {

using ::testing::HasSubstr;

v1::Job SampleJob() {
  v1::Job job;
  job.set_id("01JABC");
  job.set_state(v1::JOB_STATE_RUNNING);
  job.set_attempt(2);
  job.set_last_step(12);
  job.set_last_loss(1.5);
  job.mutable_spec()->set_name("demo");
  job.mutable_spec()->set_config_yaml("base_model: m\nlora_r: 8\n");
  job.mutable_create_time()->set_seconds(1764448201);  // 2025-11-29T20:30:01Z
  return job;
}

TEST(MessageToJsonTest, ProtoFieldNamesAndDefaultsPrinted) {
  auto json = MessageToJson(SampleJob(), /*pretty=*/false);
  ASSERT_TRUE(json.ok()) << json.status();
  EXPECT_EQ(json->find('\n'), std::string::npos);  // one line: JSON Lines
  const auto j = nlohmann::json::parse(*json);
  EXPECT_EQ(j["id"], "01JABC");
  EXPECT_EQ(j["state"], "JOB_STATE_RUNNING");
  EXPECT_EQ(j["attempt"], 2);
  EXPECT_EQ(j["last_step"], "12");  // proto3 JSON: int64 as a string
  EXPECT_EQ(j["last_loss"], 1.5);
  EXPECT_EQ(j["create_time"], "2025-11-29T20:30:01Z");
  // Defaults are printed, with snake_case names.
  EXPECT_EQ(j["total_steps"], "0");
  EXPECT_EQ(j["error"], "");
  EXPECT_EQ(j["worker_id"], "");
  EXPECT_EQ(j["spec"]["priority"], 0);
  EXPECT_EQ(j["spec"]["device_kind"], "DEVICE_KIND_UNSPECIFIED");
  EXPECT_EQ(j["spec"]["config_yaml"], "base_model: m\nlora_r: 8\n");
  EXPECT_FALSE(j.contains("lastStep"));
}

TEST(MessagePrinterTest, JsonLinesOneObjectPerLine) {
  std::ostringstream out;
  MessagePrinter p(OutputFormat::kJson, out);
  v1::JobEvent a, b;
  a.set_seq(1);
  a.mutable_log()->set_text("line one\nline two");
  b.set_seq(2);
  b.mutable_step()->set_step(1);
  ASSERT_TRUE(p.PrintItem(a).ok());
  ASSERT_TRUE(p.PrintItem(b).ok());
  std::istringstream in(out.str());
  std::string line;
  std::vector<nlohmann::json> items;
  while (std::getline(in, line)) items.push_back(nlohmann::json::parse(line));
  ASSERT_EQ(items.size(), 2u);
  EXPECT_EQ(items[0]["seq"], "1");
  EXPECT_EQ(items[0]["log"]["text"], "line one\nline two");
  EXPECT_EQ(items[0]["log"]["level"], "");
  EXPECT_EQ(items[1]["step"]["step"], "1");
  EXPECT_EQ(items[1]["step"]["loss"], 0);
}

TEST(MessagePrinterTest, YamlRoundTripsTypesAndKeepsOrder) {
  std::ostringstream out;
  ASSERT_TRUE(MessagePrinter(OutputFormat::kYaml, out).PrintOne(SampleJob()).ok());
  const std::string text = out.str();
  EXPECT_LT(text.find("id:"), text.find("spec:"));  // proto field order kept
  EXPECT_THAT(text, HasSubstr("config_yaml: |"));     // multi-line string as a literal block
  const YAML::Node y = YAML::Load(text);
  EXPECT_EQ(y["id"].as<std::string>(), "01JABC");
  EXPECT_EQ(y["attempt"].as<int>(), 2);
  // Quoted, so the int64-as-string stays a string (as in the JSON).
  EXPECT_EQ(y["last_step"].Tag(), "!");
  EXPECT_EQ(y["last_step"].as<std::string>(), "12");
  EXPECT_EQ(y["spec"]["config_yaml"].as<std::string>(), "base_model: m\nlora_r: 8\n");
  EXPECT_EQ(y["error"].as<std::string>(), "");
}

TEST(MessagePrinterTest, YamlStreamIsDocuments) {
  std::ostringstream out;
  MessagePrinter p(OutputFormat::kYaml, out);
  v1::Checkpoint c;
  c.set_step(20);
  c.set_path("/o/checkpoint-20");
  ASSERT_TRUE(p.PrintItem(c).ok());
  c.set_step(40);
  ASSERT_TRUE(p.PrintItem(c).ok());
  const auto docs = YAML::LoadAll(out.str());
  ASSERT_EQ(docs.size(), 2u);
  EXPECT_EQ(docs[1]["step"].as<std::string>(), "40");
  EXPECT_EQ(docs[1]["exists"].as<bool>(), false);
}

TEST(JsonToYamlTest, AmbiguousStringsAreQuoted) {
  auto y = JsonToYaml(R"({"a":"true","b":"1e5","c":"no","d":"plain","e":[1,2.5,false],"f":null})");
  ASSERT_TRUE(y.ok());
  const YAML::Node n = YAML::Load(*y);
  EXPECT_EQ(n["a"].Tag(), "!");
  EXPECT_EQ(n["b"].Tag(), "!");
  EXPECT_EQ(n["c"].as<std::string>(), "no");
  EXPECT_EQ(n["c"].Tag(), "!");
  EXPECT_EQ(n["d"].Tag(), "?");  // plain
  EXPECT_EQ(n["e"][1].as<double>(), 2.5);
  EXPECT_FALSE(n["e"][2].as<bool>());
  EXPECT_TRUE(n["f"].IsNull());
  EXPECT_FALSE(JsonToYaml("{not json").ok());
}

}  // namespace
}  // namespace lorad
