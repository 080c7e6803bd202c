#include "worker/train/job_evaluator.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "worker/base/status_macros.h"
#include "worker/data/batch_collator.h"
#include "worker/model/generator.h"
#include "worker/train/train_step.h"

namespace lorad {

JobEvaluator::JobEvaluator(const TrainConfig& config, CausalLm& model, const Tokenizer& tokenizer,
                           const TokenizedDataset& dataset, torch::Device device,
                           TrainerObserver& observer)
    : config_(config), model_(model), tokenizer_(tokenizer), dataset_(dataset), device_(device),
      observer_(observer) {}

bool JobEvaluator::enabled() const {
  return !dataset_.eval_rows.empty() || !config_.eval_prompts.empty();
}

absl::StatusOr<nlohmann::json> JobEvaluator::Evaluate(const TrainingProgress& p) {
  LORAD_RETURN_IF_ERROR(EmitSamples(p));
  nlohmann::json record = {{"type", "eval"}, {"step", p.global_step}, {"epoch", p.epoch}};
  BatchCollator collator(dataset_.eval, dataset_.eval_rows, dataset_.pad_id, dataset_.packed);
  record["eval_rows"] = collator.num_rows();
  if (collator.num_rows() == 0) return record;
  std::vector<Batch> batches;
  for (int64_t i = 0; i < collator.num_rows(); i += config_.micro_batch_size) {
    batches.push_back(collator.CollateRange(
        i, std::min<int64_t>(collator.num_rows(), i + config_.micro_batch_size)));
  }
  const double loss = EvalLoss(model_, batches, dataset_.packed, device_);
  record["eval_loss"] = std::isfinite(loss) ? nlohmann::json(loss) : nlohmann::json();
  return record;
}

absl::Status JobEvaluator::EmitSamples(const TrainingProgress& p) {
  if (config_.eval_prompts.empty()) return absl::OkStatus();
  // Sampling draws nothing from the training RNG (greedy), so an exact resume
  // stays exact whether or not prompts are configured.
  nlohmann::json samples = nlohmann::json::array();
  for (const std::string& prompt : config_.eval_prompts) {
    LORAD_ASSIGN_OR_RETURN(std::string text, GenerateGreedyText(model_, tokenizer_, prompt,
                                                                config_.eval_max_new_tokens));
    samples.push_back({{"prompt", prompt}, {"text", text}});
  }
  observer_.OnRecord(
      {{"type", "sample"}, {"step", p.global_step}, {"epoch", p.epoch}, {"samples", samples}});
  return absl::OkStatus();
}

}  // namespace lorad
