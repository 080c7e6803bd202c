// The merge: numerically the base model plus its adapter (logits and greedy
// generation), HF's directory layout (shards, index, config, copied files),
// refusals, and peak memory near one tensor on a model of many shards.
#include "worker/model/merge_adapter.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <atomic>
#include <fstream>
#include <sstream>

#include "nlohmann/json.hpp"
#include "tests/generate/generate_test_util.h"
#include "tests/model/test_model_util.h"
#include "worker/base/file_util.h"
#include "worker/formats/safetensors.h"
#include "worker/model/adapter_loader.h"
#include "worker/model/causal_lm.h"
#include "worker/model/generator.h"
#include "worker/model/tensor_io.h"

namespace lorad {
namespace {

namespace fs = std::filesystem;
using testing::LoadTestModel;
using testing::MakeTempDir;
using testing::SmallLlamaConfig;

std::string Read(const fs::path& p) {
  auto text = ReadFileToString(p);
  EXPECT_TRUE(text.ok()) << text.status();
  return text.ok() ? *text : "";
}

class MergeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    base_ = MakeTempDir("merge-base");
    config_ = *testing::WriteRandomTestModel(SmallLlamaConfig(), base_, 3);
    // The files a merged model must carry over.
    ASSERT_TRUE(WriteFileDurably(base_ / "tokenizer.json", "{\"fake\": true}\n").ok());
    ASSERT_TRUE(WriteFileDurably(base_ / "generation_config.json", "{\"eos_token_id\": 2}\n").ok());
    adapter_ = MakeTempDir("merge-adapter");
    ASSERT_TRUE(testing::WriteRandomAdapter(config_, adapter_, {}).ok());
  }

  MergeOptions Options(const std::string& out_name) const {
    MergeOptions o;
    o.model_dir = base_;
    o.adapter_dir = adapter_;
    o.out_dir = MakeTempDir("merge-out-" + std::to_string(outputs_++)) / out_name;
    return o;
  }

  /// Logits of base + adapter (the adapter path in fp32) and of the merged model.
  std::pair<torch::Tensor, torch::Tensor> Logits(const fs::path& merged, const fs::path& adapter,
                                                 torch::Dtype merged_dtype = torch::kFloat32) {
    CausalLm with_adapter = LoadTestModel(base_);
    auto attached = AttachAdapter(*with_adapter, adapter);
    EXPECT_TRUE(attached.ok()) << attached.status();
    CausalLm merged_model = LoadTestModel(merged, merged_dtype);
    torch::NoGradGuard no_grad;
    with_adapter->eval();
    merged_model->eval();
    ForwardInputs in;
    in.input_ids = torch::tensor({1, 12, 7, 30, 4, 50, 22, 9}, torch::kInt64).unsqueeze(0);
    return {with_adapter->Logits(with_adapter->Forward(in)),
            merged_model->Logits(merged_model->Forward(in)).to(torch::kFloat32)};
  }

  fs::path base_, adapter_;
  ModelConfig config_;
  mutable int outputs_ = 0;
};

TEST_F(MergeTest, MergedModelEqualsBasePlusAdapter) {
  const MergeOptions o = Options("merged");
  auto report = MergeAdapter(o);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->merged_modules, 14);
  EXPECT_EQ(report->dtype, DType::kF32);
  auto [expected, merged] = Logits(o.out_dir, adapter_);
  const double scale = expected.abs().max().item<double>();
  EXPECT_GT(scale, 1.0);
  EXPECT_LT((expected - merged).abs().max().item<double>(), 1e-4 * scale);

  // And the base alone is far from both: the adapter is not a no-op.
  CausalLm base = LoadTestModel(base_);
  torch::NoGradGuard no_grad;
  ForwardInputs in;
  in.input_ids = torch::tensor({1, 12, 7, 30, 4, 50, 22, 9}, torch::kInt64).unsqueeze(0);
  EXPECT_GT((base->Logits(base->Forward(in)) - expected).abs().max().item<double>(), 1e-2 * scale);

  // Greedy generation from the merged model = from base + adapter.
  CausalLm with_adapter = LoadTestModel(base_);
  ASSERT_TRUE(AttachAdapter(*with_adapter, adapter_).ok());
  GenerationOptions gen;
  gen.max_new_tokens = 24;
  auto a = Generator(with_adapter).Generate({1, 12, 7}, gen);
  auto b = Generator(LoadTestModel(o.out_dir)).Generate({1, 12, 7}, gen);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->ids, b->ids);
}

