#include "worker/train/adapter_continue.h"

#include <cmath>
#include <set>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "worker/base/file_util.h"
#include "worker/base/status_macros.h"
#include "worker/checkpoint/adapter_reader.h"
#include "worker/data/probe_batch.h"
#include "worker/formats/adapter_config.h"
#include "worker/formats/safetensors.h"
#include "worker/model/tensor_io.h"
#include "worker/train/adapter_export.h"
#include "worker/train/probe_io.h"
#include "worker/train/train_step.h"

namespace lorad {
namespace {

bool Exists(const std::filesystem::path& p) {
  std::error_code ec;
  return std::filesystem::exists(p, ec);
}

}  // namespace

absl::StatusOr<ContinueAdapterSettings> ReadContinueAdapterSettings(
    const std::filesystem::path& dir, const LoraSettings& yaml_settings) {
  const bool has_st = Exists(dir / "adapter_model.safetensors");
  if (!has_st && Exists(dir / "adapter_model.bin")) {
    return absl::FailedPreconditionError(absl::StrCat(
        dir.string(), ": only adapter_model.bin (a pickle) is present; pickles are never loaded. "
        "Convert it to adapter_model.safetensors first (PEFT: model.save_pretrained(dir, "
        "safe_serialization=True))"));
  }
  if (!has_st) {
    return absl::NotFoundError(absl::StrCat(dir.string(), ": no adapter_model.safetensors"));
  }
  if (!Exists(dir / "adapter_config.json")) {
    return absl::NotFoundError(absl::StrCat(dir.string(), ": no adapter_config.json"));
  }
  // The checkpoint library's reader refuses what cannot be reproduced (pickle,
  // DoRA, modules_to_save, bias, fan_in_fan_out, PiSSA-style inits, unknown keys).
  LORAD_ASSIGN_OR_RETURN(AdapterWeights weights, ReadAdapterDir(dir));
  const AdapterConfig& ac = weights.config;
  const std::string where = (dir / "adapter_config.json").string();
  auto unsupported = [&](const std::string& what) {
    return absl::UnimplementedError(absl::StrCat(where, ": ", what, " is not supported yet"));
  };
  if (ac.peft_type != "LORA") return unsupported(absl::StrCat("peft_type ", ac.peft_type));
  if (ac.use_dora) return unsupported("use_dora: true (DoRA)");
  if (!ac.modules_to_save.empty()) {
    return unsupported(absl::StrCat("modules_to_save [", absl::StrJoin(ac.modules_to_save, ", "), "]"));
  }
  if (ac.bias != "none") return unsupported(absl::StrCat("bias \"", ac.bias, "\""));
  if (ac.fan_in_fan_out) return unsupported("fan_in_fan_out: true");
  if (!ac.target_modules_regex.empty()) {
    return unsupported(absl::StrCat("target_modules as a regex (\"", ac.target_modules_regex, "\")"));
  }
  for (const char* init : {"pissa", "olora", "loftq", "corda", "eva"}) {
    if (ac.init_lora_weights.rfind(init, 0) == 0) {
      return unsupported(absl::StrCat("init_lora_weights \"", ac.init_lora_weights,
                                      "\" (it changes the base weights)"));
    }
  }
  if (ac.r <= 0) return absl::InvalidArgumentError(absl::StrCat(where, ": r must be positive"));

  ContinueAdapterSettings out;
  out.settings = yaml_settings;
  out.base_model = ac.base_model_name_or_path;
  LoraSettings& s = out.settings;
  if (s.r != ac.r) out.overridden.push_back(absl::StrCat("lora_r (", s.r, " → ", ac.r, ")"));
  if (s.alpha != ac.lora_alpha) {
    out.overridden.push_back(absl::StrCat("lora_alpha (", s.alpha, " → ", ac.lora_alpha, ")"));
  }
  if (s.use_rslora != ac.use_rslora) {
    out.overridden.push_back(absl::StrCat("peft_use_rslora (", s.use_rslora, " → ", ac.use_rslora, ")"));
  }
  // Compare targets as the sets PEFT would adapt.
  auto expand = [](const std::vector<std::string>& t) {
    std::set<std::string> set(t.begin(), t.end());
    if (set.count("all-linear")) set = {LinearModuleNames().begin(), LinearModuleNames().end()};
    return set;
  };
  if (expand(s.target_modules) != expand(ac.target_modules)) {
    out.overridden.push_back(absl::StrCat("lora_target_modules (→ [",
                                          absl::StrJoin(ac.target_modules, ", "), "])"));
  }
  if (s.rank_pattern != ac.rank_pattern) out.overridden.push_back("rank_pattern");
  if (s.alpha_pattern != ac.alpha_pattern) out.overridden.push_back("alpha_pattern");
  s.r = ac.r;
  s.alpha = ac.lora_alpha;
  s.use_rslora = ac.use_rslora;
  s.target_modules = ac.target_modules;
  s.rank_pattern = ac.rank_pattern;
  s.alpha_pattern = ac.alpha_pattern;
  s.layers_to_transform = ac.layers_to_transform;
  return out;
}

std::string NormalizeAdapterKey(const std::string& key) {
  std::string module, which;
  if (!CanonicalLoraKey(key, &module, &which)) return "";
  return module + "." + which;
}

absl::StatusOr<std::map<std::string, torch::Tensor>> ReadContinueAdapterWeights(
    const std::filesystem::path& dir, CausalLmImpl& model) {
  LORAD_ASSIGN_OR_RETURN(AdapterWeights weights, ReadAdapterDir(dir));
  LORAD_RETURN_IF_ERROR(ValidateAdapterForModel(weights, model.LinearModuleShapes()));
  std::map<std::string, torch::Tensor> out;
  for (const auto& [module, pair] : weights.modules) {
    LORAD_ASSIGN_OR_RETURN(torch::Tensor a, LoadTensor(*weights.file, pair.a, torch::kFloat32));
    LORAD_ASSIGN_OR_RETURN(torch::Tensor b, LoadTensor(*weights.file, pair.b, torch::kFloat32));
    // Own the bytes: the mapping goes away with `weights`.
    out[module + ".lora_A"] = a.clone();
    out[module + ".lora_B"] = b.clone();
  }
  return out;
}

nlohmann::json ProbeCheck::ToJson() const {
  if (!available) return {{"available", false}, {"note", note}};
  return {{"available", true},  {"passed", passed},       {"recorded", recorded},
          {"recomputed", recomputed}, {"tolerance", tolerance}};
}

absl::StatusOr<ProbeCheck> CheckRecordedProbe(const std::filesystem::path& dir, CausalLm& model,
                                              const RuntimeEnv& env) {
  ProbeCheck check;
  const std::filesystem::path sidecar_path = dir / kAdapterSidecarFile;
  if (!Exists(sidecar_path) || !Exists(dir / kProbeBatchFile)) {
    check.note = "the adapter records no probe loss (not written by lorad): nothing to compare";
    return check;
  }
  LORAD_ASSIGN_OR_RETURN(std::string text, ReadFileToString(sidecar_path, 64 << 20));
  nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  if (!j.is_object() || !j.contains("probe") || !j["probe"].is_object() ||
      !j["probe"].contains("loss") || !j["probe"]["loss"].is_number()) {
    check.note = absl::StrCat(sidecar_path.string(), " has no usable probe loss");
    return check;
  }
  LORAD_ASSIGN_OR_RETURN(Batch batch, ReadProbeBatch(dir));
  const std::string recorded_fp = j["probe"].value("fingerprint", "");
  if (BatchFingerprint(batch) != recorded_fp) {
    return absl::DataLossError(absl::StrCat(dir.string(), ": ", kProbeBatchFile,
                                            " does not match the fingerprint recorded in ",
                                            kAdapterSidecarFile));
  }
  // Same attention path as when it was recorded (segment mask only if packed).
  const bool packed = j["probe"].value("packed", false);
  check.available = true;
  check.recorded = j["probe"]["loss"].get<double>();
  check.recomputed = EvalLoss(model, {batch}, packed, env.device);
  const bool low_precision = env.bf16 || j["probe"].value("bf16", false);
  // bf16 base weights round activations to 8 bits of mantissa: a loaded adapter
  // reproduces its probe within a few percent; a fresh or wrong one does not.
  check.tolerance = low_precision ? 0.03 * std::abs(check.recorded) + 1e-3
                                  : 1e-4 * std::abs(check.recorded) + 1e-5;
  check.passed = std::isfinite(check.recomputed) &&
                 std::abs(check.recomputed - check.recorded) <= check.tolerance;
  return check;
}

}  // namespace lorad
