// What one evaluation of a training job does: greedy samples from
// eval_prompts (a `sample` record) and the eval set's loss (the `eval` record
// the trainer emits), so a watcher sees the model learn.
#pragma once

#include <torch/torch.h>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"
#include "worker/config/train_config.h"
#include "worker/data/tokenized_dataset.h"
#include "worker/model/causal_lm.h"
#include "worker/tokenizer/tokenizer.h"
#include "worker/train/training_job.h"
#include "worker/train/training_progress.h"

namespace lorad {

class JobEvaluator {
 public:
  /// Everything must outlive the evaluator.
  JobEvaluator(const TrainConfig& config, CausalLm& model, const Tokenizer& tokenizer,
               const TokenizedDataset& dataset, torch::Device device, TrainerObserver& observer);

  /// False when there is nothing to evaluate (no eval rows, no eval_prompts).
  bool enabled() const;
  /// Emits the samples, then returns the `eval` record (with eval_loss when
  /// there is an eval set; null when it is not finite).
  absl::StatusOr<nlohmann::json> Evaluate(const TrainingProgress& p);

 private:
  absl::Status EmitSamples(const TrainingProgress& p);

  const TrainConfig& config_;
  CausalLm& model_;
  const Tokenizer& tokenizer_;
  const TokenizedDataset& dataset_;
  torch::Device device_;
  TrainerObserver& observer_;
};

}  // namespace lorad
