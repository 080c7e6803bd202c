#include "worker/formats/model_config.h"

#include <gtest/gtest.h>

#include "nlohmann/json.hpp"

namespace lorad {
namespace {

using nlohmann::json;

std::string Msg(const absl::Status& s) { return std::string(s.message()); }

json TinyLlama() {
  return json::parse(R"({
    "architectures": ["LlamaForCausalLM"], "model_type": "llama",
    "vocab_size": 32000, "hidden_size": 2048, "intermediate_size": 5632,
    "num_hidden_layers": 22, "num_attention_heads": 32, "num_key_value_heads": 4,
    "rms_norm_eps": 1e-05, "rope_theta": 10000.0, "rope_scaling": null,
    "max_position_embeddings": 2048, "tie_word_embeddings": false,
    "bos_token_id": 1, "eos_token_id": 2, "hidden_act": "silu", "torch_dtype": "bfloat16"})");
}

absl::StatusOr<ModelConfig> Parse(const json& j) {
  return ParseModelConfig(j.dump(), "config.json");
}

TEST(ModelConfigTest, ParsesLlamaWithDerivedHeadDim) {
  auto c = Parse(TinyLlama());
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->architecture, Architecture::kLlama);
  EXPECT_EQ(c->architecture_name, "LlamaForCausalLM");
  EXPECT_EQ(c->head_dim, 64);
  EXPECT_EQ(c->num_key_value_heads, 4);
  EXPECT_DOUBLE_EQ(c->rms_norm_eps, 1e-5);
  EXPECT_EQ(c->rope_scaling.type, RopeScaling::Type::kNone);
  EXPECT_EQ(c->torch_dtype, "bfloat16");
  EXPECT_EQ(c->bos_token_id, 1);
  EXPECT_EQ(c->eos_token_ids, (std::vector<int64_t>{2}));
  EXPECT_EQ(c->pad_token_id, -1);
  EXPECT_FALSE(c->qkv_bias);
  EXPECT_EQ(c->sliding_window, 0);
}

TEST(ModelConfigTest, AppliesTransformersDefaults) {
  json j = {{"model_type", "llama"},    {"hidden_size", 64},      {"num_attention_heads", 4},
            {"intermediate_size", 128}, {"num_hidden_layers", 2}, {"vocab_size", 100},
            {"head_dim", nullptr}};
  auto c = Parse(j);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->num_key_value_heads, 4);  // ← num_attention_heads
  EXPECT_EQ(c->head_dim, 16);            // null → hidden / heads
  EXPECT_DOUBLE_EQ(c->rope_theta, 10000.0);
  EXPECT_DOUBLE_EQ(c->rms_norm_eps, 1e-6);
  EXPECT_EQ(c->max_position_embeddings, 2048);
  EXPECT_EQ(c->bos_token_id, 1);  // LlamaConfig defaults
  EXPECT_EQ(c->eos_token_ids, (std::vector<int64_t>{2}));
  EXPECT_EQ(c->torch_dtype, "float32");
}

TEST(ModelConfigTest, Llama31RopeScalingAndEosListAndDtypeKey) {
  json j = TinyLlama();
  j["rope_scaling"] = {{"rope_type", "llama3"},
                       {"factor", 8.0},
                       {"low_freq_factor", 1.0},
                       {"high_freq_factor", 4.0},
                       {"original_max_position_embeddings", 8192}};
  j["eos_token_id"] = {128001, 128008, 128009};
  j["vocab_size"] = 128256;
  j["rope_theta"] = 500000.0;
  j.erase("torch_dtype");
  j["dtype"] = "float16";
  auto c = Parse(j);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->rope_scaling.type, RopeScaling::Type::kLlama3);
  EXPECT_DOUBLE_EQ(c->rope_scaling.factor, 8.0);
  EXPECT_EQ(c->rope_scaling.original_max_position_embeddings, 8192);
  EXPECT_DOUBLE_EQ(c->rope_theta, 500000.0);
  EXPECT_EQ(c->eos_token_ids, (std::vector<int64_t>{128001, 128008, 128009}));
  EXPECT_EQ(c->torch_dtype, "float16");
}