TEST_F(MergeTest, RsLoraAndBf16) {
  const fs::path rs_adapter = MakeTempDir("merge-rslora");
  testing::RandomAdapterSpec spec;
  spec.use_rslora = true;
  spec.r = 6;
  spec.alpha = 3;
  spec.target_modules = {"q_proj", "v_proj", "down_proj"};
  spec.seed = 5;
  ASSERT_TRUE(testing::WriteRandomAdapter(config_, rs_adapter, spec).ok());
  MergeOptions o = Options("merged-rslora");
  o.adapter_dir = rs_adapter;
  auto report = MergeAdapter(o);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->merged_modules, 6);
  {
    auto [expected, merged] = Logits(o.out_dir, rs_adapter);
    EXPECT_LT((expected - merged).abs().max().item<double>(),
              1e-4 * expected.abs().max().item<double>());
  }

  // bf16 weights: each is rounded to 8 significant bits (relative error up to
  // 2^-9), so logits agree to about a percent of their range, not to 1e-4.
  MergeOptions o16 = Options("merged-bf16");
  o16.dtype = DType::kBF16;
  ASSERT_TRUE(MergeAdapter(o16).ok());
  auto index = SafetensorsCollection::OpenModelDir(o16.out_dir);
  ASSERT_TRUE(index.ok());
  EXPECT_EQ(index->get()->Find("model.norm.weight").info->dtype, DType::kBF16);
  EXPECT_NE(Read(o16.out_dir / "config.json").find("\"torch_dtype\": \"bfloat16\""),
            std::string::npos);
  auto [expected, merged] = Logits(o16.out_dir, adapter_, torch::kFloat32);
  const double scale = expected.abs().max().item<double>();
  const double diff = (expected - merged).abs().max().item<double>();
  EXPECT_LT(diff, 3e-2 * scale);
  EXPECT_GT(diff, 1e-6 * scale) << "bf16 should not be exact";
}

TEST_F(MergeTest, MergedWeightIsWPlusScaledBA) {
  const MergeOptions o = Options("merged-w/");  // a trailing slash names the same directory
  ASSERT_TRUE(MergeAdapter(o).ok());
  for (const auto& e : fs::directory_iterator(o.out_dir)) {
    EXPECT_EQ(e.path().filename().string().find(".merge-"), std::string::npos) << e.path();
  }
  auto base = SafetensorsCollection::OpenModelDir(base_);
  auto merged = SafetensorsCollection::OpenModelDir(o.out_dir);
  auto adapter = SafetensorsCollection::OpenFile(adapter_ / "adapter_model.safetensors");
  ASSERT_TRUE(base.ok() && merged.ok() && adapter.ok());
  auto tensor = [](const SafetensorsCollection& c, const std::string& name) {
    auto e = c.Find(name);
    EXPECT_NE(e.file, nullptr) << name;
    return LoadTensor(*e.file, *e.info, torch::kFloat64)->clone();
  };
  const std::string m = "model.layers.1.mlp.down_proj";
  const torch::Tensor w = tensor(**base, m + ".weight");
  const torch::Tensor a = tensor(**adapter, "base_model.model." + m + ".lora_A.weight");
  const torch::Tensor b = tensor(**adapter, "base_model.model." + m + ".lora_B.weight");
  const torch::Tensor want = w + (8.0 / 4.0) * b.matmul(a);
  EXPECT_LT((tensor(**merged, m + ".weight") - want).abs().max().item<double>(), 1e-5);
  // Tensors without an adapter are copied bit for bit.
  EXPECT_TRUE(torch::equal(tensor(**merged, "model.embed_tokens.weight"),
                           tensor(**base, "model.embed_tokens.weight")));
  EXPECT_TRUE(torch::equal(tensor(**merged, "model.layers.0.input_layernorm.weight"),
                           tensor(**base, "model.layers.0.input_layernorm.weight")));
}

