// (a) The loss of small models WITH a non-trivial adapter equals the independent
// Python reference (tests/model/reference_forward.py) to 1e-4 relative in fp32,
// on configs covering GQA, head_dim ≠ hidden/heads, llama3 and linear RoPE
// scaling, attention/MLP biases, Qwen2 q/k/v biases, tied embeddings, Mistral's
// sliding window and packed rows.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstdio>
#include <fstream>

#include "nlohmann/json.hpp"
#include "tests/model/test_model_util.h"
#include "worker/formats/safetensors.h"
#include "worker/model/causal_lm.h"
#include "worker/model/tensor_io.h"
#include "worker/model/torch_compat.h"

namespace lorad {
namespace {

struct Case {
  std::string name;
  ModelConfig config;
  LoraSettings lora;
  bool packed = false;
};

std::string RunCommand(const std::string& cmd) {
  std::string out;
  FILE* pipe = ::popen(cmd.c_str(), "r");
  if (!pipe) return out;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), pipe)) > 0) out.append(buf, n);
  const int rc = ::pclose(pipe);
  if (rc != 0) out = "exit status " + std::to_string(rc) + ": " + out;
  return out;
}

std::vector<Case> Cases() {
  std::vector<Case> cases;
  {
    Case c{"llama_gqa_llama3_bias", testing::SmallLlamaConfig(), {}, false};
    c.config.attention_bias = true;
    c.config.mlp_bias = true;
    c.config.rope_scaling.type = RopeScaling::Type::kLlama3;
    c.config.rope_scaling.factor = 4;
    c.config.rope_scaling.low_freq_factor = 1;
    c.config.rope_scaling.high_freq_factor = 4;
    c.config.rope_scaling.original_max_position_embeddings = 16;  // all three regimes
    c.lora.target_modules = {"all-linear"};
    c.lora.r = 4;
    c.lora.alpha = 8;
    c.lora.rank_pattern = {{"down_proj", 2}};
    c.lora.alpha_pattern = {{"layers.1.self_attn.v_proj", 3}};
    cases.push_back(c);
  }
  {
    Case c{"qwen2_tied_linear_rope", testing::SmallLlamaConfig(), {}, false};
    c.config.architecture = Architecture::kQwen2;
    c.config.architecture_name = "Qwen2ForCausalLM";
    c.config.model_type = "qwen2";
    c.config.tie_word_embeddings = true;
    c.config.rope_scaling.type = RopeScaling::Type::kLinear;
    c.config.rope_scaling.factor = 2;
    c.lora.target_modules = {"q_proj", "k_proj", "v_proj", "up_proj"};
    c.lora.r = 3;
    c.lora.alpha = 5;
    c.lora.use_rslora = true;
    cases.push_back(c);
  }
  {
    Case c{"mistral_sliding_window_packed", testing::SmallLlamaConfig(), {}, true};
    c.config.architecture = Architecture::kMistral;
    c.config.architecture_name = "MistralForCausalLM";
    c.config.model_type = "mistral";
    c.config.sliding_window = 3;
    c.config.num_key_value_heads = 1;
    c.lora.target_modules = {"o_proj", "gate_proj", "down_proj"};
    c.lora.r = 2;
    c.lora.alpha = 4;
    c.lora.layers_to_transform = {1};
    cases.push_back(c);
  }
  return cases;
}

class ReferenceForwardTest : public ::testing::TestWithParam<Case> {};

