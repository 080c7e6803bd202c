// CausalLm: LoRA gradients vs finite differences (fp64), gradient checkpointing
// with dropout, packed rows, bad inputs.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <fstream>

#include "tests/model/test_model_util.h"
#include "worker/model/causal_lm.h"
#include "worker/model/torch_compat.h"

namespace lorad {
namespace {

using testing::MakeTempDir;
using testing::SmallLlamaConfig;
using testing::WriteRandomTestModel;

CausalLm LoadSmall(const std::string& name, torch::Dtype dtype, ModelConfig config,
                   std::filesystem::path* dir_out = nullptr) {
  const std::filesystem::path dir = MakeTempDir(name);
  if (dir_out) *dir_out = dir;
  auto parsed = WriteRandomTestModel(config, dir, 3);
  EXPECT_TRUE(parsed.ok()) << parsed.status();
  LoadOptions opts;
  opts.base_dtype = dtype;
  auto model = LoadCausalLm(dir, *parsed, opts);
  EXPECT_TRUE(model.ok()) << model.status();
  return *model;
}

// Random B so that gradients w.r.t. A are non-zero too.
void RandomizeB(CausalLm& model, uint64_t seed) {
  torch::Generator gen = torch_compat::MakeCpuGenerator(seed);
  std::map<std::string, torch::Tensor> w;
  for (const auto& [name, p] : model->LoraParameters()) {
    torch::Tensor v = p.detach().clone();
    if (name.substr(name.size() - 6) == "lora_B") v.normal_(0.0, 0.2, gen);
    w[name] = v;
  }
  ASSERT_TRUE(model->LoadLoraWeights(w).ok());
}

struct Batch {
  ForwardInputs in;
  torch::Tensor labels;
};

Batch RandomBatch(int64_t vocab, int64_t b, int64_t t, uint64_t seed) {
  torch::Generator gen = torch_compat::MakeCpuGenerator(seed);
  Batch batch;
  batch.in.input_ids = torch::randint(0, vocab, {b, t}, gen, torch::kInt64);
  batch.labels = batch.in.input_ids.clone();
  batch.labels.index_put_({0, 2}, -100);
  return batch;
}

TEST(CausalLmTest, LoraGradientsMatchFiniteDifferences) {
  ModelConfig config = SmallLlamaConfig();
  config.attention_bias = true;
  CausalLm model = LoadSmall("fd", torch::kFloat64, config);
  LoraSettings lora;
  lora.target_modules = {"all-linear"};
  lora.r = 2;
  lora.alpha = 3;
  ASSERT_TRUE(model->AddLora(lora, 1).ok());
  // The adapter masters are fp32 by design; finite differences need fp64 ones
  // (the forward's cast to the activation dtype is then a no-op).
  {
    torch::NoGradGuard no_grad;
    for (auto& [name, p] : model->LoraParameters()) p.set_data(p.to(torch::kFloat64));
  }
  RandomizeB(model, 2);
  model->eval();
  Batch batch = RandomBatch(config.vocab_size, 2, 9, 4);
  auto loss_of = [&] {
    return model->ComputeLoss(model->Forward(batch.in), batch.labels).loss_sum;
  };
  auto params = model->LoraParameters();
  for (auto& [name, p] : params) p.mutable_grad() = torch::Tensor();
  torch::Tensor loss = loss_of();
  EXPECT_EQ(loss.scalar_type(), torch::kFloat64);
  loss.backward();

  torch::Generator gen = torch_compat::MakeCpuGenerator(7);
  int checked = 0;
  for (size_t i = 0; i < params.size(); i += 5) {  // A and B of several modules
    auto& [name, p] = params[i];
    ASSERT_TRUE(p.grad().defined()) << name;
    for (int k = 0; k < 3; ++k) {
      const int64_t idx = torch::randint(0, p.numel(), {1}, gen).item<int64_t>();
      const double eps = 1e-6;
      torch::NoGradGuard no_grad;
      torch::Tensor flat = p.view({-1});
      const double orig = flat[idx].item<double>();
      flat[idx] = orig + eps;
      const double up = loss_of().item<double>();
      flat[idx] = orig - eps;
      const double down = loss_of().item<double>();
      flat[idx] = orig;
      const double numeric = (up - down) / (2 * eps);
      const double analytic = p.grad().view({-1})[idx].item<double>();
      EXPECT_NEAR(analytic, numeric, 1e-6 + 1e-5 * std::abs(numeric)) << name << "[" << idx << "]";
      ++checked;
    }
  }
  EXPECT_GE(checked, 12);
  // Only adapter parameters receive gradients.
  for (const auto& p : model->parameters()) {
    if (!p.requires_grad()) {
      EXPECT_FALSE(p.grad().defined());
    }
  }
}

TEST(CausalLmTest, GradientCheckpointingGivesSameLossAndGradsWithDropout) {
  CausalLm model = LoadSmall("ckpt", torch::kFloat32, SmallLlamaConfig());
  LoraSettings lora;
  lora.target_modules = {"all-linear"};
  lora.r = 4;
  lora.alpha = 8;
  lora.dropout = 0.3;
  ASSERT_TRUE(model->AddLora(lora, 1).ok());
  RandomizeB(model, 2);
  model->train();
  Batch batch = RandomBatch(SmallLlamaConfig().vocab_size, 2, 10, 5);

  auto run = [&](bool checkpointing, std::vector<torch::Tensor>* grads) {
    model->SetGradientCheckpointing(checkpointing);
    for (auto& [name, p] : model->LoraParameters()) p.mutable_grad() = torch::Tensor();
    torch::manual_seed(1234);
    torch::Tensor loss = model->ComputeLoss(model->Forward(batch.in), batch.labels).loss_sum;
    loss.backward();
    for (auto& [name, p] : model->LoraParameters()) grads->push_back(p.grad().clone());
    // The next draw of the global RNG: checkpointing must leave it untouched.
    grads->push_back(torch::rand({4}));
    return loss.item<double>();
  };
  std::vector<torch::Tensor> g_plain, g_ckpt;
  const double l_plain = run(false, &g_plain);
  const double l_ckpt = run(true, &g_ckpt);
  EXPECT_DOUBLE_EQ(l_plain, l_ckpt);
  ASSERT_EQ(g_plain.size(), g_ckpt.size());
  for (size_t i = 0; i < g_plain.size(); ++i) {
    EXPECT_TRUE(torch::allclose(g_plain[i], g_ckpt[i], 1e-5, 1e-7)) << i;
  }
  // Dropout really was on: another seed gives another loss, eval mode a third.
  torch::manual_seed(999);
  const double other = model->ComputeLoss(model->Forward(batch.in), batch.labels)
                           .loss_sum.item<double>();
  EXPECT_NE(other, l_plain);
}

TEST(CausalLmTest, PackedRowLossEqualsSumOfSeparateSamples) {
  ModelConfig config = SmallLlamaConfig();
  CausalLm model = LoadSmall("packed", torch::kFloat32, config);
  LoraSettings lora;
  lora.target_modules = {"q_proj", "v_proj", "down_proj"};
  ASSERT_TRUE(model->AddLora(lora, 1).ok());
  RandomizeB(model, 3);
  model->eval();
  torch::NoGradGuard no_grad;
  torch::Generator gen = torch_compat::MakeCpuGenerator(8);
  const std::vector<int64_t> lens = {5, 7, 4};
  std::vector<torch::Tensor> samples;
  double separate = 0;
  int64_t separate_tokens = 0;
  for (int64_t len : lens) {
    torch::Tensor s = torch::randint(0, config.vocab_size, {1, len}, gen, torch::kInt64);
    samples.push_back(s);
    ForwardInputs in;
    in.input_ids = s;
    LossOutput out = model->ComputeLoss(model->Forward(in), s);
    separate += out.loss_sum.item<double>();
    separate_tokens += out.num_tokens;
  }
  // One packed row (plus 2 padding tokens at the end): positions restart per
  // sample, the first label of each sample is -100.
  torch::Tensor ids = torch::cat(samples, 1);
  const int64_t total = ids.size(1);
  ids = torch::cat({ids, torch::zeros({1, 2}, torch::kInt64)}, 1);
  torch::Tensor labels = ids.clone();
  torch::Tensor pos = torch::zeros_like(ids), seg = torch::zeros_like(ids);
  int64_t start = 0;
  for (size_t k = 0; k < lens.size(); ++k) {
    labels.index_put_({0, start}, -100);
    for (int64_t i = 0; i < lens[k]; ++i) {
      pos.index_put_({0, start + i}, i);
      seg.index_put_({0, start + i}, static_cast<int64_t>(k + 1));
    }
    start += lens[k];
  }
  labels.index_put_({0, torch::indexing::Slice(total, torch::indexing::None)}, -100);
  ForwardInputs packed;
  packed.input_ids = ids;
  packed.position_ids = pos;
  packed.segment_ids = seg;
  LossOutput out = model->ComputeLoss(model->Forward(packed), labels);
  EXPECT_EQ(out.num_tokens, separate_tokens);
  EXPECT_NEAR(out.loss_sum.item<double>(), separate, 1e-5 * std::max(1.0, std::abs(separate)));
  // Without segments, attention crosses samples and the loss differs.
  packed.segment_ids = torch::Tensor();
  EXPECT_GT(std::abs(model->ComputeLoss(model->Forward(packed), labels).loss_sum.item<double>() -
                     separate),
            1e-3);
}

// Every attention backend gives the model the same loss and LoRA gradients
// (fp64, packed rows with padding, with and without gradient checkpointing).
TEST(CausalLmTest, AttentionBackendsAgreeOnLossAndGradients) {
  ModelConfig config = SmallLlamaConfig();
  CausalLm model = LoadSmall("backends", torch::kFloat64, config);
  LoraSettings lora;
  lora.target_modules = {"q_proj", "k_proj", "v_proj", "o_proj", "down_proj"};
  ASSERT_TRUE(model->AddLora(lora, 1).ok());
  RandomizeB(model, 5);
  Batch batch = RandomBatch(config.vocab_size, 2, 9, 21);
  batch.in.segment_ids = torch::tensor({1, 1, 1, 1, 2, 2, 2, 2, 2, 1, 1, 1, 1, 1, 1, 1, 0, 0},
                                       torch::kInt64)
                             .view({2, 9});
  batch.labels.index_put_({1, torch::indexing::Slice(7, torch::indexing::None)}, -100);
  auto run = [&](AttentionBackend backend, bool checkpoint) {
    model->SetAttentionBackend(backend);
    model->SetGradientCheckpointing(checkpoint);
    for (auto& [name, p] : model->LoraParameters()) p.mutable_grad() = torch::Tensor();
    torch::Tensor loss = model->ComputeLoss(model->Forward(batch.in), batch.labels).loss_sum;
    loss.backward();
    std::vector<torch::Tensor> grads = {loss.detach()};
    for (auto& [name, p] : model->LoraParameters()) grads.push_back(p.grad().clone());
    return grads;
  };
  const auto eager = run(AttentionBackend::kEager, false);
  for (AttentionBackend backend :
       {AttentionBackend::kBlockwise, AttentionBackend::kSdpa, AttentionBackend::kEager}) {
    for (bool checkpoint : {false, true}) {
      SCOPED_TRACE(::testing::Message() << static_cast<int>(backend) << " checkpoint "
                                        << checkpoint);
      const auto other = run(backend, checkpoint);
      ASSERT_EQ(other.size(), eager.size());
      for (size_t i = 0; i < eager.size(); ++i) {
        EXPECT_TRUE(torch::allclose(other[i], eager[i], 1e-9, 1e-11)) << "tensor " << i;
      }
    }
  }
}

TEST(CausalLmTest, BinOnlyDirectoryIsAClearError) {
  std::filesystem::path dir;
  CausalLm model = LoadSmall("bin_only", torch::kFloat32, SmallLlamaConfig(), &dir);
  std::filesystem::rename(dir / "model.safetensors", dir / "pytorch_model.bin");
  auto config = LoadModelConfig(dir);
  ASSERT_TRUE(config.ok());
  auto loaded = LoadCausalLm(dir, *config, LoadOptions{});
  ASSERT_FALSE(loaded.ok());
  EXPECT_NE(std::string(loaded.status().message()).find("pytorch_model.bin"), std::string::npos)
      << loaded.status();
}

TEST(CausalLmTest, UnsupportedArchitectureIsAClearError) {
  const std::filesystem::path dir = MakeTempDir("gpt2");
  std::ofstream(dir / "config.json")
      << R"({"architectures": ["GPT2LMHeadModel"], "model_type": "gpt2", "vocab_size": 10,
            "n_embd": 8, "n_layer": 1, "n_head": 2})";
  auto config = LoadModelConfig(dir);
  ASSERT_FALSE(config.ok());
  EXPECT_NE(std::string(config.status().message()).find("GPT2LMHeadModel"), std::string::npos)
      << config.status();
}

