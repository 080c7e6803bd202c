#include "worker/config/train_config_yaml.h"

#include <charconv>
#include <map>

#include "absl/strings/str_cat.h"
#include "yaml-cpp/yaml.h"

namespace lorad {

namespace {

// One canonical spelling per value, shared by the YAML text and the diff, so a
// value that prints the same parses back the same.
std::string Num(double v) {
  char buf[64];
  auto [ptr, ec] = std::to_chars(buf, buf + sizeof(buf), v);  // shortest round-trip form
  return ec == std::errc() ? std::string(buf, ptr) : absl::StrCat(v);
}
std::string Int(int64_t v) { return absl::StrCat(v); }
std::string Bool(bool v) { return v ? "true" : "false"; }

const char* SchedulerName(LrScheduler s) {
  switch (s) {
    case LrScheduler::kLinear:
      return "linear";
    case LrScheduler::kConstant:
      return "constant";
    case LrScheduler::kCosine:
      break;
  }
  return "cosine";
}

const char* Bf16Name(Bf16Mode m) {
  switch (m) {
    case Bf16Mode::kOn:
      return "true";
    case Bf16Mode::kOff:
      return "false";
    case Bf16Mode::kAuto:
      break;
  }
  return "auto";
}

std::string CountOrFractionText(const CountOrFraction& c) {
  if (!c.set()) return "0";
  return c.is_fraction ? Num(c.value) : Int(static_cast<int64_t>(c.value));
}

// A value in the flattened form: plain (numbers, booleans, enums), a string
// (double-quoted in YAML; empty means "not set" and is written as null), or a
// list of strings.
struct Value {
  enum Kind { kPlain, kString, kList } kind;
  std::string text;
  std::vector<std::string> list;
};

Value Plain(std::string s) { return {Value::kPlain, std::move(s), {}}; }
Value String(std::string s) { return {Value::kString, std::move(s), {}}; }
Value List(std::vector<std::string> l) { return {Value::kList, "", std::move(l)}; }

std::string Quoted(const std::string& s) {
  YAML::Emitter e;
  e << YAML::DoubleQuoted << s;
  return e.c_str();
}

std::string Canonical(const Value& v) {
  switch (v.kind) {
    case Value::kPlain:
      return v.text;
    case Value::kString:
      return v.text.empty() ? "null" : Quoted(v.text);
    case Value::kList: {
      std::string out = "[";
      for (size_t i = 0; i < v.list.size(); ++i) {
        absl::StrAppend(&out, i ? ", " : "", Quoted(v.list[i]));
      }
      return out + "]";
    }
  }
  return "";
}

using Entries = std::vector<std::pair<std::string, Value>>;

Entries DatasetEntries(const DatasetSpec& d) {
  return {{"path", String(d.path)},
          {"type", Plain(d.type)},
          {"field", String(d.field)},
          {"field_messages", String(d.field_messages)},
          {"chat_template", String(d.chat_template)},
          {"roles_to_train", List(d.roles_to_train)},
          {"train_on_eos", Plain(d.train_on_eos)},
          {"split", String(d.split.value_or(""))}};
}

// Top-level keys before and after `datasets`, in the order they are written.
Entries HeadEntries(const TrainConfig& c) {
  return {{"base_model", String(c.base_model)},
          {"base_model_spec", String(c.base_model_spec)},
          {"adapter", Plain(c.adapter)},
          {"lora_r", Plain(Int(c.lora_r))},
          {"lora_alpha", Plain(Num(c.lora_alpha))},
          {"lora_dropout", Plain(Num(c.lora_dropout))},
          {"lora_target_modules", List(c.lora_target_modules)},
          {"lora_target_linear", Plain(Bool(c.lora_target_linear))},
          {"peft_use_rslora", Plain(Bool(c.peft_use_rslora))},
          {"lora_model_dir", String(c.lora_model_dir)},
          {"resume_from_checkpoint", String(c.resume_from_checkpoint)},
          {"auto_resume_from_checkpoints", Plain(Bool(c.auto_resume_from_checkpoints))}};
}

Entries TailEntries(const TrainConfig& c) {
  return {
      {"chat_template", Plain(c.chat_template)},
      {"sequence_len", Plain(Int(c.sequence_len))},
      {"sample_packing", Plain(Bool(c.sample_packing))},
      {"train_on_inputs", Plain(Bool(c.train_on_inputs))},
      {"val_set_size", Plain(CountOrFractionText(c.val_set_size))},
      {"skip_bad_lines", Plain(Bool(c.skip_bad_lines))},
      {"dataset_prepared_path", String(c.dataset_prepared_path)},
      {"micro_batch_size", Plain(Int(c.micro_batch_size))},
      {"gradient_accumulation_steps", Plain(Int(c.gradient_accumulation_steps))},
      {"num_epochs", Plain(Num(c.num_epochs))},
      {"max_steps", Plain(Int(c.max_steps))},
      {"learning_rate", Plain(Num(c.learning_rate))},
      {"lr_scheduler", Plain(SchedulerName(c.lr_scheduler))},
      {"warmup_steps", Plain(c.warmup_steps < 0 ? "null" : Int(c.warmup_steps))},
      {"warmup_ratio", Plain(c.warmup_ratio < 0 ? "null" : Num(c.warmup_ratio))},
      {"optimizer", Plain(c.optimizer)},
      {"adam_beta1", Plain(Num(c.adam_beta1))},
      {"adam_beta2", Plain(Num(c.adam_beta2))},
      {"adam_epsilon", Plain(Num(c.adam_epsilon))},
      {"weight_decay", Plain(Num(c.weight_decay))},
      {"max_grad_norm", Plain(Num(c.max_grad_norm))},
      {"seed", Plain(Int(c.seed))},
      {"bf16", Plain(Bf16Name(c.bf16))},
      {"gradient_checkpointing", Plain(Bool(c.gradient_checkpointing))},
      {"attention", Plain(c.attention)},
      {"output_dir", String(c.output_dir)},
      {"save_steps", Plain(CountOrFractionText(c.save_steps))},
      {"save_total_limit", Plain(Int(c.save_total_limit))},
      {"logging_steps", Plain(Int(c.logging_steps))},
      {"eval_steps", Plain(CountOrFractionText(c.eval_steps))},
      {"drift_policy", Plain(c.drift_policy)},
      {"drift_js_threshold", Plain(Num(c.drift_js_threshold))},
      {"drift_loss_ratio_threshold", Plain(Num(c.drift_loss_ratio_threshold))},
      {"resume_lr_policy", Plain(c.resume_lr_policy.empty() ? "null" : c.resume_lr_policy)},
      {"resume_lr_scale", Plain(Num(c.resume_lr_scale))},
      {"early_stopping_patience", Plain(Int(c.early_stopping_patience))},
      {"early_stopping_threshold", Plain(Num(c.early_stopping_threshold))},
      {"keep_best", Plain(Bool(c.keep_best))},
      {"overfitting_window", Plain(Int(c.overfitting_window))},
      {"divergence_policy", Plain(c.divergence_policy)},
      {"divergence_factor", Plain(Num(c.divergence_factor))},
      {"divergence_patience", Plain(Int(c.divergence_patience))},
      {"divergence_window", Plain(Int(c.divergence_window))},
      {"eval_prompts", List(c.eval_prompts)},
      {"eval_max_new_tokens", Plain(Int(c.eval_max_new_tokens))},
  };
}

void EmitEntries(YAML::Emitter& out, const Entries& entries) {
  for (const auto& [key, v] : entries) {
    out << YAML::Key << key << YAML::Value;
    switch (v.kind) {
      case Value::kPlain:
        if (v.text == "null") {
          out << YAML::Null;
        } else {
          out << v.text;
        }
        break;
      case Value::kString:
        if (v.text.empty()) {
          out << YAML::Null;
        } else {
          out << YAML::DoubleQuoted << v.text;
        }
        break;
      case Value::kList:
        out << YAML::Flow << YAML::BeginSeq;
        for (const std::string& s : v.list) out << YAML::DoubleQuoted << s;
        out << YAML::EndSeq;
        break;
    }
  }
}

}  // namespace

std::string TrainConfigToYaml(const TrainConfig& config) {
  YAML::Emitter out;
  out << YAML::Comment("lorad resolved training config: every key, paths absolute");
  out << YAML::BeginMap;
  EmitEntries(out, HeadEntries(config));
  out << YAML::Key << "datasets" << YAML::Value << YAML::BeginSeq;
  for (const DatasetSpec& d : config.datasets) {
    out << YAML::BeginMap;
    EmitEntries(out, DatasetEntries(d));
    out << YAML::EndMap;
  }
  out << YAML::EndSeq;
  EmitEntries(out, TailEntries(config));
  out << YAML::EndMap;
  return std::string(out.c_str()) + "\n";
}

std::vector<std::pair<std::string, std::string>> FlattenTrainConfig(const TrainConfig& config) {
  std::vector<std::pair<std::string, std::string>> flat;
  for (const auto& [key, v] : HeadEntries(config)) flat.emplace_back(key, Canonical(v));
  for (size_t i = 0; i < config.datasets.size(); ++i) {
    for (const auto& [key, v] : DatasetEntries(config.datasets[i])) {
      flat.emplace_back(absl::StrCat("datasets[", i, "].", key), Canonical(v));
    }
  }
  for (const auto& [key, v] : TailEntries(config)) flat.emplace_back(key, Canonical(v));
  return flat;
}

std::vector<std::string> DiffTrainConfigs(const TrainConfig& a, const TrainConfig& b,
                                          const std::set<std::string>& ignore_keys) {
  const auto fa = FlattenTrainConfig(a);
  const auto fb = FlattenTrainConfig(b);
  std::map<std::string, std::string> mb(fb.begin(), fb.end());
  std::map<std::string, std::string> ma(fa.begin(), fa.end());
  auto ignored = [&](const std::string& key) {
    if (ignore_keys.count(key)) return true;
    return key.rfind("datasets[", 0) == 0 && ignore_keys.count("datasets") > 0;
  };
  std::vector<std::string> diffs;
  for (const auto& [key, va] : fa) {
    if (ignored(key)) continue;
    auto it = mb.find(key);
    const std::string vb = it == mb.end() ? "(absent)" : it->second;
    if (va != vb) diffs.push_back(absl::StrCat(key, ": ", va, " → ", vb));
  }
  for (const auto& [key, vb] : fb) {  // keys only b has (more datasets)
    if (ignored(key) || ma.count(key)) continue;
    diffs.push_back(absl::StrCat(key, ": (absent) → ", vb));
  }
  return diffs;
}

}  // namespace lorad
