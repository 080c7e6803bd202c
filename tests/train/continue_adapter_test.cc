// Continuing an adapter: a PEFT adapter directory written by hand from PEFT's
// documented format (not with lorad's writer) trains from the loss its weights
// predict; the recorded probe loss passes for a real continue and fails for a
// tampered one, before any compute and without writing anything.
#include <atomic>
#include <cmath>
#include <cstring>
#include <random>

#include <gtest/gtest.h>

#include "worker/config/config_loader.h"
#include "worker/data/batch_collator.h"
#include "worker/data/dataset_builder.h"
#include "worker/formats/model_config.h"
#include "worker/tokenizer/tokenizer.h"
#include "worker/train/adapter_continue.h"
#include "worker/train/resume_plan.h"
#include "worker/train/train_step.h"
#include "tests/train/tiny_run_fixture.h"

namespace lorad {
namespace {

using testing::CapturingObserver;
using testing::TempDir;

RunOptions Opts() {
  RunOptions o;
  o.device = "cpu";
  o.threads = 1;
  return o;
}

/// safetensors by hand: u64 header length, JSON header, raw little-endian f32.
void WriteHandMadeAdapter(const std::filesystem::path& dir, int layers, int r, int hidden,
                          int q_out, int v_out, std::map<std::string, std::vector<float>>* out) {
  std::filesystem::create_directories(dir);
  testing::WriteText(dir / "adapter_config.json", R"({
  "alpha_pattern": {}, "auto_mapping": null, "base_model_name_or_path": "org/some-hub-model",
  "bias": "none", "fan_in_fan_out": false, "inference_mode": true, "init_lora_weights": true,
  "layers_pattern": null, "layers_to_transform": null, "lora_alpha": 4, "lora_dropout": 0.0,
  "modules_to_save": null, "peft_type": "LORA", "r": 2, "rank_pattern": {}, "revision": null,
  "target_modules": ["v_proj", "q_proj"], "task_type": "CAUSAL_LM", "use_rslora": false,
  "use_dora": false})");
  std::mt19937 rng(1234);
  std::normal_distribution<float> normal(0.0f, 0.2f);
  nlohmann::json header = nlohmann::json::object();
  header["__metadata__"] = {{"format", "pt"}};
  std::string data;
  for (int l = 0; l < layers; ++l) {
    for (auto [mod, out_dim] : {std::pair<const char*, int>{"q_proj", q_out}, {"v_proj", v_out}}) {
      for (auto [ab, shape] : {std::pair<const char*, std::vector<int64_t>>{"lora_A", {r, hidden}},
                               {"lora_B", {out_dim, r}}}) {
        const std::string key = "base_model.model.model.layers." + std::to_string(l) +
                                ".self_attn." + mod + "." + ab + ".weight";
        std::vector<float> v(static_cast<size_t>(shape[0] * shape[1]));
        for (float& x : v) x = normal(rng);
        header[key] = {{"dtype", "F32"}, {"shape", shape},
                       {"data_offsets", {data.size(), data.size() + v.size() * 4}}};
        data.append(reinterpret_cast<const char*>(v.data()), v.size() * 4);
        (*out)["model.layers." + std::to_string(l) + ".self_attn." + mod + "." + ab] = v;
      }
    }
  }
  std::string h = header.dump();
  const uint64_t n = h.size();
  std::string file(reinterpret_cast<const char*>(&n), 8);
  file += h + data;
  testing::WriteText(dir / "adapter_model.safetensors", file);
}

TEST(ContinueAdapterTest, HandMadePeftAdapterGivesThePredictedFirstLoss) {
  TempDir tmp("continue-peft");
  auto mc = LoadModelConfig(testing::TinyModelDir());
  ASSERT_TRUE(mc.ok());
  const int q_out = static_cast<int>(mc->num_attention_heads * mc->head_dim);
  const int v_out = static_cast<int>(mc->num_key_value_heads * mc->head_dim);
  std::map<std::string, std::vector<float>> weights;
  WriteHandMadeAdapter(tmp.path() / "peft", static_cast<int>(mc->num_hidden_layers), 2,
                       static_cast<int>(mc->hidden_size), q_out, v_out, &weights);
  testing::WriteRepetitiveDataset(tmp.path() / "data.jsonl", 4, {"the same sentence every time."});
  auto loaded = LoadTrainConfigFile(
      testing::WriteConfig(tmp.path(), tmp.path() / "data.jsonl",
                           "lora_model_dir: " + (tmp.path() / "peft").string() +
                               "\nlora_r: 8\nlora_alpha: 16\nlearning_rate: 0.001\n"
                               "micro_batch_size: 1\nmax_steps: 1\nbf16: false\n"),
      {});
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  CapturingObserver obs;
  std::atomic<bool> stop{false};
  absl::Status s = RunTrainingJob(loaded->config, Opts(), obs, stop);
  ASSERT_TRUE(s.ok()) << s;
  auto resume = obs.OfType("resume");
  ASSERT_EQ(resume.size(), 1u);
  EXPECT_EQ(resume[0]["mode"], "continue_adapter");
  EXPECT_NE(resume[0]["overridden_keys"].dump().find("lora_r"), std::string::npos);
  EXPECT_EQ(resume[0]["probe"]["available"], false);
  const double first_loss = obs.OfType("step").at(0)["loss"].get<double>();

  // The prediction, computed independently: the base model plus these weights.
  auto model = LoadCausalLm(testing::TinyModelDir(), *mc, {});
  ASSERT_TRUE(model.ok());
  LoraSettings lora;
  lora.r = 2;
  lora.alpha = 4;
  lora.target_modules = {"q_proj", "v_proj"};
  ASSERT_TRUE((*model)->AddLora(lora, 0).ok());
  auto tok = Tokenizer::LoadFromDir(testing::TinyModelDir());
  ASSERT_TRUE(tok.ok());
  auto data = BuildDataset(loaded->config, **tok, nullptr);
  ASSERT_TRUE(data.ok());
  BatchCollator collator(data->train, data->train_rows, data->pad_id, data->packed);
  const Batch row = collator.CollateRange(0, 1);
  const double base_loss = EvalLoss(*model, {row}, false, torch::kCPU);
  std::map<std::string, torch::Tensor> by_name;
  for (auto& [name, t] : (*model)->LoraParameters()) {
    auto& v = weights.at(name);
    by_name[name] = torch::from_blob(v.data(), t.sizes(), torch::kFloat32).clone();
  }
  ASSERT_TRUE((*model)->LoadLoraWeights(by_name).ok());
  at::set_num_threads(1);
  const double predicted = EvalLoss(*model, {row}, false, torch::kCPU);
  EXPECT_NEAR(first_loss, predicted, 1e-5 * std::abs(predicted));
  EXPECT_GT(std::abs(predicted - base_loss), 1e-3) << "the hand-made weights must matter";
}

TEST(ContinueAdapterTest, NormalisesPeftKeySpellings) {
  EXPECT_EQ(NormalizeAdapterKey("base_model.model.model.layers.3.mlp.up_proj.lora_A.weight"),
            "model.layers.3.mlp.up_proj.lora_A");
  EXPECT_EQ(NormalizeAdapterKey("base_model.model.model.layers.0.self_attn.q_proj.lora_B.default.weight"),
            "model.layers.0.self_attn.q_proj.lora_B");
  EXPECT_EQ(NormalizeAdapterKey("base_model.model.layers.1.self_attn.v_proj.lora_A.weight"),
            "model.layers.1.self_attn.v_proj.lora_A");
  EXPECT_EQ(NormalizeAdapterKey("base_model.model.lm_head.weight"), "");
}

TEST(ContinueAdapterTest, ProbeCheckPassesForRealContinueAndFailsForMismatch) {
  TempDir tmp("probe");
  testing::WriteRepetitiveDataset(tmp.path() / "data.jsonl", 8);
  const std::string common =
      "lora_r: 4\nlora_target_modules: [q_proj, v_proj]\nlearning_rate: 0.01\n"
      "micro_batch_size: 2\nbf16: false\n";
  auto first = LoadTrainConfigFile(
      testing::WriteConfig(tmp.path(), tmp.path() / "data.jsonl", common + "max_steps: 3\n"), {});
  ASSERT_TRUE(first.ok()) << first.status();
  std::atomic<bool> stop{false};
  CapturingObserver obs1;
  ASSERT_TRUE(RunTrainingJob(first->config, Opts(), obs1, stop).ok());
  const auto trained = tmp.path() / "out";

  // A real continue: the recorded probe loss is reproduced.
  auto cont = LoadTrainConfigFile(
      testing::WriteConfig(tmp.path(), tmp.path() / "data.jsonl",
                           common + "max_steps: 2\nlora_model_dir: " + trained.string() +
                               "\noutput_dir: " + (tmp.path() / "out2").string() + "\n",
                           "cont.yaml"),
      {});
  ASSERT_TRUE(cont.ok()) << cont.status();
  CapturingObserver obs2;
  absl::Status s = RunTrainingJob(cont->config, Opts(), obs2, stop);
  ASSERT_TRUE(s.ok()) << s;
  auto resume = obs2.OfType("resume");
  ASSERT_EQ(resume.size(), 1u);
  EXPECT_EQ(resume[0]["probe"]["available"], true);
  EXPECT_EQ(resume[0]["probe"]["passed"], true) << resume[0].dump();

  // A mismatched adapter: weights of another adapter under this one's record.
  std::filesystem::copy(trained, tmp.path() / "tampered", std::filesystem::copy_options::recursive);
  std::filesystem::copy_file(tmp.path() / "out2" / "adapter_model.safetensors",
                             tmp.path() / "tampered" / "adapter_model.safetensors",
                             std::filesystem::copy_options::overwrite_existing);
  auto bad = LoadTrainConfigFile(
      testing::WriteConfig(tmp.path(), tmp.path() / "data.jsonl",
                           common + "max_steps: 2\nlora_model_dir: " + (tmp.path() / "tampered").string() +
                               "\noutput_dir: " + (tmp.path() / "out3").string() + "\n",
                           "bad.yaml"),
      {});
  ASSERT_TRUE(bad.ok()) << bad.status();
  CapturingObserver obs3;
  s = RunTrainingJob(bad->config, Opts(), obs3, stop);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
  EXPECT_NE(std::string(s.message()).find("probe"), std::string::npos) << s;
  EXPECT_TRUE(obs3.OfType("step").empty());
  EXPECT_FALSE(std::filesystem::exists(tmp.path() / "out3"));
}

TEST(ContinueAdapterTest, ResumeOfAnOutputDirContinuesAFinishedRunAndResumesAnInterruptedOne) {
  TempDir tmp("plan");
  testing::WriteRepetitiveDataset(tmp.path() / "data.jsonl", 8);
  auto loaded = LoadTrainConfigFile(
      testing::WriteConfig(tmp.path(), tmp.path() / "data.jsonl",
                           "lora_r: 4\nlora_target_linear: true\nlearning_rate: 0.01\nmicro_batch_size: 2\n"
                           "max_steps: 4\nsave_steps: 2\nbf16: false\n"),
      {});
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  const TrainConfig& config = loaded->config;
  std::atomic<bool> stop{false};
  CapturingObserver obs;
  RunOptions interrupted = Opts();
  interrupted.stop_after = 2;
  EXPECT_EQ(RunTrainingJob(config, interrupted, obs, stop).code(), absl::StatusCode::kCancelled);
  RunOptions resume = Opts();
  resume.resume = (tmp.path() / "out").string();
  // Interrupted: checkpoints, no final adapter → the newest checkpoint, exactly.
  auto plan = PlanResume(config, resume);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->mode, ResumeMode::kExact);
  EXPECT_EQ(plan->dir.filename(), "checkpoint-2");
  // Finished: the final adapter is what gets continued; the reason names the
  // checkpoint that would extend the run exactly.
  ASSERT_TRUE(RunTrainingJob(config, resume, obs, stop).ok());
  plan = PlanResume(config, resume);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->mode, ResumeMode::kContinueAdapter);
  EXPECT_EQ(plan->dir, tmp.path() / "out");
  EXPECT_NE(plan->reason.find("checkpoint-4"), std::string::npos) << plan->reason;
}

}  // namespace
}  // namespace lorad