TEST(CausalLmTest, MissingOrMisshapedTensorIsAClearError) {
  ModelConfig small = SmallLlamaConfig();
  const std::filesystem::path dir = MakeTempDir("misshaped");
  // Declare more KV heads in config.json than the weights have.
  auto written = WriteRandomTestModel(small, dir, 1);
  ASSERT_TRUE(written.ok());
  ModelConfig lying = *written;
  lying.num_key_value_heads = 4;
  auto loaded = LoadCausalLm(dir, lying, LoadOptions{});
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(std::string(loaded.status().message()).find("model.layers.0.self_attn.k_proj.weight"),
            std::string::npos)
      << loaded.status();

  // An untied config over tied weights: lm_head.weight is missing.
  ModelConfig tied = small;
  tied.tie_word_embeddings = true;
  const std::filesystem::path dir2 = MakeTempDir("missing");
  auto written2 = WriteRandomTestModel(tied, dir2, 1);
  ASSERT_TRUE(written2.ok());
  ModelConfig untied = *written2;
  untied.tie_word_embeddings = false;
  auto loaded2 = LoadCausalLm(dir2, untied, LoadOptions{});
  ASSERT_FALSE(loaded2.ok());
  EXPECT_EQ(loaded2.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(std::string(loaded2.status().message()).find("lm_head.weight"), std::string::npos);
}

TEST(CausalLmTest, LoraSettingsAndAdapterWeightsAreValidated) {
  CausalLm model = LoadSmall("lora_errors", torch::kFloat32, SmallLlamaConfig());
  LoraSettings bad;
  bad.target_modules = {"c_attn"};
  absl::Status s = model->AddLora(bad, 1);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(std::string(s.message()).find("c_attn"), std::string::npos);
  LoraSettings zero_r;
  zero_r.r = 0;
  EXPECT_FALSE(model->AddLora(zero_r, 1).ok());

  LoraSettings ok;
  ok.target_modules = {"q_proj"};
  ok.r = 4;
  ok.layers_to_transform = {1};
  ASSERT_TRUE(model->AddLora(ok, 1).ok());
  auto params = model->LoraParameters();
  ASSERT_EQ(params.size(), 2u);
  EXPECT_EQ(params[0].first, "model.layers.1.self_attn.q_proj.lora_A");
  EXPECT_EQ(params[1].first, "model.layers.1.self_attn.q_proj.lora_B");
  EXPECT_EQ(params[0].second.sizes(), (std::vector<int64_t>{4, 32}));
  EXPECT_EQ(params[1].second.sizes(), (std::vector<int64_t>{48, 4}));
  EXPECT_TRUE(torch::all(params[1].second.eq(0)).item<bool>());  // B starts at zero
  const double bound = 1.0 / std::sqrt(32.0);
  EXPECT_LE(params[0].second.abs().max().item<double>(), bound);
  EXPECT_GT(params[0].second.abs().max().item<double>(), 0.5 * bound);

  std::map<std::string, torch::Tensor> wrong_shape = {
      {params[0].first, torch::zeros({4, 31})}, {params[1].first, torch::zeros({48, 4})}};
  s = model->LoadLoraWeights(wrong_shape);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(std::string(s.message()).find(params[0].first), std::string::npos);
  std::map<std::string, torch::Tensor> extra = {{params[0].first, torch::zeros({4, 32})},
                                                {params[1].first, torch::zeros({48, 4})},
                                                {"model.layers.0.mlp.up_proj.lora_A", torch::zeros({4, 32})}};
  s = model->LoadLoraWeights(extra);
  EXPECT_NE(std::string(s.message()).find("model.layers.0.mlp.up_proj.lora_A"), std::string::npos);
  // Same seed, same init.
  CausalLm again = LoadSmall("lora_errors2", torch::kFloat32, SmallLlamaConfig());
  ASSERT_TRUE(again->AddLora(ok, 1).ok());
  EXPECT_TRUE(torch::equal(again->LoraParameters()[0].second, params[0].second));
  EXPECT_EQ(model->LinearModuleShapes().at("model.layers.0.mlp.down_proj"),
            (std::pair<int64_t, int64_t>{48, 32}));
}

TEST(CausalLmTest, FreshAdapterIsANoOpAndBf16StaysClose) {
  ModelConfig config = SmallLlamaConfig();
  CausalLm model = LoadSmall("noop", torch::kFloat32, config);
  model->eval();
  torch::NoGradGuard no_grad;
  Batch batch = RandomBatch(config.vocab_size, 1, 8, 6);
  const double before = model->ComputeLoss(model->Forward(batch.in), batch.labels)
                            .loss_sum.item<double>();
  LoraSettings lora;
  lora.target_modules = {"all-linear"};
  ASSERT_TRUE(model->AddLora(lora, 1).ok());
  const double after = model->ComputeLoss(model->Forward(batch.in), batch.labels)
                           .loss_sum.item<double>();
  EXPECT_DOUBLE_EQ(before, after);

  std::filesystem::path dir;
  CausalLm bf16 = LoadSmall("bf16", torch::kBFloat16, config, &dir);
  bf16->eval();
  EXPECT_EQ(bf16->embed_tokens.scalar_type(), torch::kBFloat16);
  torch::Tensor h = bf16->Forward(batch.in);
  EXPECT_EQ(h.scalar_type(), torch::kBFloat16);
  LossOutput l = bf16->ComputeLoss(h, batch.labels);
  EXPECT_EQ(l.loss_sum.scalar_type(), torch::kFloat32);
  EXPECT_NEAR(l.loss_sum.item<double>(), before, 0.05 * before);
}

}  // namespace
}  // namespace lorad