TEST_P(ReferenceForwardTest, LossMatchesPythonReference) {
  const Case& tc = GetParam();
  const std::filesystem::path dir = testing::MakeTempDir("ref_" + tc.name);
  auto config = testing::WriteRandomTestModel(tc.config, dir, /*seed=*/11);
  ASSERT_TRUE(config.ok()) << config.status();
  auto model = LoadCausalLm(dir, *config, LoadOptions{});
  ASSERT_TRUE(model.ok()) << model.status();
  ASSERT_TRUE((*model)->AddLora(tc.lora, /*seed=*/5).ok());
  (*model)->eval();

  // Non-trivial adapter: random B (a fresh adapter would be a no-op).
  torch::Generator gen = torch_compat::MakeCpuGenerator(99);
  std::map<std::string, torch::Tensor> weights;
  std::vector<std::pair<std::string, torch::Tensor>> peft_named;
  for (const auto& [name, p] : (*model)->LoraParameters()) {
    torch::Tensor v = p.detach().clone();
    if (name.size() > 6 && name.substr(name.size() - 6) == "lora_B") v.normal_(0.0, 0.3, gen);
    weights[name] = v;
    peft_named.emplace_back("base_model.model." + name + ".weight", v);
  }
  ASSERT_TRUE((*model)->LoadLoraWeights(weights).ok());
  auto blobs = MakeTensorBlobs(peft_named);
  ASSERT_TRUE(blobs.ok());
  ASSERT_TRUE(WriteSafetensors(dir / "adapter_model.safetensors", blobs->blobs).ok());

  // Inputs: two rows of 14 tokens; -100 labels in places; packed rows use
  // restarting position ids and segments.
  const int64_t b = 2, t = 14;
  torch::Tensor ids = torch::randint(0, config->vocab_size, {b, t}, gen, torch::kInt64);
  torch::Tensor labels = ids.clone();
  labels.index_put_({0, 3}, -100);
  labels.index_put_({1, torch::indexing::Slice(0, 4)}, -100);
  auto to_list = [](const torch::Tensor& x) {
    nlohmann::json rows = nlohmann::json::array();
    for (int64_t r = 0; r < x.size(0); ++r) {
      nlohmann::json row = nlohmann::json::array();
      for (int64_t i = 0; i < x.size(1); ++i) row.push_back(x[r][i].item<int64_t>());
      rows.push_back(row);
    }
    return rows;
  };
  ForwardInputs in;
  in.input_ids = ids;
  nlohmann::json js;
  if (tc.packed) {
    torch::Tensor seg = torch::zeros({b, t}, torch::kInt64);
    torch::Tensor pos = torch::zeros({b, t}, torch::kInt64);
    for (int64_t r = 0; r < b; ++r) {
      const int64_t split = r == 0 ? 5 : 9;
      for (int64_t i = 0; i < t; ++i) {
        seg.index_put_({r, i}, i < split ? 1 : 2);
        pos.index_put_({r, i}, i < split ? i : i - split);
      }
      labels.index_put_({r, split}, -100);
    }
    in.segment_ids = seg;
    in.position_ids = pos;
    js["segment_ids"] = to_list(seg);
    js["position_ids"] = to_list(pos);
  }
  js["input_ids"] = to_list(ids);
  js["labels"] = to_list(labels);
  js["lora"] = {{"alpha", tc.lora.alpha},
                {"use_rslora", tc.lora.use_rslora},
                {"alpha_pattern", tc.lora.alpha_pattern}};
  std::ofstream(dir / "case.json") << js.dump();

  torch::NoGradGuard no_grad;
  LossOutput loss = (*model)->ComputeLoss((*model)->Forward(in), labels);
  const double ours = loss.loss_sum.item<double>();

  const std::string out = RunCommand(std::string(LORAD_TORCH_PYTHON) + " " + LORAD_SOURCE_DIR +
                                     "/tests/model/reference_forward.py " + dir.string());
  nlohmann::json ref = nlohmann::json::parse(out, nullptr, false);
  ASSERT_FALSE(ref.is_discarded()) << "reference failed: " << out;
  EXPECT_EQ(loss.num_tokens, ref["num_tokens"].get<int64_t>());
  const double expected = ref["loss_sum"].get<double>();
  EXPECT_NEAR(ours, expected, 1e-4 * std::abs(expected)) << tc.name;
  // The adapter matters: without it the loss differs clearly.
  std::map<std::string, torch::Tensor> zeros;
  for (const auto& [name, v] : weights) zeros[name] = torch::zeros_like(v);
  ASSERT_TRUE((*model)->LoadLoraWeights(zeros).ok());
  const double base = (*model)->ComputeLoss((*model)->Forward(in), labels).loss_sum.item<double>();
  EXPECT_GT(std::abs(base - expected), 1e-3 * std::abs(expected));
}

INSTANTIATE_TEST_SUITE_P(Configs, ReferenceForwardTest, ::testing::ValuesIn(Cases()),
                         [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace lorad
