// Gradient checkpointing for one decoder block: the forward keeps no
// activations; the backward recomputes the block with the RNG state of the
// original forward restored, so dropout masks replay identically.
#pragma once

#include <torch/types.h>

#include "worker/model/decoder_layer.h"

namespace lorad {

/// Same value as layer.forward(x, ctx); gradients reach x and the layer's
/// trainable parameters.  `layer` must outlive the backward pass.
torch::Tensor CheckpointedLayerForward(DecoderLayerImpl& layer, const torch::Tensor& x,
                                       const LayerContext& ctx);

}  // namespace lorad
