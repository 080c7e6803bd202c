#include "worker/model/token_sampler.h"

#include <torch/torch.h>

#include <cmath>
#include <limits>

#include "absl/strings/str_cat.h"
#include "worker/model/torch_compat.h"

namespace lorad {

absl::Status ValidateSamplingOptions(const SamplingOptions& o) {
  if (!std::isfinite(o.temperature) || o.temperature < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("temperature must be >= 0 (0 = greedy), got ", o.temperature));
  }
  if (o.top_k < 0) {
    return absl::InvalidArgumentError(absl::StrCat("top_k must be >= 0 (0 = off), got ", o.top_k));
  }
  if (!(o.top_p > 0.0 && o.top_p <= 1.0)) {
    return absl::InvalidArgumentError(
        absl::StrCat("top_p must be in (0, 1] (1 = off), got ", o.top_p));
  }
  return absl::OkStatus();
}

TokenSampler::TokenSampler(const SamplingOptions& options)
    : options_(options), generator_(torch_compat::MakeCpuGenerator(options.seed)) {}

int64_t TokenSampler::Next(const torch::Tensor& logits) {
  TORCH_CHECK(logits.dim() == 1 && logits.size(0) > 0, "TokenSampler: logits must be [V]");
  torch::Tensor scores = logits.detach().to(torch::kCPU, torch::kFloat32);
  if (greedy()) return scores.argmax().item<int64_t>();
  scores = scores / options_.temperature;
  const float kMasked = -std::numeric_limits<float>::infinity();
  const int64_t vocab = scores.size(0);
  if (options_.top_k > 0 && options_.top_k < vocab) {
    // Everything below the k-th largest score goes (ties with it stay, as in HF).
    const torch::Tensor kth = std::get<0>(scores.topk(options_.top_k)).index({-1});
    scores = scores.masked_fill(scores < kth, kMasked);
  }
  if (options_.top_p < 1.0) {
    // HF: sort ascending, drop the tokens whose cumulative probability is
    // <= 1 − top_p, always keeping the most likely one.
    auto [sorted, order] = scores.sort(/*dim=*/0, /*descending=*/false);
    torch::Tensor cumulative = sorted.softmax(0).cumsum(0);
    torch::Tensor remove = cumulative <= (1.0 - options_.top_p);
    remove.index_put_({-1}, false);
    scores =
        scores.index_put({order.masked_select(remove)},
                         torch::full({}, kMasked, torch::TensorOptions().dtype(torch::kFloat32)));
  }
  torch::Tensor probs = scores.softmax(0);
  return probs.multinomial(1, /*replacement=*/false, generator_).item<int64_t>();
}

}  // namespace lorad
