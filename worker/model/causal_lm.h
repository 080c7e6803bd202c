// LlamaForCausalLM / MistralForCausalLM / Qwen2ForCausalLM in LibTorch, with
// the forward exactly as Hugging Face transformers computes it (see
// ../shared/docs/FORMATS.md) and PEFT-style LoRA on the block linears.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "worker/formats/model_config.h"
#include "worker/formats/safetensors.h"
#include "worker/model/attention.h"
#include "worker/model/decoder_layer.h"
#include "worker/model/kv_cache.h"
#include "worker/model/lora_settings.h"

namespace lorad {

struct LoadOptions {
  /// Dtype the frozen base weights are kept in: kFloat32, kBFloat16 (kFloat64
  /// for numerical tests).  Activations use the same dtype.
  torch::Dtype base_dtype = torch::kFloat32;
  torch::Device device = torch::kCPU;
  AttentionBackend attention = AttentionBackend::kEager;
};

/// One batch.  Rows are left-aligned; padding is excluded through labels (-100)
/// and, where other tokens could see it, `attention_mask`.
struct ForwardInputs {
  torch::Tensor input_ids;       // [B, T] int64
  torch::Tensor position_ids;    // [B, T] int64, or undefined → 0..T-1 per row
  torch::Tensor segment_ids;     // [B, T] int64, or undefined: packed rows — a token
                                 // attends only to earlier tokens of its own segment
  torch::Tensor attention_mask;  // [B, T] (1 = token, 0 = padding), or undefined
};

struct LossOutput {
  torch::Tensor loss_sum;  // fp32 scalar: sum of the counted tokens' cross-entropies
  int64_t num_tokens = 0;  // counted tokens (labels != -100 after the shift)
};

class CausalLmImpl : public torch::nn::Module {
 public:
  CausalLmImpl(const ModelConfig& config, const LoadOptions& options);

  const ModelConfig& config() const { return config_; }
  const LoadOptions& load_options() const { return options_; }

  /// Adds fresh adapters (A kaiming-uniform from a generator seeded with `seed`,
  /// B zeros) to the matching linears, in canonical module order.  Unknown target
  /// names, r <= 0, dropout outside [0,1) or layers out of range are errors.
  absl::Status AddLora(const LoraSettings& settings, uint64_t seed);
  const LoraSettings& lora_settings() const { return lora_settings_; }

  /// Trainable tensors with canonical names ("model.layers.0.self_attn.q_proj.lora_A",
  /// "...lora_B"), in a stable order (layer, then q,k,v,o,gate,up,down; A before B).
  std::vector<std::pair<std::string, torch::Tensor>> LoraParameters() const;
  /// Every adaptable linear: module path ("model.layers.0.mlp.up_proj") → {in, out}.
  std::map<std::string, std::pair<int64_t, int64_t>> LinearModuleShapes() const;
  /// Copies adapter weights in (names as LoraParameters()).  Every adapted module's
  /// A and B must be present with its shape; an unknown name is an error.
  absl::Status LoadLoraWeights(const std::map<std::string, torch::Tensor>& by_name);

  /// Final hidden states [B, T, H] (after the final norm), in the base dtype.
  torch::Tensor Forward(const ForwardInputs& inputs);
  /// Incremental (generation) forward: final hidden states [B, T, H] of the new
  /// tokens `input_ids` [B, T] at positions cache.length() … + T − 1, attending
  /// to the cached positions and themselves; their keys/values are appended to
  /// `cache` (num_layers() layers).  Rows are unpadded and share one length.
  /// Same math as Forward on the whole sequence (a test checks it), without
  /// gradient checkpointing; call it under torch::NoGradGuard.
  torch::Tensor ForwardCached(const torch::Tensor& input_ids, KvCache& cache);
  /// HF's ForCausalLMLoss as a sum: position t predicts labels[t+1]; -100 ignored.
  /// Only counted rows go through lm_head, in chunks, logits upcast to fp32 per
  /// chunk and recomputed in the backward pass, so [B,T,V] fp32 never exists.
  LossOutput ComputeLoss(const torch::Tensor& hidden, const torch::Tensor& labels);
  /// fp32 logits for the given hidden rows ([..., H] → [..., V]).
  torch::Tensor Logits(const torch::Tensor& hidden);

  /// Recompute each decoder block in the backward pass (dropout replayed).
  void SetGradientCheckpointing(bool on) { gradient_checkpointing_ = on; }
  bool gradient_checkpointing() const { return gradient_checkpointing_; }
  void SetAttentionBackend(AttentionBackend backend) { options_.attention = backend; }

  /// Replaces one frozen base tensor by its transformers name
  /// ("model.layers.0.self_attn.q_proj.weight"); the caller checked the shape.
  absl::Status SetBaseTensor(const std::string& hf_name, torch::Tensor value);
  /// Tensors the checkpoint held that this model does not use (reported by the loader).
  const std::vector<std::string>& unexpected_tensors() const { return unexpected_tensors_; }

  int64_t NumBaseParameters() const;
  int64_t NumLoraParameters() const;

  // Submodules, named as in transformers' state dict.
  torch::Tensor embed_tokens;           // model.embed_tokens.weight [V, H]
  std::vector<DecoderLayer> layers;     // model.layers.N
  torch::Tensor norm_weight;            // model.norm.weight [H]
  torch::Tensor lm_head;                // lm_head.weight [V, H] (== embed_tokens when tied)

 private:
  friend absl::StatusOr<std::shared_ptr<CausalLmImpl>> LoadCausalLmImpl(
      const std::filesystem::path&, const ModelConfig&, const LoadOptions&);

  /// cos/sin tables [L, head_dim] (fp32) for positions < L, grown on demand.
  void EnsureRopeTables(int64_t length);
  /// ctx.cos/sin [B, T, head_dim] in the activation dtype for positions `pos` [B, T]
  /// (the tables must cover them).
  void SetRotary(LayerContext& ctx, const torch::Tensor& pos, int64_t b, int64_t t) const;

  ModelConfig config_;
  LoadOptions options_;
  LoraSettings lora_settings_;
  bool has_lora_ = false;
  bool gradient_checkpointing_ = false;
  torch::Tensor inv_freq_;  // [head_dim/2] fp32, rope scaling applied
  torch::Tensor cos_table_, sin_table_;
  /// Keeps the mmapped files alive: base weights may be zero-copy views of them.
  std::shared_ptr<SafetensorsCollection> weights_;
  std::vector<std::string> unexpected_tensors_;
};

TORCH_MODULE(CausalLm);

/// Loads MODEL_DIR (config already parsed): every expected tensor present with
/// its shape (errors name tensor and file), unexpected tensors reported; tied
/// embeddings honoured; a .bin-only directory or an unsupported architecture is a
/// clear error.  LibTorch exceptions are turned into statuses.
absl::StatusOr<CausalLm> LoadCausalLm(const std::filesystem::path& model_dir,
                                      const ModelConfig& config, const LoadOptions& options);

}  // namespace lorad
