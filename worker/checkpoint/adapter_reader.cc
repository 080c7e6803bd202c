#include "worker/checkpoint/adapter_reader.h"

#include <algorithm>
#include <cmath>
#include <regex>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "nlohmann/json.hpp"
#include "worker/base/file_util.h"
#include "worker/base/status_macros.h"
#include "worker/checkpoint/checkpoint_files.h"

namespace lorad {
namespace fs = std::filesystem;
namespace {

bool StartsWith(const std::string& s, std::string_view p) { return s.rfind(p, 0) == 0; }

std::string ShapeText(const std::vector<int64_t>& shape) {
  return absl::StrCat("[", absl::StrJoin(shape, ", "), "]");
}

// PEFT's pattern lookup for rank_pattern / alpha_pattern: a key matches a module
// name when the name equals it or ends with "." + it, the key being a regex.
bool PatternMatches(const std::string& pattern, const std::string& module) {
  if (module == pattern) return true;
  try {
    return std::regex_match(module, std::regex("(.*\\.)?(?:" + pattern + ")"));
  } catch (const std::regex_error&) {
    return module.size() > pattern.size() &&
           module.compare(module.size() - pattern.size(), pattern.size(), pattern) == 0 &&
           module[module.size() - pattern.size() - 1] == '.';
  }
}

// PEFT's check_target_module_exists: a list entry matches the name or a
// dotted suffix of it; a string is a full-match regex.
bool TargetMatches(const AdapterConfig& c, const std::string& target, const std::string& module) {
  if (!c.target_modules_regex.empty()) {
    try {
      return std::regex_match(module, std::regex(c.target_modules_regex));
    } catch (const std::regex_error&) {
      return false;
    }
  }
  return module == target ||
         (module.size() > target.size() + 1 &&
          module.compare(module.size() - target.size(), target.size(), target) == 0 &&
          module[module.size() - target.size() - 1] == '.');
}

// Options that change the adapter's forward math (or need tensors we do not
// read) are refused by name rather than silently ignored.
absl::Status CheckSupported(const AdapterConfig& c, const fs::path& config_path) {
  std::vector<std::string> problems;
  if (c.use_dora) problems.push_back("use_dora: true (DoRA is not supported)");
  if (!c.modules_to_save.empty()) {
    problems.push_back(absl::StrCat("modules_to_save: [", absl::StrJoin(c.modules_to_save, ", "),
                                    "] (fully trained extra modules are not supported)"));
  }
  if (c.bias != "none") {
    problems.push_back(absl::StrCat("bias: \"", c.bias, "\" (only \"none\" is supported)"));
  }
  if (c.fan_in_fan_out) {
    problems.push_back("fan_in_fan_out: true (Conv1D-style weights are not supported)");
  }
  const std::string& init = c.init_lora_weights;
  if (StartsWith(init, "pissa") || init == "olora" || init == "corda" || init == "loftq") {
    problems.push_back(absl::StrCat("init_lora_weights: \"", init,
                                    "\" (rewrites the base weights; convert the adapter to plain "
                                    "LoRA first)"));
  }
  auto extra_not = [&](const char* key, std::initializer_list<const char*> defaults) {
    auto it = c.extra_json.find(key);
    if (it == c.extra_json.end()) return;
    for (const char* d : defaults) {
      if (it->second == d) return;
    }
    problems.push_back(absl::StrCat(key, ": ", it->second, " (not supported)"));
  };
  extra_not("lora_bias", {"false", "null"});
  extra_not("layer_replication", {"null"});
  extra_not("trainable_token_indices", {"null", "{}", "[]"});
  extra_not("use_qalora", {"false", "null"});
  extra_not("target_parameters", {"null", "[]"});
  extra_not("alora_invocation_tokens", {"null"});
  if (!problems.empty()) {
    return absl::UnimplementedError(absl::StrCat(
        config_path.string(), ": unsupported PEFT options: ", absl::StrJoin(problems, "; ")));
  }
  return absl::OkStatus();
}

}  // namespace

bool CanonicalLoraKey(const std::string& key, std::string* module, std::string* which) {
  std::string k = key;
  if (StartsWith(k, "base_model.model.")) k = k.substr(17);
  size_t pos = std::string::npos;
  for (const char* w : {".lora_A.", ".lora_B."}) {
    size_t p = k.rfind(w);
    if (p != std::string::npos && (pos == std::string::npos || p > pos)) {
      pos = p;
      *which = std::string(w).substr(1, 6);
    }
  }
  if (pos == std::string::npos || pos == 0) return false;
  // After lora_X.: "weight", or "<adapter name>.weight" (the name PEFT strips on save).
  std::string tail = k.substr(pos + 8);
  if (tail != "weight") {
    size_t dot = tail.find('.');
    if (dot == std::string::npos || dot == 0 || tail.substr(dot + 1) != "weight") return false;
  }
  std::string m = k.substr(0, pos);
  // Saved from the bare decoder (LlamaModel) instead of the causal-LM class.
  if (StartsWith(m, "layers.")) m = "model." + m;
  if (m.empty() || m.find("..") != std::string::npos) return false;
  *module = m;
  return true;
}

absl::StatusOr<AdapterWeights> ReadAdapterDir(const fs::path& dir) {
  std::error_code ec;
  fs::path weights = dir / kAdapterWeightsFile;
  if (!fs::exists(weights, ec) && fs::exists(dir / kAdapterPickleFile, ec)) {
    return absl::FailedPreconditionError(
        absl::StrCat(dir.string(),
                     ": only adapter_model.bin (pickle) is present; pickle files can execute "
                     "code and are never loaded. Convert it to adapter_model.safetensors"));
  }
  AdapterWeights out;
  LORAD_ASSIGN_OR_RETURN(out.config, LoadAdapterConfig(dir));
  LORAD_RETURN_IF_ERROR(CheckSupported(out.config, dir / kAdapterConfigFile));
  if (!fs::exists(weights, ec)) {
    return absl::NotFoundError(absl::StrCat(weights.string(), " does not exist"));
  }
  LORAD_ASSIGN_OR_RETURN(auto file, SafetensorsFile::Open(weights));
  out.file = std::move(file);

  std::vector<std::string> unknown;
  std::map<std::string, std::pair<const TensorInfo*, const TensorInfo*>> found;
  for (const TensorInfo& t : out.file->header().tensors) {
    std::string module, which;
    if (!CanonicalLoraKey(t.name, &module, &which)) {
      unknown.push_back(t.name);
      continue;
    }
    auto& slot = which == "lora_A" ? found[module].first : found[module].second;
    if (slot != nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat(weights.string(), ": tensors '", slot->name, "' and '", t.name,
                       "' both map to ", module, ".", which, " (several adapters in one file?)"));
    }
    slot = &t;
  }
  if (!unknown.empty()) {
    std::sort(unknown.begin(), unknown.end());
    return absl::InvalidArgumentError(
        absl::StrCat(weights.string(), ": ", unknown.size(),
                     " tensor keys are not LoRA A/B weights and would be dropped: ",
                     absl::StrJoin(unknown, ", ")));
  }
  if (found.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(weights.string(), ": no LoRA tensors"));
  }
  const AdapterConfig& c = out.config;
  for (const auto& entry : found) {
    // Named copies: clang 14 cannot capture structured bindings in lambdas.
    const std::string& module = entry.first;
    const auto& ab = entry.second;
    auto bad = [&](const std::string& msg) {
      return absl::InvalidArgumentError(absl::StrCat(weights.string(), ": ", module, ": ", msg));
    };
    if (!ab.first || !ab.second)
      return bad(absl::StrCat("has only ", ab.first ? "lora_A" : "lora_B"));
    const TensorInfo& a = *ab.first;
    const TensorInfo& b = *ab.second;
    for (const TensorInfo* t : {&a, &b}) {
      if (t->dtype != DType::kF32 && t->dtype != DType::kF16 && t->dtype != DType::kBF16) {
        return bad(absl::StrCat(t->name, " has dtype ", std::string(DTypeName(t->dtype)),
                                "; expected F32, F16 or BF16"));
      }
    }
    if (a.shape.size() != 2 || b.shape.size() != 2 || a.shape[0] != b.shape[1] || a.shape[0] < 1) {
      return bad(absl::StrCat("lora_A ", ShapeText(a.shape), " and lora_B ", ShapeText(b.shape),
                              " do not pair up as [r, in] and [out, r]"));
    }
    LoraPair p;
    p.a = a;
    p.b = b;
    p.a_data = out.file->Data(a);
    p.b_data = out.file->Data(b);
    p.rank = a.shape[0];
    int64_t expected_r = c.r;
    for (const auto& [pat, r] : c.rank_pattern) {
      if (PatternMatches(pat, module)) {
        expected_r = r;
        break;
      }
    }
    if (p.rank != expected_r) {
      return bad(absl::StrCat("rank ", p.rank, " in the weights but ", expected_r,
                              " in adapter_config.json (r / rank_pattern)"));
    }
    p.alpha = c.lora_alpha;
    for (const auto& [pat, alpha] : c.alpha_pattern) {
      if (PatternMatches(pat, module)) {
        p.alpha = alpha;
        break;
      }
    }
    p.scaling = c.use_rslora ? p.alpha / std::sqrt(static_cast<double>(p.rank))
                             : p.alpha / static_cast<double>(p.rank);
    out.modules.emplace(module, std::move(p));
  }
  return out;
}

