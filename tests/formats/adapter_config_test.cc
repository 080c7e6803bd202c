#include "worker/formats/adapter_config.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "nlohmann/json.hpp"
#include "worker/base/file_util.h"

namespace lorad {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

// As PEFT 0.13 writes it for a Llama adapter.
constexpr const char* kPeftConfig = R"({
  "alpha_pattern": {},
  "auto_mapping": null,
  "base_model_name_or_path": "TinyLlama/TinyLlama-1.1B-Chat-v1.0",
  "bias": "none",
  "fan_in_fan_out": false,
  "inference_mode": true,
  "init_lora_weights": true,
  "layer_replication": null,
  "layers_pattern": null,
  "layers_to_transform": null,
  "loftq_config": {},
  "lora_alpha": 32,
  "lora_dropout": 0.05,
  "megatron_config": null,
  "megatron_core": "megatron.core",
  "modules_to_save": null,
  "peft_type": "LORA",
  "r": 16,
  "rank_pattern": {"model.layers.0.self_attn.q_proj": 4},
  "revision": null,
  "target_modules": ["v_proj", "q_proj"],
  "task_type": "CAUSAL_LM",
  "use_dora": false,
  "use_rslora": true,
  "lora_bias": false,
  "exclude_modules": null
})";

TEST(AdapterConfigTest, ParsesPeftConfig) {
  auto c = ParseAdapterConfig(kPeftConfig, "adapter_config.json");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->peft_type, "LORA");
  EXPECT_EQ(c->task_type, "CAUSAL_LM");
  EXPECT_EQ(c->base_model_name_or_path, "TinyLlama/TinyLlama-1.1B-Chat-v1.0");
  EXPECT_EQ(c->r, 16);
  EXPECT_DOUBLE_EQ(c->lora_alpha, 32);
  EXPECT_DOUBLE_EQ(c->lora_dropout, 0.05);
  EXPECT_EQ(c->target_modules, (std::vector<std::string>{"v_proj", "q_proj"}));
  EXPECT_TRUE(c->target_modules_regex.empty());
  EXPECT_TRUE(c->use_rslora);
  EXPECT_FALSE(c->use_dora);
  EXPECT_EQ(c->init_lora_weights, "true");
  EXPECT_TRUE(c->inference_mode);
  EXPECT_EQ(c->rank_pattern.at("model.layers.0.self_attn.q_proj"), 4);
  EXPECT_TRUE(c->unknown_keys.empty());  // every key above is one PEFT writes
  EXPECT_EQ(c->extra_json.at("lora_bias"), "false");
  EXPECT_EQ(c->extra_json.at("megatron_core"), "\"megatron.core\"");
}

TEST(AdapterConfigTest, DefaultsRegexTargetsAndUnknownKeys) {
  auto c = ParseAdapterConfig(
      R"({"peft_type":"LORA","target_modules":".*\\.(q|v)_proj$","layers_to_transform":3,)"
      R"("layers_pattern":["layers","h"],"init_lora_weights":"gaussian","my_key":1,)"
      R"("alpha_pattern":{"q_proj":2.5}})",
      "a.json");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->r, 8);
  EXPECT_DOUBLE_EQ(c->lora_alpha, 8);
  EXPECT_DOUBLE_EQ(c->lora_dropout, 0.0);
  EXPECT_EQ(c->bias, "none");
  EXPECT_EQ(c->target_modules_regex, ".*\\.(q|v)_proj$");
  EXPECT_TRUE(c->target_modules.empty());
  EXPECT_EQ(c->layers_to_transform, (std::vector<int64_t>{3}));
  EXPECT_EQ(c->layers_pattern, "layers|h");
  EXPECT_EQ(c->init_lora_weights, "gaussian");
  EXPECT_DOUBLE_EQ(c->alpha_pattern.at("q_proj"), 2.5);
  EXPECT_EQ(c->unknown_keys, (std::vector<std::string>{"my_key"}));
  EXPECT_FALSE(c->inference_mode);
}

