#include "worker/model/causal_lm.h"

#include <torch/torch.h>

#include <algorithm>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "worker/base/status_macros.h"
#include "worker/model/block_checkpoint.h"
#include "worker/model/chunked_cross_entropy.h"
#include "worker/model/model_layout.h"
#include "worker/model/rope.h"
#include "worker/model/torch_compat.h"

namespace lorad {

CausalLmImpl::CausalLmImpl(const ModelConfig& config, const LoadOptions& options)
    : config_(config), options_(options) {
  const auto opts = torch::TensorOptions().dtype(options.base_dtype);
  // Uninitialised placeholders (no pages touched); the loader or a test fills them.
  embed_tokens = register_parameter(
      "embed_tokens", torch::empty({config.vocab_size, config.hidden_size}, opts), false);
  for (int64_t i = 0; i < config.num_hidden_layers; ++i) {
    layers.push_back(
        register_module(absl::StrCat("layer", i), DecoderLayer(config, options.base_dtype)));
  }
  norm_weight = register_parameter("norm", torch::ones({config.hidden_size}, opts), false);
  if (config.tie_word_embeddings) {
    lm_head = embed_tokens;
  } else {
    lm_head = register_parameter(
        "lm_head", torch::empty({config.vocab_size, config.hidden_size}, opts), false);
  }
  inv_freq_ = RopeInvFreq(config);
}

absl::Status CausalLmImpl::SetBaseTensor(const std::string& name, torch::Tensor value) {
  // Names as in transformers' state dict (see ExpectedTensorShapes).
  value = value.detach();
  value.set_requires_grad(false);
  auto set_param = [&](const char* key, torch::Tensor& member) {
    parameters_[key] = member = value;
    if (config_.tie_word_embeddings && std::string(key) == "embed_tokens") lm_head = value;
  };
  if (name == "model.embed_tokens.weight") {
    set_param("embed_tokens", embed_tokens);
    return absl::OkStatus();
  }
  if (name == "model.norm.weight") {
    set_param("norm", norm_weight);
    return absl::OkStatus();
  }
  if (name == "lm_head.weight") {
    if (config_.tie_word_embeddings) return absl::OkStatus();  // tied: embed wins
    set_param("lm_head", lm_head);
    return absl::OkStatus();
  }
  const std::string prefix = "model.layers.";
  if (name.rfind(prefix, 0) == 0) {
    const size_t dot = name.find('.', prefix.size());
    if (dot != std::string::npos) {
      const int64_t index = std::stoll(name.substr(prefix.size(), dot - prefix.size()));
      if (index >= 0 && index < static_cast<int64_t>(layers.size())) {
        DecoderLayerImpl& layer = *layers[index];
        const std::string rest = name.substr(dot + 1);
        if (rest == "input_layernorm.weight") {
          layer.SetNormWeights(value, layer.post_attention_layernorm);
          return absl::OkStatus();
        }
        if (rest == "post_attention_layernorm.weight") {
          layer.SetNormWeights(layer.input_layernorm, value);
          return absl::OkStatus();
        }
        const size_t mdot = rest.find('.');
        const size_t last = rest.rfind('.');
        if (mdot != std::string::npos && last != std::string::npos && last > mdot) {
          const std::string module = rest.substr(mdot + 1, last - mdot - 1);
          const std::string kind = rest.substr(last + 1);
          if (LoraLinear* lin = layer.Linear(module)) {
            if (kind == "weight") {
              (*lin)->SetBaseWeight(value, (*lin)->bias);
              return absl::OkStatus();
            }
            if (kind == "bias" && (*lin)->options.bias()) {
              (*lin)->SetBaseWeight((*lin)->weight, value);
              return absl::OkStatus();
            }
          }
        }
      }
    }
  }
  return absl::InvalidArgumentError(absl::StrCat("no model tensor named '", name, "'"));
}

absl::Status CausalLmImpl::AddLora(const LoraSettings& settings, uint64_t seed) {
  if (has_lora_) return absl::FailedPreconditionError("the model already has LoRA adapters");
  LORAD_ASSIGN_OR_RETURN(std::vector<LoraModulePlan> plan, PlanLora(config_, settings));
  torch::Generator gen = torch_compat::MakeCpuGenerator(seed);
  try {
    for (const LoraModulePlan& p : plan) {
      LoraLinear* lin = layers[p.module.layer]->Linear(p.module.short_name);
      (*lin)->AddAdapter(LoraAdapterOptions()
                             .r(p.r)
                             .alpha(p.alpha)
                             .dropout(settings.dropout)
                             .use_rslora(settings.use_rslora),
                         gen);
    }
  } catch (const c10::Error& e) {
    return absl::InternalError(absl::StrCat("adding LoRA: ", e.what_without_backtrace()));
  }
  lora_settings_ = settings;
  has_lora_ = true;
  return absl::OkStatus();
}

std::vector<std::pair<std::string, torch::Tensor>> CausalLmImpl::LoraParameters() const {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (const LinearModule& m : AdaptableLinears(config_)) {
    LoraLinear* lin = layers[m.layer].ptr()->Linear(m.short_name);
    if (!(*lin)->has_adapter()) continue;
    out.emplace_back(m.path + ".lora_A", (*lin)->lora_A);
    out.emplace_back(m.path + ".lora_B", (*lin)->lora_B);
  }
  return out;
}

std::map<std::string, std::pair<int64_t, int64_t>> CausalLmImpl::LinearModuleShapes() const {
  std::map<std::string, std::pair<int64_t, int64_t>> out;
  for (const LinearModule& m : AdaptableLinears(config_)) {
    out[m.path] = {m.in_features, m.out_features};
  }
  return out;
}

absl::Status CausalLmImpl::LoadLoraWeights(const std::map<std::string, torch::Tensor>& by_name) {
  auto params = LoraParameters();
  if (params.empty()) return absl::FailedPreconditionError("the model has no LoRA adapters");
  std::set<std::string> known;
  std::vector<std::string> missing;
  for (const auto& [name, param] : params) {
    known.insert(name);
    auto it = by_name.find(name);
    if (it == by_name.end()) {
      missing.push_back(name);
      continue;
    }
    if (!it->second.defined() || it->second.sizes() != param.sizes()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "adapter tensor '", name, "' has shape [",
          it->second.defined() ? absl::StrJoin(it->second.sizes().vec(), ", ") : "undefined",
          "], the model needs [", absl::StrJoin(param.sizes().vec(), ", "), "]"));
    }
  }
  if (!missing.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("adapter lacks tensors: ", absl::StrJoin(missing, ", ")));
  }
  std::vector<std::string> unknown;
  for (const auto& [name, t] : by_name) {
    if (!known.count(name)) unknown.push_back(name);
  }
  if (!unknown.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("adapter tensors that match no adapted module of this model: ",
                     absl::StrJoin(unknown, ", ")));
  }
  try {
    torch::NoGradGuard no_grad;
    for (auto& [name, param] : params) {
      param.copy_(by_name.at(name).to(param.device(), param.scalar_type()));
    }
  } catch (const c10::Error& e) {
    return absl::InternalError(absl::StrCat("loading adapter weights: ",
                                            e.what_without_backtrace()));
  }
  return absl::OkStatus();
}

