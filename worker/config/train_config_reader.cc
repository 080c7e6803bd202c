#include "worker/config/train_config_reader.h"

#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "worker/config/config_path_policy.h"
#include "worker/config/dataset_spec_reader.h"
#include "worker/config/unsupported_keys.h"
#include "worker/config/yaml_field_reader.h"

namespace lorad {

namespace {

constexpr int64_t kMaxSteps = 1'000'000'000'000;  // far beyond any real run
constexpr size_t kMaxDatasets = 256;

bool Positive(double v) { return v > 0; }
bool NonNegative(double v) { return v >= 0; }
bool UnitInterval(double v) { return v >= 0 && v < 1; }

/// save_steps / eval_steps / val_set_size: an integer count, or a fraction in (0, 1).
void ReadCountOrFraction(YamlFieldReader& r, const std::string& key, CountOrFraction* out) {
  const YAML::Node node = r.Take(key);
  if (!node.IsDefined() || node.IsNull()) return;
  double v = 0;
  if (!node.IsScalar() || !ParseYamlDouble(node.Scalar(), &v) || v < 0 ||
      (v >= 1 && v != std::floor(v)) || v > static_cast<double>(kMaxSteps)) {
    r.Problem(key, absl::StrCat("must be an integer count or a fraction in (0, 1), got ",
                                node.IsScalar() ? node.Scalar() : "a collection"));
    return;
  }
  out->is_fraction = v > 0 && v < 1;
  out->value = v;
}

void ReadModelAndAdapter(YamlFieldReader& r, TrainConfig* c, std::vector<std::string>* notes,
                         ConfigProblems* problems) {
  if (!r.ReadString("base_model", &c->base_model) && !r.Has("base_model")) {
    problems->Add("base_model", "required: a local model directory or a hub id (org/name)");
  }
  // base_model_spec is lorad's own key (written by TrainConfigToYaml): the
  // original spelling when base_model holds the resolved directory.
  c->base_model_spec = c->base_model;
  r.ReadString("base_model_spec", &c->base_model_spec);
  for (const char* key : {"base_model_config", "tokenizer_config"}) {
    std::string other;
    if (r.ReadString(key, &other) && other != c->base_model && other != c->base_model_spec) {
      r.Problem(key, absl::StrCat("a config or tokenizer from another model (\"", other,
                                  "\") is not supported; it must be base_model's own"));
    }
  }

  const YAML::Node adapter = r.Take("adapter");
  if (!adapter.IsDefined() || adapter.IsNull()) {
    notes->push_back("adapter not set: lorad trains a LoRA adapter (adapter: lora); it does not "
                     "do full fine-tuning");
  } else if (!adapter.IsScalar()) {
    r.Problem("adapter", "must be lora");
  } else if (adapter.Scalar() == "qlora") {
    r.Problem("adapter", "qlora is not supported yet (it needs 4-bit quantized base weights); "
                         "use adapter: lora");
  } else if (adapter.Scalar() != "lora") {
    r.Problem("adapter", absl::StrCat("\"", adapter.Scalar(),
                                      "\" is not supported yet (supported: lora)"));
  }
  c->adapter = "lora";

  if (!r.ReadInt("lora_r", &c->lora_r, 1, kMaxLoraR) && !r.Has("lora_r")) {
    c->lora_r = 8;
    notes->push_back("lora_r not set: using 8 (PEFT's default)");
  }
  if (!r.ReadDouble("lora_alpha", &c->lora_alpha,
                    [](double v) { return v > 0 && v <= 1e6; }, "a number > 0") &&
      !r.Has("lora_alpha")) {
    // Axolotl passes lora_alpha: None through to PEFT; PEFT's own default is 8.
    c->lora_alpha = 8;
    notes->push_back("lora_alpha not set: using 8 (PEFT's default)");
  }
  r.ReadDouble("lora_dropout", &c->lora_dropout, UnitInterval, "a number in [0, 1)");

  const YAML::Node targets = r.Take("lora_target_modules");
  if (targets.IsDefined() && targets.IsScalar() && !targets.IsNull()) {
    if (targets.Scalar() == "all-linear") {
      c->lora_target_linear = true;
      notes->push_back("lora_target_modules: all-linear means lora_target_linear: true");
    } else {
      r.Problem("lora_target_modules",
                absl::StrCat("a string is a regular expression over module paths in PEFT, which "
                             "is not supported yet; give a list such as [",
                             targets.Scalar(), "]"));
    }
  } else if (targets.IsDefined() && !targets.IsNull()) {
    // Re-read through the typed helper for its checks (the key is already taken).
    r.ReadStringList("lora_target_modules", &c->lora_target_modules, 64);
  }
  r.ReadBool("lora_target_linear", &c->lora_target_linear);
  // A malformed lora_target_modules was reported above; only an absent or empty
  // one means "no targets".
  const bool targets_absent_or_empty = !targets.IsDefined() || targets.IsNull() ||
                                       (targets.IsSequence() && targets.size() == 0);
  r.ReadBool("peft_use_rslora", &c->peft_use_rslora);
  const YAML::Node init = r.Take("peft_init_lora_weights");
  bool init_bool = true;
  if (init.IsDefined() && !init.IsNull() &&
      !(init.IsScalar() && ParseYamlBool(init.Scalar(), &init_bool) && init_bool)) {
    r.Problem("peft_init_lora_weights",
              "only the default initialisation (true: kaiming-uniform A, zero B) is supported");
  }

  r.ReadString("lora_model_dir", &c->lora_model_dir);
  // Continuing an adapter takes its targets from the adapter's own config (as
  // PEFT's from_pretrained does); a new adapter needs them spelled out.
  if (c->lora_target_modules.empty() && !c->lora_target_linear && targets_absent_or_empty &&
      c->lora_model_dir.empty()) {
    problems->Add("lora_target_modules",
                  "no target modules: set lora_target_modules (e.g. [q_proj, v_proj]) or "
                  "lora_target_linear: true");
  }
  r.ReadString("resume_from_checkpoint", &c->resume_from_checkpoint);
  r.ReadBool("auto_resume_from_checkpoints", &c->auto_resume_from_checkpoints);
  if (!c->lora_model_dir.empty() && !c->resume_from_checkpoint.empty()) {
    r.Problem("resume_from_checkpoint",
              "cannot be combined with lora_model_dir: an exact resume restores the adapter "
              "from the checkpoint; lora_model_dir continues an adapter with a fresh optimizer");
  }
}

void ReadData(YamlFieldReader& r, const std::set<std::string>& overridden, TrainConfig* c,
              std::vector<std::string>* ignored, std::vector<std::string>* notes,
              ConfigProblems* problems) {
  const YAML::Node datasets = r.Take("datasets");
  if (!datasets.IsDefined() || datasets.IsNull()) {
    problems->Add("datasets", "required: a list of {path, type} entries");
  } else if (!datasets.IsSequence() || datasets.size() == 0) {
    r.Problem("datasets", "must be a non-empty list of {path, type} entries");
  } else if (datasets.size() > kMaxDatasets) {
    r.Problem("datasets", absl::StrCat("has ", datasets.size(), " entries; at most ",
                                       kMaxDatasets, " allowed"));
  } else {
    for (size_t i = 0; i < datasets.size(); ++i) {
      const std::string prefix = absl::StrCat("datasets[", i, "]");
      const YAML::Node entry = datasets[i];
      if (!entry.IsMap()) {
        problems->Add(prefix, "must be a mapping with at least path and type");
        continue;
      }
      YamlFieldReader dr(entry, prefix, problems, &overridden);
      DatasetSpec spec;
      ReadDatasetSpec(dr, &spec, ignored, notes);
      c->datasets.push_back(std::move(spec));
    }
  }
  ReadChatTemplate(r, "chat_template", &c->chat_template);
  r.ReadInt("sequence_len", &c->sequence_len, 1, kMaxSequenceLen);
  r.ReadBool("sample_packing", &c->sample_packing);
  r.ReadBool("train_on_inputs", &c->train_on_inputs);
  ReadCountOrFraction(r, "val_set_size", &c->val_set_size);
  r.ReadBool("skip_bad_lines", &c->skip_bad_lines);
  r.ReadString("dataset_prepared_path", &c->dataset_prepared_path);
}

void ReadOptimisation(YamlFieldReader& r, TrainConfig* c, std::vector<std::string>* notes,
                      ConfigProblems* problems) {
  r.ReadInt("micro_batch_size", &c->micro_batch_size, 1, kMaxMicroBatchSize);
  const bool gas_set = r.ReadInt("gradient_accumulation_steps", &c->gradient_accumulation_steps,
                                 1, kMaxGradientAccumulationSteps);
  int64_t batch_size = 0;
  if (r.ReadInt("batch_size", &batch_size, 1, kMaxMicroBatchSize * kMaxGradientAccumulationSteps)) {
    // Axolotl derives gradient accumulation from a total batch size (one device).
    if (batch_size % c->micro_batch_size != 0) {
      r.Problem("batch_size", absl::StrCat("must be a multiple of micro_batch_size (",
                                           c->micro_batch_size, "), got ", batch_size));
    } else if (gas_set && batch_size != c->micro_batch_size * c->gradient_accumulation_steps) {
      r.Problem("batch_size", absl::StrCat("disagrees with micro_batch_size × "
                                           "gradient_accumulation_steps = ",
                                           c->micro_batch_size * c->gradient_accumulation_steps,
                                           "; set only one of them"));
    } else if (!gas_set) {
      c->gradient_accumulation_steps = batch_size / c->micro_batch_size;
      notes->push_back(absl::StrCat("batch_size ", batch_size, " → gradient_accumulation_steps ",
                                    c->gradient_accumulation_steps));
    }
  }
  const bool epochs_set = r.ReadDouble("num_epochs", &c->num_epochs,
                                       [](double v) { return v > 0 && v <= 1e6; },
                                       "a number > 0");
  // HF writes max_steps: -1 for "unset".
  r.ReadInt("max_steps", &c->max_steps, -1, kMaxSteps);
  if (c->max_steps < 0) c->max_steps = 0;
  if (c->max_steps > 0 && epochs_set) {
    notes->push_back(absl::StrCat("max_steps (", c->max_steps, ") wins over num_epochs"));
  }
  if (!r.ReadDouble("learning_rate", &c->learning_rate,
                    [](double v) { return v > 0 && v <= 10; }, "a number in (0, 10]") &&
      !r.Has("learning_rate")) {
    problems->Add("learning_rate", "required (e.g. learning_rate: 2e-4)");
  }
  std::string scheduler;
  if (r.ReadEnum("lr_scheduler", &scheduler, {"cosine", "linear", "constant"}, "scheduler")) {
    c->lr_scheduler = scheduler == "cosine"   ? LrScheduler::kCosine
                      : scheduler == "linear" ? LrScheduler::kLinear
                                              : LrScheduler::kConstant;
  }
  const bool warmup_steps_set = r.ReadInt("warmup_steps", &c->warmup_steps, 0, kMaxSteps);
  const bool warmup_ratio_set =
      r.ReadDouble("warmup_ratio", &c->warmup_ratio, UnitInterval, "a number in [0, 1)");
  if (warmup_steps_set && warmup_ratio_set) {
    r.Problem("warmup_ratio", "set either warmup_steps or warmup_ratio, not both");
  }

  const YAML::Node optimizer = r.Take("optimizer");
  if (optimizer.IsDefined() && !optimizer.IsNull()) {
    const std::string name = optimizer.IsScalar() ? optimizer.Scalar() : "";
    bool alias = false;
    for (const std::string& a : kAdamWAliases) alias = alias || a == name;
    if (!alias) {
      r.Problem("optimizer", absl::StrCat("\"", name,
                                          "\" is not supported yet (supported: adamw_torch; "
                                          "adamw_torch_fused, adamw_hf and adamw mean the same)"));
    } else if (name != "adamw_torch") {
      notes->push_back(absl::StrCat("optimizer ", name,
                                    " runs as adamw_torch (the same AdamW update)"));
    }
  }
  c->optimizer = "adamw_torch";
  r.ReadDouble("adam_beta1", &c->adam_beta1, UnitInterval, "a number in [0, 1)");
  r.ReadDouble("adam_beta2", &c->adam_beta2, UnitInterval, "a number in [0, 1)");
  r.ReadDouble("adam_epsilon", &c->adam_epsilon, [](double v) { return v > 0 && v < 1; },
               "a number in (0, 1)");
  r.ReadDouble("weight_decay", &c->weight_decay, NonNegative, "a number >= 0");
  r.ReadDouble("max_grad_norm", &c->max_grad_norm, NonNegative, "a number >= 0 (0: no clipping)");
  r.ReadInt("seed", &c->seed, 0, INT64_MAX);

  const YAML::Node bf16 = r.Take("bf16");
  if (bf16.IsDefined() && !bf16.IsNull()) {
    bool on = false;
    if (bf16.IsScalar() && bf16.Scalar() == "auto") {
      c->bf16 = Bf16Mode::kAuto;
    } else if (bf16.IsScalar() && ParseYamlBool(bf16.Scalar(), &on)) {
      c->bf16 = on ? Bf16Mode::kOn : Bf16Mode::kOff;
    } else {
      r.Problem("bf16", absl::StrCat("must be true, false or auto, got \"",
                                     bf16.IsScalar() ? bf16.Scalar() : "a collection", "\""));
    }
  }
  const YAML::Node gc = r.Take("gradient_checkpointing");
  if (gc.IsDefined() && !gc.IsNull()) {
    if (!gc.IsScalar() || !ParseYamlBool(gc.Scalar(), &c->gradient_checkpointing)) {
      r.Problem("gradient_checkpointing",
                absl::StrCat("must be true or false (offloading variants are not supported), "
                             "got \"", gc.IsScalar() ? gc.Scalar() : "a collection", "\""));
    }
  }
}

/// lorad's `attention` and Axolotl's boolean attention switches.  Axolotl's
/// flash_attention (the flash-attn kernels: exact attention that never stores
/// the scores) maps to lorad's kernel of that kind, blockwise; sdp_attention
/// (torch's scaled_dot_product_attention) to sdpa.  xformers/s2 attention stay
/// ignored keys: auto already picks a memory-efficient kernel where it pays.
void ReadAttention(YamlFieldReader& r, TrainConfig* c, std::vector<std::string>* notes) {
  const bool explicit_choice =
      r.ReadEnum("attention", &c->attention, {"auto", "eager", "blockwise", "sdpa"},
                 "attention backend");
  for (const auto& [key, backend] : {std::pair<const char*, const char*>{"flash_attention",
                                                                          "blockwise"},
                                     {"sdp_attention", "sdpa"}}) {
    bool on = false;
    if (!r.ReadBool(key, &on) || !on) continue;
    if (explicit_choice) {
      if (c->attention != backend) {
        r.Problem(key, absl::StrCat("true asks for attention: ", backend,
                                    ", which contradicts attention: ", c->attention,
                                    "; keep one of them"));
      }
      continue;
    }
    if (c->attention != "auto" && c->attention != backend) {
      r.Problem(key, "flash_attention and sdp_attention cannot both be true");
      continue;
    }
    c->attention = backend;
    notes->push_back(absl::StrCat(key, ": true means attention: ", backend));
  }
}

void ReadOutputAndGuardrails(YamlFieldReader& r, TrainConfig* c, std::vector<std::string>* notes) {
  r.ReadString("output_dir", &c->output_dir);
  ReadCountOrFraction(r, "save_steps", &c->save_steps);
  r.ReadInt("save_total_limit", &c->save_total_limit, 0, 1'000'000);
  r.ReadInt("logging_steps", &c->logging_steps, 1, kMaxSteps);
  ReadCountOrFraction(r, "eval_steps", &c->eval_steps);
  if (c->eval_steps.set() && !c->val_set_size.set()) {
    notes->push_back("eval_steps is set but val_set_size is 0: there is no evaluation set, so no "
                     "evaluation runs");
  }

  r.ReadEnum("drift_policy", &c->drift_policy, {"warn", "fail"}, "drift_policy");
  r.ReadDouble("drift_js_threshold", &c->drift_js_threshold,
               [](double v) { return v > 0 && v <= 1; }, "a number in (0, 1]");
  r.ReadDouble("drift_loss_ratio_threshold", &c->drift_loss_ratio_threshold, Positive,
               "a number > 0");
  r.ReadEnum("resume_lr_policy", &c->resume_lr_policy, {"restart", "rewarm", "continue"},
             "resume_lr_policy");
  r.ReadDouble("resume_lr_scale", &c->resume_lr_scale, [](double v) { return v > 0 && v <= 10; },
               "a number in (0, 10]");
  r.ReadInt("early_stopping_patience", &c->early_stopping_patience, 0, 1'000'000);
  r.ReadDouble("early_stopping_threshold", &c->early_stopping_threshold, NonNegative,
               "a number >= 0");
  r.ReadBool("keep_best", &c->keep_best);
  if (c->early_stopping_patience > 0 && !c->val_set_size.set()) {
    r.Problem("early_stopping_patience", "needs an evaluation set: set val_set_size");
  }
  if (c->keep_best && !c->val_set_size.set()) {
    r.Problem("keep_best", "needs an evaluation set: set val_set_size");
  }
  if (r.ReadInt("overfitting_window", &c->overfitting_window, 0, 1'000'000) &&
      c->overfitting_window == 1) {
    r.Problem("overfitting_window", "must be 0 (off) or at least 2 evaluations, got 1");
  }
  r.ReadEnum("divergence_policy", &c->divergence_policy, {"fail", "skip_step"},
             "divergence_policy");
  r.ReadDouble("divergence_factor", &c->divergence_factor, [](double v) { return v > 1; },
               "a number > 1");
  r.ReadInt("divergence_patience", &c->divergence_patience, 1, 1'000'000);
  r.ReadInt("divergence_window", &c->divergence_window, 1, 1'000'000);

  if (r.ReadStringList("eval_prompts", &c->eval_prompts, 64)) {
    for (const std::string& p : c->eval_prompts) {
      if (p.size() > 65536) r.Problem("eval_prompts", "each prompt must be at most 64 KiB");
    }
  }
  r.ReadInt("eval_max_new_tokens", &c->eval_max_new_tokens, 1, kMaxEvalNewTokens);
}

}  // namespace

void ReadTrainConfig(const YAML::Node& root, const std::set<std::string>& overridden,
                     TrainConfig* config, std::vector<std::string>* ignored,
                     std::vector<std::string>* notes, ConfigProblems* problems) {
  YamlFieldReader r(root, "", problems, &overridden);
  r.CheckDuplicateKeys();
  ReadModelAndAdapter(r, config, notes, problems);
  ReadData(r, overridden, config, ignored, notes, problems);
  ReadOptimisation(r, config, notes, problems);
  ReadAttention(r, config, notes);
  ReadOutputAndGuardrails(r, config, notes);
  for (const RefusedKey& refused : RefusedTopLevelKeys()) {
    const YAML::Node node = r.Take(refused.key);
    if (YamlTruthy(node)) r.Problem(refused.key, refused.reason);
  }
  // Dataset keys were appended while reading datasets; top-level ones go first.
  std::vector<std::string> top = r.UntakenKeys();
  for (const std::string& key : top) {
    if (const char* hint = IgnoredKeyHint(key)) notes->push_back(key + " is ignored: " + hint);
  }
  ignored->insert(ignored->begin(), top.begin(), top.end());
}

}  // namespace lorad
