// AdamW over the adapter parameters, with the arithmetic of torch.optim.AdamW
// (single-tensor path): decoupled weight decay, bias corrections, eps added
// after the square root.  Our own implementation so that its state is plain
// named tensors (checkpointable, identical across LibTorch 1.13 and 2.x)
// instead of torch::optim's version-specific state API.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "absl/status/status.h"

namespace lorad {

struct AdamWOptions {
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.0;
};

class AdamW {
 public:
  /// `params` are leaf tensors with requires_grad (fp32); names key the state.
  AdamW(std::vector<std::pair<std::string, torch::Tensor>> params, AdamWOptions options);

  /// One update at rate `lr` from the parameters' current .grad() (a parameter
  /// without a gradient is skipped, as torch does).
  void Step(double lr);
  void ZeroGrad();

  /// Completed update count (torch's per-parameter `step`; equal for all here).
  int64_t step_count() const { return step_; }

  /// State as named tensors: "<name>.exp_avg", "<name>.exp_avg_sq" (fp32, CPU).
  std::map<std::string, torch::Tensor> ExportState() const;
  /// Restores ExportState()'s tensors and the step count; every parameter's
  /// moments must be present with the right shape.
  absl::Status ImportState(const std::map<std::string, torch::Tensor>& state, int64_t step);

 private:
  struct Slot {
    std::string name;
    torch::Tensor param;
    torch::Tensor exp_avg;
    torch::Tensor exp_avg_sq;
  };
  std::vector<Slot> slots_;
  AdamWOptions options_;
  int64_t step_ = 0;
};

/// L2 norm over all gradients (torch.nn.utils.clip_grad_norm_'s total_norm),
/// and, when max_norm > 0, scales them by min(1, max_norm / (norm + 1e-6)).
/// Returns the norm before clipping.
double ClipGradNorm(const std::vector<torch::Tensor>& params, double max_norm);

}  // namespace lorad