TEST(ModelConfigTest, RopeTypeSpellingsAndV5RopeParameters) {
  json j = TinyLlama();
  j["rope_scaling"] = {{"type", "linear"}, {"factor", 2.0}};
  auto c = Parse(j);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->rope_scaling.type, RopeScaling::Type::kLinear);
  EXPECT_DOUBLE_EQ(c->rope_scaling.factor, 2.0);

  json v5 = TinyLlama();
  v5.erase("rope_theta");
  v5.erase("rope_scaling");
  v5["rope_parameters"] = {{"rope_type", "default"}, {"rope_theta", 1000000.0}};
  auto c5 = Parse(v5);
  ASSERT_TRUE(c5.ok()) << c5.status();
  EXPECT_DOUBLE_EQ(c5->rope_theta, 1e6);
  EXPECT_EQ(c5->rope_scaling.type, RopeScaling::Type::kNone);

  for (const char* t : {"dynamic", "yarn", "longrope"}) {
    json u = TinyLlama();
    u["rope_scaling"] = {{"rope_type", t}, {"factor", 2.0}};
    auto r = Parse(u);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kUnimplemented) << t;
    EXPECT_NE(Msg(r.status()).find(t), std::string::npos);
  }
  json missing = TinyLlama();
  missing["rope_scaling"] = {{"rope_type", "llama3"}, {"factor", 8.0}};
  auto m = Parse(missing);
  ASSERT_FALSE(m.ok());
  EXPECT_NE(Msg(m.status()).find("low_freq_factor"), std::string::npos) << m.status();
}

TEST(ModelConfigTest, Qwen2BiasesAndSlidingWindow) {
  json j = {{"architectures", {"Qwen2ForCausalLM"}},
            {"hidden_size", 896},
            {"intermediate_size", 4864},
            {"num_hidden_layers", 24},
            {"num_attention_heads", 14},
            {"num_key_value_heads", 2},
            {"vocab_size", 151936},
            {"rope_theta", 1000000.0},
            {"tie_word_embeddings", true},
            {"use_sliding_window", false},
            {"sliding_window", 32768},
            {"max_window_layers", 21},
            {"bos_token_id", 151643},
            {"eos_token_id", 151643}};
  auto c = Parse(j);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->architecture, Architecture::kQwen2);
  EXPECT_TRUE(c->qkv_bias);
  EXPECT_FALSE(c->o_bias);
  EXPECT_EQ(c->head_dim, 64);
  EXPECT_TRUE(c->tie_word_embeddings);
  EXPECT_EQ(c->sliding_window, 0);  // only with use_sliding_window
  j["use_sliding_window"] = true;
  auto partial = Parse(j);
  EXPECT_EQ(partial.status().code(), absl::StatusCode::kUnimplemented);
  j["max_window_layers"] = 0;
  auto all = Parse(j);
  ASSERT_TRUE(all.ok()) << all.status();
  EXPECT_EQ(all->sliding_window, 32768);
}

TEST(ModelConfigTest, MistralSlidingWindowAndLlamaBiases) {
  json m = {{"architectures", {"MistralForCausalLM"}},
            {"hidden_size", 4096},
            {"intermediate_size", 14336},
            {"num_hidden_layers", 32},
            {"num_attention_heads", 32},
            {"num_key_value_heads", 8},
            {"head_dim", 128},
            {"vocab_size", 32768},
            {"sliding_window", nullptr}};
  auto c = Parse(m);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->sliding_window, 0);
  m["sliding_window"] = 4096;
  EXPECT_EQ(Parse(m)->sliding_window, 4096);
  m.erase("sliding_window");
  EXPECT_EQ(Parse(m)->sliding_window, 4096);  // MistralConfig default

  json l = TinyLlama();
  l["attention_bias"] = true;
  l["mlp_bias"] = true;
  auto lb = Parse(l);
  ASSERT_TRUE(lb.ok());
  EXPECT_TRUE(lb->qkv_bias);
  EXPECT_TRUE(lb->o_bias);
  EXPECT_TRUE(lb->mlp_bias);
}

