// PEFT's adapter_config.json, with LoraConfig's defaults for absent keys.
#include "worker/formats/adapter_config.h"

#include <algorithm>
#include <cmath>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "worker/base/file_util.h"
#include "worker/base/status_macros.h"
#include "worker/formats/json_util.h"

namespace lorad {
namespace {

using nlohmann::json;

constexpr uint64_t kMaxAdapterConfigBytes = 16ull << 20;

// Keys modelled by AdapterConfig.
const std::set<std::string>& ModelledKeys() {
  static const auto* keys = new std::set<std::string>{"peft_type",
                                                      "task_type",
                                                      "base_model_name_or_path",
                                                      "r",
                                                      "lora_alpha",
                                                      "lora_dropout",
                                                      "target_modules",
                                                      "bias",
                                                      "fan_in_fan_out",
                                                      "use_rslora",
                                                      "use_dora",
                                                      "modules_to_save",
                                                      "layers_to_transform",
                                                      "layers_pattern",
                                                      "rank_pattern",
                                                      "alpha_pattern",
                                                      "init_lora_weights",
                                                      "inference_mode"};
  return *keys;
}

// Keys that PEFT versions write which we keep verbatim (extra_json) but do not
// report as unknown: at their default values they do not change the math; the
// adapter reader refuses the ones that do when they are not at their default.
const std::set<std::string>& PassiveKeys() {
  static const auto* keys = new std::set<std::string>{"auto_mapping",
                                                      "revision",
                                                      "megatron_config",
                                                      "megatron_core",
                                                      "loftq_config",
                                                      "layer_replication",
                                                      "lora_bias",
                                                      "exclude_modules",
                                                      "eva_config",
                                                      "corda_config",
                                                      "trainable_token_indices",
                                                      "use_qalora",
                                                      "qalora_group_size",
                                                      "target_parameters",
                                                      "peft_version",
                                                      "runtime_config",
                                                      "alora_invocation_tokens",
                                                      "arrow_config",
                                                      "ensure_weight_tying"};
  return *keys;
}

absl::StatusOr<std::string> ParseInitLoraWeights(const json& root, const JsonFields& f) {
  auto it = root.find("init_lora_weights");
  if (it == root.end() || it->is_null()) return std::string("true");
  if (it->is_boolean()) return std::string(it->get<bool>() ? "true" : "false");
  if (it->is_string()) return it->get<std::string>();
  return f.Error("init_lora_weights",
                 absl::StrCat("expected true, false or a method name, got ", JsonSnippet(*it)));
}

}  // namespace

absl::StatusOr<AdapterConfig> ParseAdapterConfig(std::string_view json_text,
                                                 std::string_view source) {
  LORAD_ASSIGN_OR_RETURN(json root, ParseJsonObject(json_text, source));
  JsonFields f(root, source);
  AdapterConfig c;

  LORAD_ASSIGN_OR_RETURN(auto peft_type, f.String("peft_type"));
  c.peft_type = peft_type.value_or("LORA");
  if (c.peft_type != "LORA") {
    return absl::UnimplementedError(absl::StrCat(std::string(source), ": peft_type \"", c.peft_type,
                                                 "\" is not supported (only LORA)"));
  }
  LORAD_ASSIGN_OR_RETURN(auto task_type, f.String("task_type"));
  c.task_type = task_type.value_or("");
  LORAD_ASSIGN_OR_RETURN(auto base, f.String("base_model_name_or_path"));
  c.base_model_name_or_path = base.value_or("");

  LORAD_ASSIGN_OR_RETURN(auto r, f.Int("r"));
  c.r = r.value_or(8);
  if (c.r < 1 || c.r > 65536) return f.Error("r", absl::StrCat(c.r, " is outside [1, 65536]"));
  LORAD_ASSIGN_OR_RETURN(auto alpha, f.Double("lora_alpha"));
  c.lora_alpha = alpha.value_or(8);
  LORAD_ASSIGN_OR_RETURN(auto dropout, f.Double("lora_dropout"));
  c.lora_dropout = dropout.value_or(0.0);
  if (c.lora_dropout < 0 || c.lora_dropout >= 1) {
    return f.Error("lora_dropout", absl::StrCat(c.lora_dropout, " is outside [0, 1)"));
  }

  // target_modules: a list of module-name suffixes, or one string that PEFT
  // treats as a full-match regex.
  if (auto it = root.find("target_modules"); it != root.end() && it->is_string()) {
    c.target_modules_regex = it->get<std::string>();
  } else {
    LORAD_ASSIGN_OR_RETURN(auto tm, f.StringList("target_modules"));
    if (tm) c.target_modules = *tm;
  }

  LORAD_ASSIGN_OR_RETURN(auto bias, f.String("bias"));
  c.bias = bias.value_or("none");
  if (c.bias != "none" && c.bias != "all" && c.bias != "lora_only") {
    return f.Error("bias", absl::StrCat("\"", c.bias, "\" is not none, all or lora_only"));
  }
  LORAD_ASSIGN_OR_RETURN(auto fifo, f.Bool("fan_in_fan_out"));
  c.fan_in_fan_out = fifo.value_or(false);
  LORAD_ASSIGN_OR_RETURN(auto rslora, f.Bool("use_rslora"));
  c.use_rslora = rslora.value_or(false);
  LORAD_ASSIGN_OR_RETURN(auto dora, f.Bool("use_dora"));
  c.use_dora = dora.value_or(false);
  LORAD_ASSIGN_OR_RETURN(auto mts, f.StringList("modules_to_save"));
  if (mts) c.modules_to_save = *mts;

  if (auto it = root.find("layers_to_transform"); it != root.end() && it->is_number_integer()) {
    c.layers_to_transform = {it->get<int64_t>()};
  } else {
    LORAD_ASSIGN_OR_RETURN(auto ltt, f.IntList("layers_to_transform"));
    if (ltt) c.layers_to_transform = *ltt;
  }
  if (auto it = root.find("layers_pattern"); it != root.end() && it->is_array()) {
    // PEFT tries each pattern in turn; an alternation is the same match.
    LORAD_ASSIGN_OR_RETURN(auto lp, f.StringList("layers_pattern"));
    c.layers_pattern = absl::StrJoin(*lp, "|");
  } else {
    LORAD_ASSIGN_OR_RETURN(auto lp, f.String("layers_pattern"));
    c.layers_pattern = lp.value_or("");
  }

  for (const char* key : {"rank_pattern", "alpha_pattern"}) {
    auto it = root.find(key);
    if (it == root.end() || it->is_null()) continue;
    if (!it->is_object()) return f.Error(key, "expected an object of pattern → value");
    JsonFields pf(*it, absl::StrCat(std::string(source), " ", key));
    for (auto p = it->begin(); p != it->end(); ++p) {
      if (std::string(key) == "rank_pattern") {
        LORAD_ASSIGN_OR_RETURN(auto v, pf.Int(p.key()));
        if (!v || *v < 1 || *v > 65536) return pf.Error(p.key(), "rank must be in [1, 65536]");
        c.rank_pattern[p.key()] = *v;
      } else {
        LORAD_ASSIGN_OR_RETURN(auto v, pf.Double(p.key()));
        if (!v) return pf.Error(p.key(), "expected a number");
        c.alpha_pattern[p.key()] = *v;
      }
    }
  }
  LORAD_ASSIGN_OR_RETURN(c.init_lora_weights, ParseInitLoraWeights(root, f));
  LORAD_ASSIGN_OR_RETURN(auto inference, f.Bool("inference_mode"));
  c.inference_mode = inference.value_or(false);

  for (auto it = root.begin(); it != root.end(); ++it) {
    if (ModelledKeys().count(it.key())) continue;
    c.extra_json[it.key()] = it->dump();
    if (!PassiveKeys().count(it.key())) c.unknown_keys.push_back(it.key());
  }
  return c;
}

absl::StatusOr<AdapterConfig> LoadAdapterConfig(const std::filesystem::path& adapter_dir) {
  std::filesystem::path p = adapter_dir / "adapter_config.json";
  std::error_code ec;
  if (!std::filesystem::exists(p, ec)) {
    return absl::NotFoundError(absl::StrCat(p.string(),
                                            " does not exist (not a PEFT adapter "
                                            "directory?)"));
  }
  LORAD_ASSIGN_OR_RETURN(std::string text, ReadFileToString(p, kMaxAdapterConfigBytes));
  return ParseAdapterConfig(text, p.string());
}

std::string AdapterConfigToJson(const AdapterConfig& c) {
  using ojson = nlohmann::ordered_json;
  auto list_or_null = [](const auto& v) { return v.empty() ? ojson(nullptr) : ojson(v); };
  // Keys every PEFT release since 0.10 writes, alphabetical as PEFT writes them.
  ojson j;
  j["alpha_pattern"] = c.alpha_pattern.empty() ? ojson::object() : ojson(c.alpha_pattern);
  j["auto_mapping"] = nullptr;
  j["base_model_name_or_path"] =
      c.base_model_name_or_path.empty() ? ojson(nullptr) : ojson(c.base_model_name_or_path);
  j["bias"] = c.bias;
  j["fan_in_fan_out"] = c.fan_in_fan_out;
  j["inference_mode"] = c.inference_mode;
  if (c.init_lora_weights == "true" || c.init_lora_weights == "false") {
    j["init_lora_weights"] = c.init_lora_weights == "true";
  } else {
    j["init_lora_weights"] = c.init_lora_weights;
  }
  j["layer_replication"] = nullptr;
  j["layers_pattern"] = c.layers_pattern.empty() ? ojson(nullptr) : ojson(c.layers_pattern);
  j["layers_to_transform"] = list_or_null(c.layers_to_transform);
  j["loftq_config"] = ojson::object();
  // PEFT writes an integer alpha; keep that spelling when the value is integral.
  if (c.lora_alpha == std::floor(c.lora_alpha) && std::fabs(c.lora_alpha) < 1e15) {
    j["lora_alpha"] = static_cast<int64_t>(c.lora_alpha);
  } else {
    j["lora_alpha"] = c.lora_alpha;
  }
  j["lora_dropout"] = c.lora_dropout;
  j["megatron_config"] = nullptr;
  j["megatron_core"] = "megatron.core";
  j["modules_to_save"] = list_or_null(c.modules_to_save);
  j["peft_type"] = c.peft_type;
  j["r"] = c.r;
  j["rank_pattern"] = c.rank_pattern.empty() ? ojson::object() : ojson(c.rank_pattern);
  j["revision"] = nullptr;
  if (!c.target_modules_regex.empty()) {
    j["target_modules"] = c.target_modules_regex;
  } else {
    j["target_modules"] = list_or_null(c.target_modules);
  }
  j["task_type"] = c.task_type.empty() ? ojson(nullptr) : ojson(c.task_type);
  j["use_dora"] = c.use_dora;
  j["use_rslora"] = c.use_rslora;
  // Keys from a parsed file that we do not model go back unchanged (they came
  // from the PEFT version that wrote the file, so that version can read them).
  for (const auto& [k, text] : c.extra_json) {
    ojson v = ojson::parse(text, nullptr, /*allow_exceptions=*/false);
    if (!v.is_discarded()) j[k] = std::move(v);
  }
  return j.dump(2) + "\n";
}

}  // namespace lorad
