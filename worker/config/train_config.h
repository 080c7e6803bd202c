// Typed, validated form of an Axolotl-style training YAML.  No LibTorch here:
// lorad and loractl validate job configs with the same code as the worker.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace lorad {

struct DatasetSpec {
  std::string path;  // absolute after resolution against the YAML's folder
  std::string type = "completion";  // completion | alpaca | chat_template
  std::string field = "text";       // completion: text field
  std::string field_messages = "messages";  // chat_template
  std::string chat_template;        // chat_template: template name (empty = config-level)
  std::vector<std::string> roles_to_train = {"assistant"};
  std::string train_on_eos = "turn";  // turn | last | all | none
  std::optional<std::string> split;   // ignored for local files, reported

  bool operator==(const DatasetSpec&) const = default;
};

enum class LrScheduler { kCosine, kLinear, kConstant };
enum class Bf16Mode { kAuto, kOn, kOff };

/// A value that Axolotl accepts either as an integer count or as a fraction of
/// the total (save_steps, eval_steps, val_set_size).
struct CountOrFraction {
  bool is_fraction = false;
  double value = 0;  // count when !is_fraction
  bool set() const { return value > 0; }

  bool operator==(const CountOrFraction&) const = default;
};

struct TrainConfig {
  // Model and adapter.
  std::string base_model;       // absolute local directory after resolution
  std::string base_model_spec;  // as written (hub id or path), for adapter_config.json
  std::string adapter = "lora";
  int64_t lora_r = 8;
  double lora_alpha = 8;  // PEFT's default (Axolotl passes none)
  double lora_dropout = 0.0;
  std::vector<std::string> lora_target_modules;  // empty + lora_target_linear → all linear
  bool lora_target_linear = false;
  bool peft_use_rslora = false;
  std::string lora_model_dir;   // continue an adapter (weights only)
  std::string resume_from_checkpoint;  // exact resume source
  bool auto_resume_from_checkpoints = false;

  // Data.
  std::vector<DatasetSpec> datasets;
  std::string chat_template = "chatml";
  int64_t sequence_len = 512;
  bool sample_packing = false;
  bool train_on_inputs = false;
  CountOrFraction val_set_size;
  bool skip_bad_lines = false;
  std::string dataset_prepared_path;  // tokenized-data cache dir (default: output_dir/../.lorad-cache)

  // Optimisation.
  int64_t micro_batch_size = 1;
  int64_t gradient_accumulation_steps = 1;
  double num_epochs = 1;
  int64_t max_steps = 0;  // 0 = from epochs; > 0 wins
  double learning_rate = 0;  // required
  LrScheduler lr_scheduler = LrScheduler::kCosine;
  int64_t warmup_steps = -1;    // -1 = unset
  double warmup_ratio = -1;     // -1 = unset
  std::string optimizer = "adamw_torch";
  double adam_beta1 = 0.9;
  double adam_beta2 = 0.999;
  double adam_epsilon = 1e-8;
  double weight_decay = 0.0;
  double max_grad_norm = 1.0;
  int64_t seed = 42;
  Bf16Mode bf16 = Bf16Mode::kAuto;
  bool gradient_checkpointing = false;
  /// Attention implementation: auto | eager | blockwise | sdpa.  The worker
  /// resolves auto per device and sequence_len (worker/model/attention_choice.h).
  std::string attention = "auto";

  // Output, logging, checkpoints, evaluation.
  std::string output_dir = "./model-out";  // absolute after resolution
  CountOrFraction save_steps;
  int64_t save_total_limit = 0;  // 0 = keep all
  int64_t logging_steps = 1;
  CountOrFraction eval_steps;

  // Guardrails (continue-training).
  std::string drift_policy = "warn";  // warn | fail
  double drift_js_threshold = 0.2;
  double drift_loss_ratio_threshold = 1.5;
  std::string resume_lr_policy;  // "" = default, restart | rewarm | continue
  double resume_lr_scale = 0.5;
  int64_t early_stopping_patience = 0;
  double early_stopping_threshold = 0.0;
  bool keep_best = false;
  int64_t overfitting_window = 3;  // evaluations; 0 = no overfitting warning
  std::string divergence_policy = "fail";  // fail | skip_step
  double divergence_factor = 4.0;
  int64_t divergence_patience = 3;
  int64_t divergence_window = 20;  // steps in the loss moving average

  // Generation during training.
  std::vector<std::string> eval_prompts;
  int64_t eval_max_new_tokens = 32;

  /// Directory of the YAML file (relative paths resolve against it).
  std::string config_dir;

  bool operator==(const TrainConfig&) const = default;
};

}  // namespace lorad
