// Decides how a run starts: fresh, exact resume from one of our checkpoints,
// or continuing an adapter (ours, PEFT's, Axolotl's, an HF Trainer checkpoint)
// — by looking at the directory, and says which and why.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "worker/config/train_config.h"
#include "worker/train/training_job.h"

namespace lorad {

enum class ResumeMode { kFresh, kExact, kContinueAdapter };

struct ResumePlan {
  ResumeMode mode = ResumeMode::kFresh;
  std::filesystem::path dir;  // checkpoint or adapter directory
  std::string source;         // what asked for it: "--resume", "resume_from_checkpoint", ...
  std::string reason;         // one sentence for the log and the `resume` record
  std::vector<std::string> warnings;  // skipped checkpoints, pickles not read
  bool requested = false;     // a resume/continue was asked for at all
};

const char* ResumeModeName(ResumeMode mode);

/// --resume wins over the YAML's resume_from_checkpoint /
/// auto_resume_from_checkpoints / lora_model_dir.  Errors (NOT_FOUND,
/// FAILED_PRECONDITION, DATA_LOSS for a named checkpoint that does not verify)
/// come before any compute.
absl::StatusOr<ResumePlan> PlanResume(const TrainConfig& config, const RunOptions& options);

/// True when DIR looks like one of our checkpoints (training_state.json).
bool IsLoradCheckpoint(const std::filesystem::path& dir);
/// True when DIR is an HF Trainer checkpoint (pickled optimizer/rng files).
bool IsHfTrainerCheckpoint(const std::filesystem::path& dir);

}  // namespace lorad
