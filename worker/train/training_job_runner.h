// One training job from a resolved config to its final adapter: checks and
// loading first (every refusal before any compute, writing nothing), then the
// trainer.  RunTrainingJob (training_job.cc) wraps it at the exception edge.
#pragma once

#include <atomic>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "worker/config/train_config.h"
#include "worker/data/batch_cursor.h"
#include "worker/data/data_build_report.h"
#include "worker/data/probe_batch.h"
#include "worker/data/tokenized_dataset.h"
#include "worker/formats/model_config.h"
#include "worker/model/causal_lm.h"
#include "worker/tokenizer/tokenizer.h"
#include "worker/train/adapter_continuation.h"
#include "worker/train/adapter_history.h"
#include "worker/train/lr_schedule.h"
#include "worker/train/resume_lr_policy.h"
#include "worker/train/resume_plan.h"
#include "worker/train/runtime_env.h"
#include "worker/train/training_job.h"
#include "worker/train/training_state_io.h"

namespace lorad {

class TrainingJobRunner {
 public:
  TrainingJobRunner(TrainConfig config, RunOptions options, TrainerObserver& observer,
            const std::atomic<bool>& stop);
  absl::Status Run();

  /// Rough sizes for OOM messages (filled as loading proceeds).
  std::string SizeSummary() const;
  /// What would shrink the job: only the levers not already pulled.
  std::string OomAdvice() const;

 private:
  absl::Status Prepare();
  absl::Status CheckOutputDir();
  absl::Status PrepareExactResume();
  absl::Status PlanLearningRate();
  absl::Status CheckDataDrift();
  absl::Status LoadModel();
  absl::Status DryRun();
  absl::Status Train();
  TrainingStateFiles StaticTrainingState() const;
  nlohmann::json Sidecar(const TrainingProgress& progress);
  void Emit(nlohmann::json record) { observer_.OnRecord(record); }

  TrainConfig config_;
  RunOptions options_;
  TrainerObserver& observer_;
  const std::atomic<bool>& stop_;

  RuntimeEnv env_;
  ResumePlan plan_;
  ModelConfig model_config_;
  std::unique_ptr<Tokenizer> tokenizer_;
  TokenizedDataset dataset_;
  DataBuildReport data_report_;
  ProbeBatch probe_;
  CausalLm model_{nullptr};
  LoraSettings lora_;
  std::string config_yaml_;
  int64_t steps_per_epoch_ = 0;
  int64_t total_steps_ = 0;
  int64_t warmup_steps_ = 0;
  LrPlan lr_plan_;
  // Exact resume.
  std::optional<TrainingStateFiles> restored_;
  // Continue adapter.
  std::optional<AdapterContinuation> continuation_;
  AdapterHistory history_;
  nlohmann::json drift_check_;  // the data-drift measurement (shown by --dry-run)
};

}  // namespace lorad