void CausalLmImpl::EnsureRopeTables(int64_t length) {
  if (cos_table_.defined() && cos_table_.size(0) >= length) return;
  // Grow geometrically so generation does not rebuild the table every token.
  int64_t n = cos_table_.defined() ? cos_table_.size(0) : 0;
  n = std::max<int64_t>({length, 2 * n, 256});
  auto [cos, sin] = RopeTables(inv_freq_, n);
  const torch::Device device = embed_tokens.device();
  cos_table_ = cos.to(device);
  sin_table_ = sin.to(device);
}

void CausalLmImpl::SetRotary(LayerContext& ctx, const torch::Tensor& pos, int64_t b,
                             int64_t t) const {
  const auto dtype = embed_tokens.scalar_type();
  ctx.cos = cos_table_.index_select(0, pos.reshape({-1})).view({b, t, -1}).to(dtype);
  ctx.sin = sin_table_.index_select(0, pos.reshape({-1})).view({b, t, -1}).to(dtype);
}

torch::Tensor CausalLmImpl::Forward(const ForwardInputs& in) {
  TORCH_CHECK(in.input_ids.dim() == 2, "Forward: input_ids must be [B, T]");
  const int64_t b = in.input_ids.size(0), t = in.input_ids.size(1);
  const torch::Device device = embed_tokens.device();
  torch::Tensor ids = in.input_ids.to(device, torch::kInt64);
  torch::Tensor pos;
  if (in.position_ids.defined()) {
    TORCH_CHECK(in.position_ids.sizes() == in.input_ids.sizes(),
                "Forward: position_ids must have the shape of input_ids");
    pos = in.position_ids.to(device, torch::kInt64);
    EnsureRopeTables(pos.max().item<int64_t>() + 1);
  } else {
    pos = torch::arange(t, torch::TensorOptions().dtype(torch::kInt64).device(device))
              .unsqueeze(0)
              .expand({b, t});
    EnsureRopeTables(t);
  }
  LayerContext ctx;
  ctx.backend = options_.attention;
  SetRotary(ctx, pos, b, t);
  if (in.segment_ids.defined()) {
    TORCH_CHECK(in.segment_ids.sizes() == in.input_ids.sizes(),
                "Forward: segment_ids must have the shape of input_ids");
    ctx.mask.segment_ids = in.segment_ids.to(device, torch::kInt64);
  }
  if (in.attention_mask.defined()) {
    TORCH_CHECK(in.attention_mask.sizes() == in.input_ids.sizes(),
                "Forward: attention_mask must have the shape of input_ids");
    ctx.mask.key_padding = in.attention_mask.to(device).eq(0);
  }
  ctx.mask.sliding_window = config_.sliding_window;
  // The blockwise kernel evaluates the mask per block; eager and SDPA need it dense.
  if (NeedsDenseMask(ctx.backend)) PrepareAttentionMask(ctx.mask, t, t, device);

  torch::Tensor x = embed_tokens.index_select(0, ids.reshape({-1})).view({b, t, -1});
  const bool checkpoint = gradient_checkpointing_ && torch::GradMode::is_enabled();
  for (auto& layer : layers) {
    x = checkpoint ? CheckpointedLayerForward(*layer, x, ctx) : layer->forward(x, ctx);
  }
  return RmsNorm(x, norm_weight, config_.rms_norm_eps);
}