absl::Status ValidateAdapterForModel(
    const AdapterWeights& adapter,
    const std::map<std::string, std::pair<int64_t, int64_t>>& module_in_out) {
  std::vector<std::string> problems;
  for (const auto& [module, p] : adapter.modules) {
    auto it = module_in_out.find(module);
    if (it == module_in_out.end()) {
      problems.push_back(
          absl::StrCat("adapter module ", module, " does not exist in the base model"));
      continue;
    }
    auto [in, out] = it->second;
    if (p.a.shape[1] != in || p.b.shape[0] != out) {
      problems.push_back(absl::StrCat(module, ": adapter lora_A ", ShapeText(p.a.shape),
                                      " / lora_B ", ShapeText(p.b.shape), " need in=", p.a.shape[1],
                                      ", out=", p.b.shape[0],
                                      "; the base model's layer has in=", in, ", out=", out));
    }
  }
  std::vector<std::string> targets = adapter.config.target_modules;
  if (!adapter.config.target_modules_regex.empty()) targets = {adapter.config.target_modules_regex};
  std::vector<std::string> missing;
  for (const std::string& t : targets) {
    bool any = false;
    for (const auto& [name, shape] : module_in_out) {
      if (TargetMatches(adapter.config, t, name)) {
        any = true;
        break;
      }
    }
    if (!any) missing.push_back(t);
  }
  if (!missing.empty()) {
    problems.push_back(absl::StrCat("target_modules ", absl::StrJoin(missing, ", "),
                                    " match no module of the base model"));
  }
  if (problems.empty()) return absl::OkStatus();
  return absl::FailedPreconditionError(
      absl::StrCat("adapter does not fit the base model: ", absl::StrJoin(problems, "; ")));
}

