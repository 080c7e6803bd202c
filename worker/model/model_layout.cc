#include "worker/model/model_layout.h"

#include <algorithm>
#include <set>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace lorad {
namespace {

bool EndsWithModulePath(const std::string& path, const std::string& key) {
  if (key.size() > path.size()) return false;
  if (path.compare(path.size() - key.size(), key.size(), key) != 0) return false;
  return key.size() == path.size() || path[path.size() - key.size() - 1] == '.';
}

// PEFT's get_pattern_key: among the keys matching the module path, the longest.
template <typename V>
const V* MatchPattern(const std::map<std::string, V>& patterns, const std::string& path) {
  const V* best = nullptr;
  size_t best_len = 0;
  for (const auto& [key, value] : patterns) {
    if (EndsWithModulePath(path, key) && key.size() >= best_len) {
      best = &value;
      best_len = key.size();
    }
  }
  return best;
}

}  // namespace

std::vector<TensorShape> ExpectedTensorShapes(const ModelConfig& c) {
  const int64_t h = c.hidden_size, hd = c.head_dim, nh = c.num_attention_heads;
  const int64_t nkv = c.num_key_value_heads, inter = c.intermediate_size;
  std::vector<TensorShape> out;
  out.push_back({"model.embed_tokens.weight", {c.vocab_size, h}});
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) {
    const std::string p = absl::StrCat("model.layers.", i, ".");
    out.push_back({p + "input_layernorm.weight", {h}});
    out.push_back({p + "self_attn.q_proj.weight", {nh * hd, h}});
    if (c.qkv_bias) out.push_back({p + "self_attn.q_proj.bias", {nh * hd}});
    out.push_back({p + "self_attn.k_proj.weight", {nkv * hd, h}});
    if (c.qkv_bias) out.push_back({p + "self_attn.k_proj.bias", {nkv * hd}});
    out.push_back({p + "self_attn.v_proj.weight", {nkv * hd, h}});
    if (c.qkv_bias) out.push_back({p + "self_attn.v_proj.bias", {nkv * hd}});
    out.push_back({p + "self_attn.o_proj.weight", {h, nh * hd}});
    if (c.o_bias) out.push_back({p + "self_attn.o_proj.bias", {h}});
    out.push_back({p + "post_attention_layernorm.weight", {h}});
    out.push_back({p + "mlp.gate_proj.weight", {inter, h}});
    if (c.mlp_bias) out.push_back({p + "mlp.gate_proj.bias", {inter}});
    out.push_back({p + "mlp.up_proj.weight", {inter, h}});
    if (c.mlp_bias) out.push_back({p + "mlp.up_proj.bias", {inter}});
    out.push_back({p + "mlp.down_proj.weight", {h, inter}});
    if (c.mlp_bias) out.push_back({p + "mlp.down_proj.bias", {h}});
  }
  out.push_back({"model.norm.weight", {h}});
  if (!c.tie_word_embeddings) out.push_back({"lm_head.weight", {c.vocab_size, h}});
  return out;
}

int64_t CountBaseParameters(const ModelConfig& config) {
  int64_t total = 0;
  for (const TensorShape& t : ExpectedTensorShapes(config)) {
    int64_t n = 1;
    for (int64_t d : t.shape) n *= d;
    total += n;
  }
  return total;
}

std::vector<LinearModule> AdaptableLinears(const ModelConfig& c) {
  const int64_t h = c.hidden_size, hd = c.head_dim, nh = c.num_attention_heads;
  const int64_t nkv = c.num_key_value_heads, inter = c.intermediate_size;
  std::vector<LinearModule> out;
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) {
    const std::string attn = absl::StrCat("model.layers.", i, ".self_attn.");
    const std::string mlp = absl::StrCat("model.layers.", i, ".mlp.");
    out.push_back({attn + "q_proj", "q_proj", i, h, nh * hd});
    out.push_back({attn + "k_proj", "k_proj", i, h, nkv * hd});
    out.push_back({attn + "v_proj", "v_proj", i, h, nkv * hd});
    out.push_back({attn + "o_proj", "o_proj", i, nh * hd, h});
    out.push_back({mlp + "gate_proj", "gate_proj", i, h, inter});
    out.push_back({mlp + "up_proj", "up_proj", i, h, inter});
    out.push_back({mlp + "down_proj", "down_proj", i, inter, h});
  }
  return out;
}

absl::StatusOr<std::vector<LoraModulePlan>> PlanLora(const ModelConfig& config,
                                                     const LoraSettings& s) {
  if (s.r <= 0) return absl::InvalidArgumentError(absl::StrCat("lora r must be > 0, got ", s.r));
  if (!(s.dropout >= 0.0 && s.dropout < 1.0)) {
    return absl::InvalidArgumentError(
        absl::StrCat("lora dropout must be in [0, 1), got ", s.dropout));
  }
  if (s.target_modules.empty()) {
    return absl::InvalidArgumentError("lora target_modules is empty");
  }
  const auto& names = LinearModuleNames();
  std::set<std::string> targets;
  for (const std::string& t : s.target_modules) {
    if (t == "all-linear") {
      targets.insert(names.begin(), names.end());
    } else if (std::find(names.begin(), names.end(), t) != names.end()) {
      targets.insert(t);
    } else {
      return absl::InvalidArgumentError(absl::StrCat(
          "lora target module '", t, "' does not exist in this model (", config.architecture_name,
          "); known: ", absl::StrJoin(names, ", "), ", all-linear"));
    }
  }
  std::set<int64_t> layers;
  for (int64_t l : s.layers_to_transform) {
    if (l < 0 || l >= config.num_hidden_layers) {
      return absl::InvalidArgumentError(absl::StrCat("layers_to_transform: layer ", l,
                                                     " out of range [0, ",
                                                     config.num_hidden_layers, ")"));
    }
    layers.insert(l);
  }
  std::vector<LoraModulePlan> plan;
  for (const LinearModule& m : AdaptableLinears(config)) {
    if (!targets.count(m.short_name)) continue;
    if (!layers.empty() && !layers.count(m.layer)) continue;
    LoraModulePlan p{m, s.r, s.alpha};
    if (const int64_t* r = MatchPattern(s.rank_pattern, m.path)) p.r = *r;
    if (const double* a = MatchPattern(s.alpha_pattern, m.path)) p.alpha = *a;
    if (p.r <= 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("rank_pattern gives r=", p.r, " for ", m.path, "; r must be > 0"));
    }
    plan.push_back(std::move(p));
  }
  if (plan.empty()) {
    return absl::InvalidArgumentError("lora settings select no module of this model");
  }
  return plan;
}

int64_t CountLoraParameters(const std::vector<LoraModulePlan>& plan) {
  int64_t n = 0;
  for (const LoraModulePlan& p : plan) n += p.r * (p.module.in_features + p.module.out_features);
  return n;
}

}  // namespace lorad
