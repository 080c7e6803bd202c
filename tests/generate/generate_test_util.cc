#include "tests/generate/generate_test_util.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

#include "worker/base/status_macros.h"
#include "worker/checkpoint/adapter_reader.h"
#include "worker/formats/adapter_config.h"
#include "worker/model/model_layout.h"
#include "worker/model/tensor_io.h"
#include "worker/model/torch_compat.h"

namespace lorad::testing {

absl::Status WriteRandomAdapter(const ModelConfig& config, const std::filesystem::path& dir,
                                const RandomAdapterSpec& spec) {
  LoraSettings settings;
  settings.r = spec.r;
  settings.alpha = spec.alpha;
  settings.use_rslora = spec.use_rslora;
  settings.target_modules = spec.target_modules;
  LORAD_ASSIGN_OR_RETURN(std::vector<LoraModulePlan> plan, PlanLora(config, settings));
  torch::Generator gen = torch_compat::MakeCpuGenerator(spec.seed);
  std::vector<std::pair<std::string, torch::Tensor>> named;
  for (const LoraModulePlan& p : plan) {
    const double bound = 1.0 / std::sqrt(static_cast<double>(p.module.in_features));
    torch::Tensor a = torch::empty({p.r, p.module.in_features}, torch::kFloat32);
    a.uniform_(-bound, bound, gen);
    torch::Tensor b = torch::empty({p.module.out_features, p.r}, torch::kFloat32);
    b.normal_(0.0, spec.b_std, gen);
    named.emplace_back(p.module.path + ".lora_A.weight", a);
    named.emplace_back(p.module.path + ".lora_B.weight", b);
  }
  LORAD_ASSIGN_OR_RETURN(TensorBlobs blobs, MakeTensorBlobs(named));
  AdapterConfig ac;
  ac.base_model_name_or_path = "test-model";
  ac.r = spec.r;
  ac.lora_alpha = spec.alpha;
  ac.use_rslora = spec.use_rslora;
  // PEFT stores the expanded names, never "all-linear".
  ac.target_modules = spec.target_modules;
  if (ac.target_modules == std::vector<std::string>{"all-linear"}) {
    ac.target_modules = LinearModuleNames();
  }
  return WriteAdapterDir(dir, ac, blobs.blobs);
}

CausalLm LoadTestModel(const std::filesystem::path& dir, torch::Dtype dtype) {
  auto config = LoadModelConfig(dir);
  EXPECT_TRUE(config.ok()) << config.status();
  if (!config.ok()) return CausalLm(nullptr);
  LoadOptions options;
  options.base_dtype = dtype;
  auto model = LoadCausalLm(dir, *config, options);
  EXPECT_TRUE(model.ok()) << model.status();
  return model.ok() ? *model : CausalLm(nullptr);
}

}  // namespace lorad::testing