absl::Status WriteAdapterDir(const fs::path& dir, const AdapterConfig& config,
                             const std::vector<TensorBlob>& tensors) {
  std::vector<TensorBlob> renamed;
  renamed.reserve(tensors.size());
  for (const TensorBlob& t : tensors) {
    std::string name = t.name;
    if (name.size() > 7 && name.compare(name.size() - 7, 7, ".weight") != 0) name += ".weight";
    std::string module, which;
    if (!CanonicalLoraKey(name, &module, &which) || StartsWith(t.name, "base_model.")) {
      return absl::InvalidArgumentError(absl::StrCat(
          "WriteAdapterDir: '", t.name, "' is not a canonical <module>.lora_A/B.weight name"));
    }
    TensorBlob b = t;
    b.name = absl::StrCat("base_model.model.", module, ".", which, ".weight");
    renamed.push_back(std::move(b));
  }
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return ErrnoToStatus(ec.value(), "create directory", dir);
  LORAD_RETURN_IF_ERROR(WriteFileDurably(dir / kAdapterConfigFile, AdapterConfigToJson(config)));
  LORAD_RETURN_IF_ERROR(WriteSafetensors(dir / kAdapterWeightsFile, renamed, {{"format", "pt"}}));
  return FsyncDirectory(dir);
}

}  // namespace lorad