TEST(ModelConfigTest, RefusesUnsupportedAndInvalid) {
  json j = TinyLlama();
  j["architectures"] = {"GPT2LMHeadModel"};
  auto a = Parse(j);
  EXPECT_EQ(a.status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_NE(Msg(a.status()).find("LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM"),
            std::string::npos);

  struct Case {
    const char* key;
    json value;
    const char* expect;
  };
  std::vector<Case> cases = {
      {"num_key_value_heads", 5, "not a multiple of num_key_value_heads"},
      {"hidden_size", -1, "hidden_size"},
      {"vocab_size", int64_t{1} << 25, "vocab_size"},
      {"num_hidden_layers", 5000, "num_hidden_layers"},
      {"hidden_size", "2048", "key 'hidden_size': expected an integer"},
      {"rms_norm_eps", 0, "rms_norm_eps"},
      {"hidden_act", "gelu", "hidden_act"},
      {"torch_dtype", "int8", "torch_dtype"},
      {"eos_token_id", 40000, "eos_token_id"},
      {"tie_word_embeddings", "yes", "tie_word_embeddings"},
      {"head_dim", 63, "even"},
  };
  for (const Case& c : cases) {
    json bad = TinyLlama();
    bad[c.key] = c.value;
    auto r = Parse(bad);
    ASSERT_FALSE(r.ok()) << c.key;
    EXPECT_NE(Msg(r.status()).find(c.expect), std::string::npos) << c.key << ": " << r.status();
    EXPECT_NE(Msg(r.status()).find("config.json"), std::string::npos) << r.status();
  }
  json nodiv = TinyLlama();
  nodiv["hidden_size"] = 2050;
  EXPECT_NE(Msg(Parse(nodiv).status()).find("not divisible"), std::string::npos);
  EXPECT_FALSE(ParseModelConfig("[1]", "c").ok());
  EXPECT_FALSE(ParseModelConfig("{\"model_type\":", "c").ok());
  EXPECT_FALSE(ParseModelConfig("{}", "c").ok());
}

TEST(ModelConfigTest, ToJsonRoundTrips) {
  json j = TinyLlama();
  j["rope_scaling"] = {{"rope_type", "llama3"},
                       {"factor", 8.0},
                       {"low_freq_factor", 1.0},
                       {"high_freq_factor", 4.0},
                       {"original_max_position_embeddings", 8192}};
  j["eos_token_id"] = {2, 3};
  j["pad_token_id"] = 0;
  auto c = Parse(j);
  ASSERT_TRUE(c.ok());
  std::string text = ModelConfigToJson(*c);
  auto back = ParseModelConfig(text, "written");
  ASSERT_TRUE(back.ok()) << back.status() << text;
  EXPECT_EQ(ModelConfigToJson(*back), text);
  json w = json::parse(text);
  EXPECT_EQ(w["architectures"][0], "LlamaForCausalLM");
  EXPECT_EQ(w["model_type"], "llama");
  EXPECT_EQ(w["rope_scaling"]["rope_type"], "llama3");
  EXPECT_EQ(w["eos_token_id"], json({2, 3}));
  EXPECT_EQ(w["num_key_value_heads"], 4);

  for (const char* arch : {"MistralForCausalLM", "Qwen2ForCausalLM"}) {
    json a = TinyLlama();
    a["architectures"] = {arch};
    a.erase("model_type");
    auto ca = Parse(a);
    ASSERT_TRUE(ca.ok()) << arch << ca.status();
    auto rb = ParseModelConfig(ModelConfigToJson(*ca), "w");
    ASSERT_TRUE(rb.ok()) << arch << rb.status();
    EXPECT_EQ(rb->architecture, ca->architecture);
    EXPECT_EQ(rb->sliding_window, ca->sliding_window);
    EXPECT_EQ(rb->qkv_bias, ca->qkv_bias);
  }
}

}  // namespace
}  // namespace lorad
