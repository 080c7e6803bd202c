#include "worker/train/trainer.h"

#include <algorithm>
#include <chrono>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "worker/base/status_macros.h"
#include "worker/train/train_step.h"

namespace lorad {
namespace {

double Seconds(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count();
}

// JSON cannot carry NaN/Inf; records say null and the guardrails act on it.
nlohmann::json Finite(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(); }

}  // namespace

Trainer::Trainer(CausalLm model, AdamW& optimizer, BatchCursor& cursor, const LrSchedule& schedule,
                 TrainerOptions options, TrainerObserver& observer, const std::atomic<bool>& stop)
    : model_(std::move(model)),
      optimizer_(optimizer),
      cursor_(cursor),
      schedule_(schedule),
      options_(options),
      observer_(observer),
      stop_(stop) {
  for (auto& [name, t] : model_->LoraParameters()) params_.push_back(t);
}

absl::StatusOr<TrainerOutcome> Trainer::Run() {
  model_->train();
  const int64_t total = schedule_.total_steps();
  int64_t session_steps = 0;
  while (progress_.global_step < total) {
    const bool stop_requested =
        stop_.load() || (options_.stop_after > 0 && session_steps >= options_.stop_after);
    if (stop_requested) {
      if (checkpoint_hook_) LORAD_RETURN_IF_ERROR(checkpoint_hook_(progress_, "stop"));
      return TrainerOutcome::kStopped;
    }
    LORAD_RETURN_IF_ERROR(TrainOneStep());
    ++session_steps;
    const int64_t step = progress_.global_step;
    if (progress_hook_) progress_hook_(step, total);
    if (options_.eval_steps > 0 && step % options_.eval_steps == 0 && eval_hook_) {
      LORAD_ASSIGN_OR_RETURN(nlohmann::json record, eval_hook_(progress_));
      progress_.log_history.push_back(record);
      observer_.OnRecord(record);
      if (eval_guard_) {
        LORAD_ASSIGN_OR_RETURN(const bool stop_early, eval_guard_(progress_, record));
        if (stop_early) {
          if (checkpoint_hook_) LORAD_RETURN_IF_ERROR(checkpoint_hook_(progress_, "final"));
          return TrainerOutcome::kEarlyStopped;
        }
      }
    }
    if (options_.save_steps > 0 && step % options_.save_steps == 0 && step < total &&
        checkpoint_hook_) {
      LORAD_RETURN_IF_ERROR(checkpoint_hook_(progress_, "save_steps"));
    }
  }
  if (checkpoint_hook_) LORAD_RETURN_IF_ERROR(checkpoint_hook_(progress_, "final"));
  return TrainerOutcome::kFinished;
}

absl::Status Trainer::TrainOneStep() {
  const auto start = std::chrono::steady_clock::now();
  std::vector<Batch> batches = cursor_.NextStep(options_.gradient_accumulation_steps);
  optimizer_.ZeroGrad();
  StepLoss sl = ForwardBackwardStep(model_, batches, options_.packed, options_.device);
  const int64_t step = progress_.global_step + 1;
  if (step == options_.inject_nan_at_step) {
    sl.loss = std::nan("");
    torch::NoGradGuard no_grad;
    for (torch::Tensor& p : params_) {
      if (p.grad().defined()) p.grad().fill_(std::nan(""));
    }
  }
  const double grad_norm = ClipGradNorm(params_, options_.max_grad_norm);
  bool apply = true;
  if (update_guard_) {
    LORAD_ASSIGN_OR_RETURN(apply, update_guard_(step, sl.loss, grad_norm));
  }
  const double lr = schedule_.RateForStep(step);
  if (apply) {
    optimizer_.Step(lr);
  } else {
    optimizer_.ZeroGrad();  // the schedule and the data move on; the weights do not
  }
  // Synchronise so the wall time is the step's (and not the next .item()'s).
  if (options_.device.is_cuda()) torch::cuda::synchronize();
  const double seconds = Seconds(start);

  progress_.global_step = step;
  progress_.epoch = cursor_.epoch_float();
  if (apply) {
    progress_.loss_since_log += sl.loss;
    progress_.steps_since_log += 1;
    progress_.last_loss = sl.loss;
  } else {
    ++skipped_since_log_;
  }
  progress_.tokens_since_log += sl.tokens;
  progress_.trained_tokens_since_log += sl.trained_tokens;
  progress_.seconds_since_log += seconds;
  progress_.total_tokens += sl.tokens;
  progress_.total_trained_tokens += sl.trained_tokens;
  progress_.elapsed_seconds += seconds;
  progress_.last_learning_rate = lr;
  last_grad_norm_ = grad_norm;
  const bool last = step >= schedule_.total_steps();
  if (step % std::max<int64_t>(1, options_.logging_steps) == 0 || last) EmitStepRecord(grad_norm);
  return absl::OkStatus();
}

void Trainer::EmitStepRecord(double grad_norm) {
  TrainingProgress& p = progress_;
  // Skipped steps are not in the mean; a window of only skipped steps has none.
  const double loss = p.steps_since_log > 0
                          ? p.loss_since_log / static_cast<double>(p.steps_since_log)
                          : std::nan("");
  nlohmann::json record = {
      {"type", "step"},
      {"step", p.global_step},
      {"total_steps", schedule_.total_steps()},
      {"epoch", p.epoch},
      {"loss", Finite(loss)},
      {"learning_rate", p.last_learning_rate},
      {"grad_norm", Finite(grad_norm)},
      {"tokens", p.tokens_since_log},
      {"trained_tokens", p.trained_tokens_since_log},
      {"tokens_per_second",
       p.seconds_since_log > 0 ? static_cast<double>(p.tokens_since_log) / p.seconds_since_log : 0.0},
      {"elapsed_seconds", p.elapsed_seconds}};
  if (skipped_since_log_ > 0) record["skipped_steps"] = skipped_since_log_;
  // The history keeps what is reproducible (no timings): an exact resume then
  // writes the same trainer_state.json as an uninterrupted run.
  p.log_history.push_back({{"step", p.global_step},
                           {"epoch", p.epoch},
                           {"loss", Finite(loss)},
                           {"learning_rate", p.last_learning_rate},
                           {"grad_norm", Finite(grad_norm)}});
  p.loss_since_log = 0;
  p.steps_since_log = 0;
  p.tokens_since_log = 0;
  p.trained_tokens_since_log = 0;
  p.seconds_since_log = 0;
  skipped_since_log_ = 0;
  observer_.OnRecord(record);
}

}  // namespace lorad
