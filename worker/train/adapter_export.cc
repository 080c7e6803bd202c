#include "worker/train/adapter_export.h"

#include <set>

#include "absl/strings/str_cat.h"
#include "worker/base/file_util.h"
#include "worker/base/status_macros.h"
#include "worker/formats/safetensors.h"
#include "worker/model/tensor_io.h"
#include "worker/train/probe_io.h"

namespace lorad {

LoraSettings LoraSettingsFromConfig(const TrainConfig& config) {
  LoraSettings s;
  s.r = config.lora_r;
  s.alpha = config.lora_alpha;
  s.dropout = config.lora_dropout;
  s.use_rslora = config.peft_use_rslora;
  if (config.lora_target_linear) {
    s.target_modules = {"all-linear"};
  } else if (!config.lora_target_modules.empty()) {
    s.target_modules = config.lora_target_modules;
  }
  return s;
}

AdapterConfig MakeAdapterConfig(const LoraSettings& settings, const std::string& base_model) {
  AdapterConfig c;
  c.base_model_name_or_path = base_model;
  c.r = settings.r;
  c.lora_alpha = settings.alpha;
  c.lora_dropout = settings.dropout;
  c.use_rslora = settings.use_rslora;
  std::set<std::string> wanted(settings.target_modules.begin(), settings.target_modules.end());
  if (wanted.count("all-linear")) {
    c.target_modules = LinearModuleNames();
  } else {
    // Canonical order, so equal settings give byte-equal files.
    for (const std::string& n : LinearModuleNames()) {
      if (wanted.erase(n)) c.target_modules.push_back(n);
    }
    for (const std::string& n : wanted) c.target_modules.push_back(n);
  }
  c.rank_pattern = settings.rank_pattern;
  c.alpha_pattern = settings.alpha_pattern;
  c.layers_to_transform = settings.layers_to_transform;
  return c;
}

std::string PeftKeyFor(const std::string& canonical_name) {
  return absl::StrCat("base_model.model.", canonical_name, ".weight");
}

std::vector<std::pair<std::string, torch::Tensor>> PeftAdapterTensors(CausalLm& model) {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (auto& [name, t] : model->LoraParameters()) {
    out.emplace_back(PeftKeyFor(name), t.detach().to(torch::kCPU, torch::kFloat32).contiguous());
  }
  return out;
}

absl::Status WriteAdapterFiles(const std::filesystem::path& dir, CausalLm& model,
                               const AdapterConfig& adapter_config, const nlohmann::json& sidecar,
                               const Batch* probe_batch) {
  LORAD_ASSIGN_OR_RETURN(TensorBlobs blobs, MakeTensorBlobs(PeftAdapterTensors(model)));
  LORAD_RETURN_IF_ERROR(WriteSafetensors(dir / "adapter_model.safetensors", blobs.blobs,
                                         {{"format", "pt"}}));
  LORAD_RETURN_IF_ERROR(
      WriteFileDurably(dir / "adapter_config.json", AdapterConfigToJson(adapter_config)));
  if (sidecar.is_object()) {
    LORAD_RETURN_IF_ERROR(WriteFileDurably(dir / kAdapterSidecarFile, sidecar.dump(2) + "\n"));
  }
  if (probe_batch != nullptr) LORAD_RETURN_IF_ERROR(WriteProbeBatch(dir, *probe_batch));
  return absl::OkStatus();
}

absl::StatusOr<std::map<std::string, torch::Tensor>> ReadOwnAdapterWeights(
    const std::filesystem::path& dir) {
  const std::filesystem::path path = dir / "adapter_model.safetensors";
  LORAD_ASSIGN_OR_RETURN(auto file, SafetensorsFile::Open(path));
  std::map<std::string, torch::Tensor> out;
  const std::string prefix = "base_model.model.";
  const std::string suffix = ".weight";
  for (const TensorInfo& info : file->header().tensors) {
    const std::string& key = info.name;
    if (key.rfind(prefix, 0) != 0 || key.size() <= prefix.size() + suffix.size() ||
        key.compare(key.size() - suffix.size(), suffix.size(), suffix) != 0) {
      return absl::DataLossError(absl::StrCat(path.string(), ": unexpected tensor '", key, "'"));
    }
    LORAD_ASSIGN_OR_RETURN(torch::Tensor t, LoadTensor(*file, info, torch::kFloat32));
    out[key.substr(prefix.size(), key.size() - prefix.size() - suffix.size())] = t.clone();
  }
  return out;
}

}  // namespace lorad
