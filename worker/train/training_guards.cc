#include "worker/train/training_guards.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "spdlog/spdlog.h"

namespace lorad {
namespace {

DivergenceOptions DivergenceOptionsFrom(const TrainConfig& c) {
  DivergenceOptions o;
  o.skip_step = c.divergence_policy == "skip_step";
  o.factor = c.divergence_factor;
  o.patience = c.divergence_patience;
  o.window = c.divergence_window;
  return o;
}

}  // namespace

TrainingGuards::TrainingGuards(const TrainConfig& config, TrainerObserver& observer)
    : observer_(observer),
      divergence_(DivergenceOptionsFrom(config)),
      early_(config.early_stopping_patience, config.early_stopping_threshold),
      overfit_(config.overfitting_window),
      keep_best_(config.keep_best) {}

absl::StatusOr<TrainingGuards::StepAction> TrainingGuards::OnStep(int64_t step, double loss,
                                                                  double grad_norm) {
  const DivergenceGuard::Verdict v = divergence_.Check(step, loss, grad_norm);
  if (v.reason.empty()) {
    train_loss_sum_ += loss;
    ++train_loss_steps_;
    return StepAction::kApply;
  }
  const std::string message = divergence_.Message(step, loss, grad_norm, v);
  observer_.OnRecord(divergence_.Record(step, loss, grad_norm, v));
  if (v.action == DivergenceGuard::Action::kSkip) {
    spdlog::warn("{}", message);
    return StepAction::kSkip;
  }
  first_bad_step_ = v.first_bad_step;
  return absl::AbortedError(absl::StrCat(message, " (divergence_policy: fail)"));
}

void TrainingGuards::Replay(const nlohmann::json& log_history) {
  if (!log_history.is_array()) return;
  for (const nlohmann::json& r : log_history) {
    if (!r.is_object() || r.value("type", "") != "eval" || !r.contains("step") ||
        !r["step"].is_number_integer() || !r.contains("eval_loss")) {
      continue;
    }
    const nlohmann::json& loss = r.contains("eval_loss") ? r["eval_loss"] : nlohmann::json();
    early_.Observe(r["step"].get<int64_t>(), loss.is_number() ? loss.get<double>() : std::nan(""));
  }
}

TrainingGuards::EvalOutcome TrainingGuards::OnEval(int64_t step, double eval_loss) {
  EvalOutcome out;
  const EarlyStopping::Decision d = early_.Observe(step, eval_loss);
  out.new_best = d.new_best && keep_best_;

  if (train_loss_steps_ > 0) {
    OverfitDetector::Point p{step, train_loss_sum_ / static_cast<double>(train_loss_steps_),
                             eval_loss};
    if (auto seen = overfit_.Observe(p)) {
      nlohmann::json steps = nlohmann::json::array(), evals = nlohmann::json::array(),
                     trains = nlohmann::json::array();
      std::vector<std::string> evals_text;
      for (const auto& q : *seen) {
        steps.push_back(q.step);
        evals.push_back(q.eval_loss);
        trains.push_back(q.train_loss);
        evals_text.push_back(absl::StrFormat("%.4g", q.eval_loss));
      }
      const std::string message = absl::StrFormat(
          "possible overfitting: eval loss rose over the last %d evaluations (%s, steps %d–%d) "
          "while the training loss fell (%.4g → %.4g)",
          seen->size(), absl::StrJoin(evals_text, " → "), seen->front().step, seen->back().step,
          seen->front().train_loss, seen->back().train_loss);
      spdlog::warn("{}", message);
      observer_.OnRecord({{"type", "overfitting"},
                          {"step", step},
                          {"steps", steps},
                          {"eval_loss", evals},
                          {"train_loss", trains},
                          {"message", message}});
    }
  }
  train_loss_sum_ = 0;
  train_loss_steps_ = 0;

  if (d.stop) {
    out.stop = true;
    const std::string best =
        early_.best_step()
            ? absl::StrFormat("best %.6g at step %d", early_.best_loss(), *early_.best_step())
            : std::string("no finite eval loss yet");
    const std::string message = absl::StrFormat(
        "early stopping at step %d: eval loss has not improved by more than %g for %d "
        "evaluations (%s)",
        step, early_.threshold(), d.evals_without_improvement, best);
    spdlog::info("{}", message);
    observer_.OnRecord(
        {{"type", "early_stopping"},
         {"step", step},
         {"patience", early_.patience()},
         {"threshold", early_.threshold()},
         {"best_step", early_.best_step() ? nlohmann::json(*early_.best_step()) : nlohmann::json()},
         {"best_eval_loss",
          early_.best_step() ? nlohmann::json(early_.best_loss()) : nlohmann::json()},
         {"message", message}});
  }
  return out;
}

}  // namespace lorad
