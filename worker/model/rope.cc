#include "worker/model/rope.h"

#include <torch/torch.h>

#include <cmath>

namespace lorad {

torch::Tensor RopeInvFreq(const ModelConfig& config) {
  const int64_t dim = config.head_dim;
  // Same op sequence as transformers (int64 arange → float → / dim → base ** x →
  // 1 / x), so the fp32 values are bit-identical.
  torch::Tensor exponent =
      torch::arange(0, dim, 2, torch::kInt64).to(torch::kFloat32) / static_cast<double>(dim);
  // Python's `scalar / tensor` is tensor.reciprocal() * scalar; mirror it.
  torch::Tensor inv_freq = torch::pow(config.rope_theta, exponent).reciprocal();
  const RopeScaling& s = config.rope_scaling;
  switch (s.type) {
    case RopeScaling::Type::kNone:
      return inv_freq;
    case RopeScaling::Type::kLinear:
      return inv_freq / s.factor;
    case RopeScaling::Type::kLlama3: {
      const double old_len = static_cast<double>(s.original_max_position_embeddings);
      const double low_wavelen = old_len / s.low_freq_factor;
      const double high_wavelen = old_len / s.high_freq_factor;
      torch::Tensor wavelen = inv_freq.reciprocal() * (2 * M_PI);
      torch::Tensor scaled =
          torch::where(wavelen > low_wavelen, inv_freq / s.factor, inv_freq);
      torch::Tensor smooth =
          (wavelen.reciprocal() * old_len - s.low_freq_factor) /
          (s.high_freq_factor - s.low_freq_factor);
      torch::Tensor smoothed = (1 - smooth) * scaled / s.factor + smooth * scaled;
      torch::Tensor medium = (wavelen < high_wavelen).logical_not().logical_and(
          (wavelen > low_wavelen).logical_not());
      return torch::where(medium, smoothed, scaled);
    }
  }
  return inv_freq;
}

std::pair<torch::Tensor, torch::Tensor> RopeTables(const torch::Tensor& inv_freq,
                                                   int64_t length) {
  torch::Tensor pos = torch::arange(length, torch::kInt64).to(torch::kFloat32);
  torch::Tensor freqs = torch::outer(pos, inv_freq.to(torch::kCPU));
  torch::Tensor emb = torch::cat({freqs, freqs}, -1);
  return {emb.cos(), emb.sin()};
}

}  // namespace lorad
