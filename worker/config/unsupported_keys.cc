#include "worker/config/unsupported_keys.h"

#include <utility>

namespace lorad {

const std::vector<RefusedKey>& RefusedTopLevelKeys() {
  // Kept as data so the list is easy to shrink as features land.  Keys that only
  // change logging, speed or infrastructure (wandb_*, xformers_attention,
  // deepspeed, ...) are NOT here: they fall through to ignored_keys.
  // (flash_attention / sdp_attention map to `attention`: train_config_reader.)
  static const std::vector<RefusedKey> kKeys = {
      {"load_in_8bit", "quantized base weights (8-bit) are not supported yet; set it to false"},
      {"load_in_4bit", "quantized base weights (4-bit, QLoRA) are not supported yet; set it to false"},
      {"gptq", "GPTQ-quantized base models are not supported"},
      {"fp16", "fp16 mixed precision is not supported; use bf16: true | false | auto"},
      {"lora_modules_to_save",
       "modules_to_save (extra fully trained modules) is not supported yet"},
      {"peft_use_dora", "DoRA is not supported yet"},
      {"peft_layers_to_transform", "restricting LoRA to some layers is not supported yet"},
      {"peft_layers_pattern", "restricting LoRA to some layers is not supported yet"},
      {"peft_layer_replication", "layer replication is not supported"},
      {"peft_trainable_token_indices", "trainable token indices are not supported yet"},
      {"lora_fan_in_fan_out", "fan_in_fan_out weights (GPT-2 Conv1D) are not supported"},
      {"lora_target_parameters", "LoRA on raw parameters (MoE experts) is not supported"},
      {"lora_rank_pattern", "per-module ranks (rank_pattern) are not supported yet"},
      {"lora_alpha_pattern", "per-module alphas (alpha_pattern) are not supported yet"},
      {"loraplus_lr_ratio", "LoRA+ learning-rate ratios are not supported yet"},
      {"lr_groups", "per-module learning-rate groups are not supported yet"},
      {"embedding_lr", "a separate embedding learning rate is not supported"},
      {"embedding_lr_scale", "a separate embedding learning rate is not supported"},
      {"lr_scheduler_kwargs", "scheduler arguments are not supported yet"},
      {"cosine_min_lr_ratio", "a cosine floor is not supported yet (the schedule decays to 0)"},
      {"cosine_constant_lr_ratio", "a constant cosine phase is not supported yet"},
      {"lr_quadratic_warmup", "quadratic warmup is not supported yet (warmup is linear)"},
      {"lr_div_factor", "one-cycle schedules are not supported"},
      {"optim_args", "optimizer arguments are not supported; use adam_beta1/adam_beta2/"
                     "adam_epsilon/weight_decay"},
      {"optim_target_modules", "optimizer target modules are not supported"},
      {"neftune_noise_alpha", "NEFTune embedding noise is not supported yet"},
      {"noisy_embedding_alpha", "NEFTune embedding noise is not supported yet"},
      {"relora", "ReLoRA is not supported"},
      {"rl", "preference training (DPO, ORPO, KTO, GRPO, ...) is not supported yet"},
      {"unfrozen_parameters", "training base-model parameters is not supported (LoRA only)"},
      {"tokens", "adding tokens to the vocabulary is not supported yet"},
      {"added_tokens_overrides", "changing the vocabulary is not supported"},
      {"chat_template_jinja",
       "Jinja chat templates need a Jinja engine, which this build does not have; "
       "use a template by name (chat_template)"},
      {"pretraining_dataset", "streaming pretraining datasets are not supported; use datasets"},
      {"reward_model", "reward-model training is not supported"},
      {"process_reward_model", "reward-model training is not supported"},
      {"batch_flattening", "batch flattening is not supported yet; use sample_packing"},
  };
  return kKeys;
}

const std::vector<RefusedKey>& RefusedDatasetKeys() {
  static const std::vector<RefusedKey> kKeys = {
      {"data_files", "is not supported; point path at a local .jsonl, .json or .txt file"},
      {"message_property_mappings",
       "custom message field names are not supported yet (messages need role and content; "
       "ShareGPT from/value is mapped when field_messages is conversations)"},
      {"message_field_role", "custom message field names are not supported yet"},
      {"message_field_content", "custom message field names are not supported yet"},
      {"roles", "custom role mappings are not supported yet"},
      {"field_instruction", "custom alpaca field names are not supported yet"},
      {"field_input", "custom alpaca field names are not supported yet"},
      {"field_output", "custom alpaca field names are not supported yet"},
      {"field_system", "custom system fields are not supported yet"},
      {"drop_system_message", "dropping system messages is not supported yet"},
      {"chat_template_jinja",
       "Jinja chat templates need a Jinja engine, which this build does not have"},
      {"shards", "dataset sharding is not supported"},
      {"preprocess_shards", "dataset sharding is not supported"},
  };
  return kKeys;
}

const char* IgnoredKeyHint(const std::string& key) {
  static const std::vector<std::pair<const char*, const char*>> kHints = {
      {"saves_per_epoch", "use save_steps (a count, or a fraction of the total steps)"},
      {"evals_per_epoch", "use eval_steps (a count, or a fraction of the total steps)"},
      {"save_strategy", "checkpoints follow save_steps, and are always written at the end"},
      {"eval_strategy", "evaluation follows eval_steps"},
      {"special_tokens", "the tokenizer's own special tokens are used"},
      {"test_datasets", "evaluation uses the val_set_size split of datasets"},
      {"early_stopping", "use early_stopping_patience"},
      {"deepspeed", "one device per job; the training math is unchanged"},
      {"fsdp", "one device per job; the training math is unchanged"},
      {"fsdp_config", "one device per job; the training math is unchanged"},
      {"wandb_project", "metrics are the JSON records on stdout and lorad's Prometheus metrics"},
      {"mlflow_tracking_uri",
       "metrics are the JSON records on stdout and lorad's Prometheus metrics"},
  };
  for (const auto& [k, hint] : kHints) {
    if (key == k) return hint;
  }
  return nullptr;
}

}  // namespace lorad
