#include "worker/train/train_step.h"

#include <limits>

namespace lorad {
namespace {

torch::Tensor ToTensor(const std::vector<int64_t>& values, int64_t rows, int64_t cols,
                       const torch::Device& device) {
  // from_blob does not own: clone onto the device (a no-op copy target on CPU
  // is still needed because `values` dies with the Batch).
  torch::Tensor t = torch::from_blob(const_cast<int64_t*>(values.data()), {rows, cols},
                                     torch::kInt64);
  return device.is_cpu() ? t.clone() : t.to(device, /*non_blocking=*/false, /*copy=*/true);
}

}  // namespace

ForwardInputs MakeForwardInputs(const Batch& batch, bool packed, const torch::Device& device) {
  ForwardInputs in;
  in.input_ids = ToTensor(batch.input_ids, batch.rows, batch.cols, device);
  if (!batch.position_ids.empty()) {
    in.position_ids = ToTensor(batch.position_ids, batch.rows, batch.cols, device);
  }
  if (packed && !batch.segment_ids.empty()) {
    in.segment_ids = ToTensor(batch.segment_ids, batch.rows, batch.cols, device);
  }
  return in;
}

torch::Tensor MakeLabels(const Batch& batch, const torch::Device& device) {
  return ToTensor(batch.labels, batch.rows, batch.cols, device);
}

StepLoss ForwardBackwardStep(CausalLm& model, const std::vector<Batch>& micro_batches,
                             bool packed, const torch::Device& device) {
  StepLoss out;
  for (const Batch& b : micro_batches) {
    out.tokens += b.tokens;
    out.trained_tokens += b.trained_tokens;
  }
  if (out.trained_tokens == 0) return out;
  const double denom = static_cast<double>(out.trained_tokens);
  torch::Tensor total = torch::zeros({}, torch::TensorOptions().dtype(torch::kFloat64));
  for (const Batch& b : micro_batches) {
    if (b.trained_tokens == 0) continue;
    ForwardInputs inputs = MakeForwardInputs(b, packed, device);
    torch::Tensor hidden = model->Forward(inputs);
    LossOutput lo = model->ComputeLoss(hidden, MakeLabels(b, device));
    torch::Tensor scaled = lo.loss_sum / denom;
    scaled.backward();
    total += scaled.detach().to(torch::kCPU, torch::kFloat64);
  }
  out.loss = total.item<double>();
  return out;
}

double EvalLoss(CausalLm& model, const std::vector<Batch>& batches, bool packed,
                const torch::Device& device) {
  const bool was_training = model->is_training();
  model->eval();
  torch::NoGradGuard no_grad;
  double sum = 0;
  int64_t count = 0;
  for (const Batch& b : batches) {
    if (b.trained_tokens == 0) continue;
    torch::Tensor hidden = model->Forward(MakeForwardInputs(b, packed, device));
    LossOutput lo = model->ComputeLoss(hidden, MakeLabels(b, device));
    sum += lo.loss_sum.to(torch::kCPU, torch::kFloat64).item<double>();
    count += lo.num_tokens;
  }
  model->train(was_training);
  return count > 0 ? sum / static_cast<double>(count)
                   : std::numeric_limits<double>::quiet_NaN();
}

}  // namespace lorad
