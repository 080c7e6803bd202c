#include "worker/model/adapter_loader.h"

#include <torch/torch.h>

#include <map>

#include "absl/strings/str_cat.h"
#include "worker/base/status_macros.h"
#include "worker/checkpoint/adapter_reader.h"
#include "worker/model/tensor_io.h"

namespace lorad {

absl::StatusOr<AttachedAdapter> AttachAdapter(CausalLmImpl& model,
                                              const std::filesystem::path& dir) {
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) {
    return absl::NotFoundError(absl::StrCat("adapter directory ", dir.string(), " does not exist"));
  }
  LORAD_ASSIGN_OR_RETURN(AdapterWeights weights, ReadAdapterDir(dir));
  LORAD_RETURN_IF_ERROR(ValidateAdapterForModel(weights, model.LinearModuleShapes()));
  const AdapterConfig& c = weights.config;
  if (!c.target_modules_regex.empty()) {
    return absl::UnimplementedError(absl::StrCat((dir / "adapter_config.json").string(),
                                                 ": target_modules as a regex (\"",
                                                 c.target_modules_regex,
                                                 "\") is not supported yet; `lorad-worker merge` "
                                                 "can merge such an adapter"));
  }
  LoraSettings settings;
  settings.r = c.r;
  settings.alpha = c.lora_alpha;
  settings.dropout = 0.0;  // inference
  settings.use_rslora = c.use_rslora;
  settings.target_modules = c.target_modules;
  settings.rank_pattern = c.rank_pattern;
  settings.alpha_pattern = c.alpha_pattern;
  settings.layers_to_transform = c.layers_to_transform;
  if (auto s = model.AddLora(settings, /*seed=*/0); !s.ok()) {
    return absl::Status(s.code(), absl::StrCat(dir.string(), ": ", s.message()));
  }
  std::map<std::string, torch::Tensor> by_name;
  for (const auto& [module, pair] : weights.modules) {
    LORAD_ASSIGN_OR_RETURN(torch::Tensor a, LoadTensor(*weights.file, pair.a, torch::kFloat32));
    LORAD_ASSIGN_OR_RETURN(torch::Tensor b, LoadTensor(*weights.file, pair.b, torch::kFloat32));
    // LoadLoraWeights copies into the model's own tensors; the mapping may go.
    by_name[module + ".lora_A"] = a;
    by_name[module + ".lora_B"] = b;
  }
  if (auto s = model.LoadLoraWeights(by_name); !s.ok()) {
    return absl::Status(s.code(), absl::StrCat(dir.string(), ": ", s.message()));
  }
  AttachedAdapter out;
  out.modules = static_cast<int64_t>(weights.modules.size());
  out.r = c.r;
  out.alpha = c.lora_alpha;
  out.use_rslora = c.use_rslora;
  out.base_model = c.base_model_name_or_path;
  return out;
}

}  // namespace lorad