torch::Tensor CausalLmImpl::ForwardCached(const torch::Tensor& input_ids, KvCache& cache) {
  TORCH_CHECK(input_ids.dim() == 2 && input_ids.size(1) > 0,
              "ForwardCached: input_ids must be [B, T] with T > 0");
  TORCH_CHECK(cache.num_layers() == static_cast<int64_t>(layers.size()),
              "ForwardCached: the cache has ", cache.num_layers(), " layers, the model ",
              layers.size());
  const int64_t b = input_ids.size(0), t = input_ids.size(1), past = cache.length();
  const torch::Device device = embed_tokens.device();
  torch::Tensor ids = input_ids.to(device, torch::kInt64);
  torch::Tensor pos =
      torch::arange(past, past + t, torch::TensorOptions().dtype(torch::kInt64).device(device))
          .unsqueeze(0)
          .expand({b, t});
  EnsureRopeTables(past + t);
  LayerContext ctx;
  ctx.backend = options_.attention;
  SetRotary(ctx, pos, b, t);
  ctx.mask.sliding_window = config_.sliding_window;
  ctx.mask.query_offset = past;
  if (NeedsDenseMask(ctx.backend)) PrepareAttentionMask(ctx.mask, t, past + t, device);

  torch::Tensor x = embed_tokens.index_select(0, ids.reshape({-1})).view({b, t, -1});
  for (size_t i = 0; i < layers.size(); ++i) {
    x = layers[i]->ForwardCached(x, ctx, cache, static_cast<int64_t>(i));
  }
  cache.Advance(t);
  return RmsNorm(x, norm_weight, config_.rms_norm_eps);
}

LossOutput CausalLmImpl::ComputeLoss(const torch::Tensor& hidden, const torch::Tensor& labels) {
  TORCH_CHECK(hidden.dim() == 3 && labels.dim() == 2 && hidden.size(0) == labels.size(0) &&
                  hidden.size(1) == labels.size(1),
              "ComputeLoss: hidden [B, T, H] and labels [B, T] expected");
  const int64_t t = hidden.size(1);
  LossOutput out;
  const torch::Dtype loss_dtype = LossDtype(hidden.scalar_type());
  if (t < 2) {
    out.loss_sum = torch::zeros({}, hidden.options().dtype(loss_dtype)) + hidden.sum() * 0;
    return out;
  }
  // Position i predicts labels[i + 1] (HF's shift); only counted rows go
  // through the head.
  torch::Tensor h = hidden.narrow(1, 0, t - 1).reshape({-1, hidden.size(2)});
  torch::Tensor y = labels.narrow(1, 1, t - 1).reshape({-1}).to(hidden.device(), torch::kInt64);
  torch::Tensor rows = y.ne(-100).nonzero().squeeze(1);
  out.num_tokens = rows.size(0);
  if (out.num_tokens == 0) {
    out.loss_sum = (hidden.sum() * 0).to(loss_dtype);
    return out;
  }
  torch::Tensor targets = y.index_select(0, rows);
  const int64_t lo = targets.min().item<int64_t>(), hi = targets.max().item<int64_t>();
  TORCH_CHECK(lo >= 0 && hi < config_.vocab_size, "ComputeLoss: label ", lo < 0 ? lo : hi,
              " outside the vocabulary [0, ", config_.vocab_size, ") (and not -100)");
  out.loss_sum = ChunkedCrossEntropySum(h.index_select(0, rows), lm_head, targets);
  return out;
}

torch::Tensor CausalLmImpl::Logits(const torch::Tensor& hidden) {
  return torch::matmul(hidden, lm_head.t()).to(LossDtype(hidden.scalar_type()));
}

int64_t CausalLmImpl::NumBaseParameters() const { return CountBaseParameters(config_); }

int64_t CausalLmImpl::NumLoraParameters() const {
  int64_t n = 0;
  for (const auto& [name, p] : LoraParameters()) n += p.numel();
  return n;
}

}  // namespace lorad