TEST_F(MergeTest, ShardsWithAnIndexAsTransformersNamesThem) {
  MergeOptions o = Options("sharded");
  o.max_shard_bytes = 12'000;  // the test model has ~100 KB of F32 weights
  auto report = MergeAdapter(o);
  ASSERT_TRUE(report.ok()) << report.status();
  const size_t shards = report->weight_files.size() - 1;  // + the index
  ASSERT_GE(shards, 4u);
  EXPECT_EQ(report->weight_files.back(), "model.safetensors.index.json");
  char first[64];
  std::snprintf(first, sizeof(first), "model-00001-of-%05zu.safetensors", shards);
  EXPECT_EQ(report->weight_files.front(), first);
  EXPECT_FALSE(fs::exists(o.out_dir / "model.safetensors"));
  const nlohmann::json index =
      nlohmann::json::parse(Read(o.out_dir / "model.safetensors.index.json"));
  uint64_t total = 0;
  std::set<std::string> files;
  for (const auto& [name, file] : index["weight_map"].items()) {
    files.insert(file.get<std::string>());
    auto f = SafetensorsFile::Open(o.out_dir / file.get<std::string>());
    ASSERT_TRUE(f.ok()) << f.status();
    const TensorInfo* info = f->get()->Find(name);
    ASSERT_NE(info, nullptr) << name << " not in " << file;
    total += info->end - info->begin;
    EXPECT_EQ(f->get()->header().metadata.at("format"), "pt");
  }
  EXPECT_EQ(files.size(), shards);
  EXPECT_EQ(index["metadata"]["total_size"].get<uint64_t>(), total);
  EXPECT_EQ(total, report->total_bytes);
  for (const std::string& f : files) EXPECT_LE(fs::file_size(o.out_dir / f), 12'000u + 4096u) << f;
  // Loads as a model and computes what the single-file merge computes.
  auto [expected, merged] = Logits(o.out_dir, adapter_);
  EXPECT_LT((expected - merged).abs().max().item<double>(),
            1e-4 * expected.abs().max().item<double>());
  // config.json keeps the base's keys; tokenizer and generation config copied.
  EXPECT_EQ(Read(o.out_dir / "tokenizer.json"), Read(base_ / "tokenizer.json"));
  EXPECT_EQ(Read(o.out_dir / "generation_config.json"), Read(base_ / "generation_config.json"));
  const nlohmann::json cfg = nlohmann::json::parse(Read(o.out_dir / "config.json"));
  EXPECT_EQ(cfg["torch_dtype"], "float32");
  EXPECT_EQ(cfg["hidden_size"], config_.hidden_size);
  // No temporary directory left beside the output.
  for (const auto& e : fs::directory_iterator(o.out_dir.parent_path())) {
    EXPECT_EQ(e.path().filename().string().find(".merge-"), std::string::npos) << e.path();
  }
}

TEST_F(MergeTest, StopBetweenShardsLeavesNoOutputAndNoTemporaryDirectory) {
  MergeOptions o = Options("stopped");
  o.max_shard_bytes = 12'000;  // several shards
  std::atomic<bool> stop{false};
  o.stop = &stop;
  int shards_done = 0;
  auto report = MergeAdapter(o, [&](const MergeProgress& p) {
    ++shards_done;
    EXPECT_GT(p.num_shards, 2);
    if (p.shard == 2) stop = true;  // as a cancel arriving from another thread
  });
  ASSERT_EQ(report.status().code(), absl::StatusCode::kCancelled) << report.status();
  EXPECT_NE(report.status().message().find("stopped in shard 3"), std::string::npos)
      << report.status();
  EXPECT_EQ(shards_done, 2);
  EXPECT_FALSE(fs::exists(o.out_dir));
  for (const auto& e : fs::directory_iterator(o.out_dir.parent_path())) {
    EXPECT_EQ(e.path().filename().string().find(".merge-"), std::string::npos) << e.path();
  }
  // The same merge, not stopped, completes into the same out_dir.
  stop = false;
  ASSERT_TRUE(MergeAdapter(o).ok());
  EXPECT_TRUE(fs::exists(o.out_dir / "model.safetensors.index.json"));
}

TEST_F(MergeTest, RefusesBadInputsBeforeWritingAnything) {
  // Non-empty --out without force; with force, old shards go.
  MergeOptions o = Options("occupied");
  fs::create_directories(o.out_dir);
  ASSERT_TRUE(WriteFileDurably(o.out_dir / "model-00001-of-00009.safetensors", "stale").ok());
  ASSERT_TRUE(WriteFileDurably(o.out_dir / "notes.txt", "keep me").ok());
  auto refused = MergeAdapter(o);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(refused.status().message().find("not empty"), std::string::npos) << refused.status();
  o.force = true;
  ASSERT_TRUE(MergeAdapter(o).ok());
  EXPECT_FALSE(fs::exists(o.out_dir / "model-00001-of-00009.safetensors"));
  EXPECT_TRUE(fs::exists(o.out_dir / "model.safetensors"));
  EXPECT_EQ(Read(o.out_dir / "notes.txt"), "keep me");

  // --out is an input.
  MergeOptions same = Options("x");
  same.out_dir = base_;
  same.force = true;
  EXPECT_EQ(MergeAdapter(same).status().code(), absl::StatusCode::kInvalidArgument);

  // The adapter does not fit the model: every mismatching module is listed.
  ModelConfig other = config_;
  other.intermediate_size = 40;
  const fs::path wrong = MakeTempDir("merge-wrong");
  ASSERT_TRUE(testing::WriteRandomAdapter(other, wrong, {}).ok());
  MergeOptions bad = Options("bad");
  bad.adapter_dir = wrong;
  auto mismatch = MergeAdapter(bad);
  EXPECT_EQ(mismatch.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(mismatch.status().message().find("model.layers.1.mlp.down_proj"), std::string::npos)
      << mismatch.status();
  EXPECT_FALSE(fs::exists(bad.out_dir));

  // adapter_config.json's r disagrees with the weights.
  const fs::path lying = MakeTempDir("merge-lying");
  fs::copy(adapter_, lying, fs::copy_options::recursive | fs::copy_options::overwrite_existing);
  std::string cfg = Read(lying / "adapter_config.json");
  const size_t at = cfg.find("\"r\": 4");
  ASSERT_NE(at, std::string::npos) << cfg;
  cfg.replace(at, 6, "\"r\": 8");
  ASSERT_TRUE(WriteFileAtomically(lying / "adapter_config.json", cfg).ok());
  bad.adapter_dir = lying;
  auto rank = MergeAdapter(bad);
  EXPECT_EQ(rank.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(rank.status().message().find("rank 4 in the weights but 8"), std::string::npos)
      << rank.status();

  bad.adapter_dir = MakeTempDir("merge-missing") / "nope";
  EXPECT_EQ(MergeAdapter(bad).status().code(), absl::StatusCode::kNotFound);
  bad.adapter_dir = adapter_;
  bad.dtype = DType::kI32;
  EXPECT_EQ(MergeAdapter(bad).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(ParseByteSizeTest, UnitsAsTransformers) {
  EXPECT_EQ(*ParseByteSize("2GB"), 2'000'000'000u);
  EXPECT_EQ(*ParseByteSize("500mb"), 500'000'000u);
  EXPECT_EQ(*ParseByteSize("512MiB"), 512u << 20);
  EXPECT_EQ(*ParseByteSize("100KB"), 100'000u);
  EXPECT_EQ(*ParseByteSize("4096"), 4096u);
  EXPECT_EQ(*ParseByteSize("10B"), 10u);
  for (const char* bad : {"", "0", "GB", "-1GB", "1.5GB", "lots", "99999999999999999999GB"}) {
    EXPECT_FALSE(ParseByteSize(bad).ok()) << bad;
  }
}

// /proc/self/status fields in kB.
int64_t StatusKb(const std::string& field) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(field + ":", 0) == 0) {
      std::istringstream words(line.substr(field.size() + 1));
      int64_t kb = -1;
      words >> kb;
      return kb;
    }
  }
  return -1;
}

// A ~125 MB model merged into ~10 MB shards: the resident set grows by a few
// tensors, never by the model.  (Without releasing each input tensor's pages,
// the mmapped input alone would add the whole model to the peak.)
TEST(MergeMemoryTest, PeakMemoryStaysNearOneTensor) {
  ModelConfig c = SmallLlamaConfig();
  c.vocab_size = 4096;
  c.hidden_size = 512;
  c.intermediate_size = 1536;
  c.num_hidden_layers = 8;
  c.num_attention_heads = 8;
  c.num_key_value_heads = 8;
  c.head_dim = 64;
  const fs::path base = MakeTempDir("merge-mem-base");
  auto config = testing::WriteRandomTestModel(c, base, 9);
  ASSERT_TRUE(config.ok()) << config.status();
  const fs::path adapter = MakeTempDir("merge-mem-adapter");
  testing::RandomAdapterSpec spec;
  spec.r = 8;
  ASSERT_TRUE(testing::WriteRandomAdapter(*config, adapter, spec).ok());
  const uint64_t model_bytes = fs::file_size(base / "model.safetensors");
  ASSERT_GT(model_bytes, 120u << 20);

  MergeOptions o;
  o.model_dir = base;
  o.adapter_dir = adapter;
  o.out_dir = MakeTempDir("merge-mem-out") / "merged";
  o.max_shard_bytes = 10'000'000;
  // Reset the high-water mark (Linux: "5" > clear_refs), then merge.
  {
    std::ofstream clear("/proc/self/clear_refs");
    clear << "5";
    clear.flush();
    if (!clear) GTEST_SKIP() << "cannot reset VmHWM through /proc/self/clear_refs";
  }
  const int64_t before_kb = StatusKb("VmRSS");
  ASSERT_LE(StatusKb("VmHWM"), before_kb + 1024) << "VmHWM was not reset";
  auto report = MergeAdapter(o);
  ASSERT_TRUE(report.ok()) << report.status();
  const int64_t growth = (StatusKb("VmHWM") - before_kb) * 1024;
  EXPECT_GE(report->weight_files.size(), 13u);  // 12+ shards and the index
  EXPECT_EQ(report->merged_modules, 8 * 7);
  // The largest tensors are the 8 MB embedding and lm_head; the largest merged
  // one is 3 MB.  A quarter of the model is far above that and far below it.
  EXPECT_LT(growth, static_cast<int64_t>(model_bytes / 4))
      << "peak RSS grew by " << growth / (1 << 20) << " MiB merging a " << model_bytes / (1 << 20)
      << " MiB model";
  std::printf("merge of a %llu MiB model: peak RSS growth %lld MiB\n",
              static_cast<unsigned long long>(model_bytes >> 20),
              static_cast<long long>(growth >> 20));
  fs::remove_all(base);
  fs::remove_all(o.out_dir);
}

}  // namespace
}  // namespace lorad
