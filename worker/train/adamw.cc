#include "worker/train/adamw.h"

#include <cmath>

#include "absl/strings/str_cat.h"

namespace lorad {

AdamW::AdamW(std::vector<std::pair<std::string, torch::Tensor>> params, AdamWOptions options)
    : options_(options) {
  slots_.reserve(params.size());
  for (auto& [name, p] : params) {
    Slot slot;
    slot.name = name;
    slot.param = p;
    // fp32 moments whatever the parameter dtype (adapters are fp32 anyway).
    slot.exp_avg = torch::zeros_like(p, p.options().dtype(torch::kFloat32));
    slot.exp_avg_sq = torch::zeros_like(p, p.options().dtype(torch::kFloat32));
    slots_.push_back(std::move(slot));
  }
}

void AdamW::Step(double lr) {
  torch::NoGradGuard no_grad;
  ++step_;
  const double beta1 = options_.beta1;
  const double beta2 = options_.beta2;
  // Python floats: 1 - beta ** step, sqrt in double.
  const double bias_correction1 = 1.0 - std::pow(beta1, static_cast<double>(step_));
  const double bias_correction2 = 1.0 - std::pow(beta2, static_cast<double>(step_));
  const double step_size = lr / bias_correction1;
  const double bias_correction2_sqrt = std::sqrt(bias_correction2);
  for (Slot& s : slots_) {
    torch::Tensor grad = s.param.grad();
    if (!grad.defined()) continue;
    // Decoupled weight decay first, on the parameter itself.
    if (options_.weight_decay != 0.0) s.param.mul_(1.0 - lr * options_.weight_decay);
    s.exp_avg.lerp_(grad, 1.0 - beta1);
    s.exp_avg_sq.mul_(beta2).addcmul_(grad, grad, 1.0 - beta2);
    torch::Tensor denom = (s.exp_avg_sq.sqrt() / bias_correction2_sqrt).add_(options_.eps);
    s.param.addcdiv_(s.exp_avg, denom, -step_size);
  }
}

void AdamW::ZeroGrad() {
  // set_to_none, torch's default since 2.0: the next backward allocates fresh.
  for (Slot& s : slots_) {
    if (s.param.grad().defined()) s.param.mutable_grad() = torch::Tensor();
  }
}

std::map<std::string, torch::Tensor> AdamW::ExportState() const {
  std::map<std::string, torch::Tensor> out;
  for (const Slot& s : slots_) {
    out[s.name + ".exp_avg"] = s.exp_avg.detach().to(torch::kCPU).contiguous();
    out[s.name + ".exp_avg_sq"] = s.exp_avg_sq.detach().to(torch::kCPU).contiguous();
  }
  return out;
}

absl::Status AdamW::ImportState(const std::map<std::string, torch::Tensor>& state, int64_t step) {
  torch::NoGradGuard no_grad;
  for (Slot& s : slots_) {
    for (auto [suffix, dst] : {std::pair<const char*, torch::Tensor*>{".exp_avg", &s.exp_avg},
                               {".exp_avg_sq", &s.exp_avg_sq}}) {
      auto it = state.find(s.name + suffix);
      if (it == state.end()) {
        return absl::DataLossError(absl::StrCat("optimizer state lacks '", s.name, suffix, "'"));
      }
      if (it->second.sizes() != dst->sizes()) {
        return absl::DataLossError(absl::StrCat("optimizer state '", s.name, suffix,
                                                "' has the wrong shape"));
      }
      dst->copy_(it->second.to(dst->dtype()));
    }
  }
  if (step < 0) return absl::DataLossError("optimizer step count is negative");
  step_ = step;
  return absl::OkStatus();
}

double ClipGradNorm(const std::vector<torch::Tensor>& params, double max_norm) {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> norms;
  std::vector<torch::Tensor> grads;
  for (const torch::Tensor& p : params) {
    if (!p.grad().defined()) continue;
    grads.push_back(p.grad());
    norms.push_back(torch::linalg_vector_norm(p.grad().detach(), 2, c10::nullopt, false,
                                              c10::nullopt));
  }
  if (grads.empty()) return 0.0;
  torch::Tensor total = torch::linalg_vector_norm(torch::stack(norms), 2, c10::nullopt, false,
                                                  c10::nullopt);
  if (max_norm > 0) {
    torch::Tensor coef = torch::clamp(max_norm / (total + 1e-6), c10::nullopt, 1.0);
    for (torch::Tensor& g : grads) g.mul_(coef.to(g.device()));
  }
  return total.item<double>();
}

}  // namespace lorad
