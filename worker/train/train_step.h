// One optimizer step's forward/backward over its micro-batches, and the
// eval-mode loss of a set of batches (probe and eval).  The loss is HF's
// causal-LM loss with the gradient-accumulation normalisation of transformers
// PR #34191: the sum of every counted token's loss over ALL micro-batches of
// the step, divided by the step's total counted tokens.
#pragma once

#include <cstdint>
#include <vector>

#include <torch/torch.h>

#include "worker/data/batch.h"
#include "worker/model/causal_lm.h"

namespace lorad {

/// Tensors of one micro-batch on `device`.  Packed rows get segment ids (block-
/// diagonal causal mask); unpacked rows are right-padded, so the causal mask
/// alone keeps real tokens from seeing padding.
ForwardInputs MakeForwardInputs(const Batch& batch, bool packed, const torch::Device& device);
torch::Tensor MakeLabels(const Batch& batch, const torch::Device& device);

struct StepLoss {
  double loss = 0;              // Σ token losses / Σ counted tokens of the step
  int64_t tokens = 0;           // non-padding input tokens
  int64_t trained_tokens = 0;   // counted tokens (labels after the shift)
};

/// Accumulates gradients of the step into the model's parameters (the caller
/// zeroes them before, clips and steps after).  The model must be in train mode.
StepLoss ForwardBackwardStep(CausalLm& model, const std::vector<Batch>& micro_batches,
                             bool packed, const torch::Device& device);

/// Token-mean loss of `batches` in eval mode without gradients (dropout off);
/// restores the model's previous mode.  NaN when no token is counted.
double EvalLoss(CausalLm& model, const std::vector<Batch>& batches, bool packed,
                const torch::Device& device);

}  // namespace lorad