TEST(AdapterConfigTest, RefusesBadValuesNamingKey) {
  struct Case {
    const char* json;
    const char* expect;
  };
  std::vector<Case> cases = {
      {R"({"r":0})", "key 'r'"},
      {R"({"r":"8"})", "key 'r': expected an integer"},
      {R"({"lora_dropout":1.5})", "key 'lora_dropout'"},
      {R"({"bias":"some"})", "key 'bias'"},
      {R"({"target_modules":[1]})", "key 'target_modules'"},
      {R"({"rank_pattern":{"q":0}})", "rank_pattern"},
      {R"({"peft_type":"IA3"})", "peft_type \"IA3\""},
      {R"({"init_lora_weights":3})", "init_lora_weights"},
      {R"({"r":8,"r":16})", "duplicate key"},
      {R"(["not an object"])", "JSON object"},
  };
  for (const Case& c : cases) {
    auto r = ParseAdapterConfig(c.json, "adapter_config.json");
    ASSERT_FALSE(r.ok()) << c.json;
    std::string msg(r.status().message());
    EXPECT_NE(msg.find(c.expect), std::string::npos) << c.json << ": " << msg;
    EXPECT_NE(msg.find("adapter_config.json"), std::string::npos) << msg;
  }
}

TEST(AdapterConfigTest, ToJsonWritesPeftKeysAndRoundTrips) {
  auto c = ParseAdapterConfig(kPeftConfig, "a");
  ASSERT_TRUE(c.ok());
  std::string text = AdapterConfigToJson(*c);
  json j = json::parse(text);
  for (const char* key : {"alpha_pattern",
                          "auto_mapping",
                          "base_model_name_or_path",
                          "bias",
                          "fan_in_fan_out",
                          "inference_mode",
                          "init_lora_weights",
                          "layer_replication",
                          "layers_pattern",
                          "layers_to_transform",
                          "loftq_config",
                          "lora_alpha",
                          "lora_dropout",
                          "megatron_config",
                          "megatron_core",
                          "modules_to_save",
                          "peft_type",
                          "r",
                          "rank_pattern",
                          "revision",
                          "target_modules",
                          "task_type",
                          "use_dora",
                          "use_rslora"}) {
    EXPECT_TRUE(j.contains(key)) << key;
  }
  EXPECT_TRUE(j["lora_alpha"].is_number_integer());
  EXPECT_EQ(j["lora_alpha"], 32);
  EXPECT_EQ(j["init_lora_weights"], true);
  EXPECT_EQ(j["target_modules"], json({"v_proj", "q_proj"}));
  EXPECT_EQ(j["lora_bias"], false);  // kept from the input
  auto back = ParseAdapterConfig(text, "b");
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(AdapterConfigToJson(*back), text);

  AdapterConfig fresh;
  fresh.r = 4;
  fresh.lora_alpha = 6.5;
  fresh.target_modules_regex = "q_proj";
  json f = json::parse(AdapterConfigToJson(fresh));
  EXPECT_EQ(f["target_modules"], "q_proj");
  EXPECT_DOUBLE_EQ(f["lora_alpha"].get<double>(), 6.5);
  EXPECT_EQ(f["modules_to_save"], nullptr);
  EXPECT_EQ(f["task_type"], "CAUSAL_LM");
}

TEST(AdapterConfigTest, LoadFromDirectory) {
  fs::path dir = fs::temp_directory_path() / ("lorad_ac_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  auto missing = LoadAdapterConfig(dir);
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(std::string(missing.status().message()).find("adapter_config.json"), std::string::npos);
  ASSERT_TRUE(WriteFileDurably(dir / "adapter_config.json", kPeftConfig).ok());
  auto ok = LoadAdapterConfig(dir);
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->r, 16);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace lorad
