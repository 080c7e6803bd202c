#include "worker/train/resume_plan.h"

#include <system_error>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "worker/checkpoint/resume_source.h"
#include "worker/train/checkpoint_dir.h"
#include "worker/train/training_state_io.h"

namespace lorad {
namespace {

bool Exists(const std::filesystem::path& p) {
  std::error_code ec;
  return std::filesystem::exists(p, ec);
}

/// Newest checkpoint under `dir` that verifies; skipped ones become warnings.
std::optional<std::filesystem::path> NewestValid(const std::filesystem::path& dir,
                                                 std::vector<std::string>& warnings) {
  for (const auto& [step, path] : ListCheckpointDirs(dir)) {
    if (!IsLoradCheckpoint(path)) {
      warnings.push_back(absl::StrCat("skipping ", path.string(),
                                      ": not a lorad checkpoint (no training_state.json)"));
      continue;
    }
    absl::Status s = VerifyCheckpoint(path);
    if (!s.ok()) {
      warnings.push_back(absl::StrCat("skipping ", path.string(), ": incomplete or corrupt (",
                                      s.message(), ")"));
      continue;
    }
    return path;
  }
  return std::nullopt;
}

absl::StatusOr<ResumePlan> PlanForDir(ResumePlan plan, const std::filesystem::path& dir) {
  if (!Exists(dir)) {
    return absl::NotFoundError(absl::StrCat(plan.source, ": ", dir.string(), " does not exist"));
  }
  // The output_dir of an interrupted run (checkpoint-N folders, no final
  // adapter yet): the newest valid checkpoint, as --resume auto would pick.  A
  // finished run's output_dir holds its final adapter: that is the adapter the
  // user means to continue (extending the run exactly takes its checkpoint).
  const bool finished_output = Exists(dir / "adapter_model.safetensors") &&
                               Exists(dir / "adapter_config.json");
  if (!ListCheckpointDirs(dir).empty() && !IsLoradCheckpoint(dir) && !finished_output) {
    auto newest = NewestValid(dir, plan.warnings);
    if (newest) {
      plan.mode = ResumeMode::kExact;
      plan.dir = *newest;
      plan.reason = absl::StrCat("newest valid checkpoint in ", dir.string(), " is ",
                                 newest->filename().string(), ": exact resume");
      return plan;
    }
  }
  const ResumeSource source = ClassifyResumeSource(dir);
  plan.dir = dir;
  plan.reason = source.reason;
  if (finished_output && source.kind == ResumeSource::Kind::kAdapterOnly) {
    const auto checkpoints = ListCheckpointDirs(dir);
    if (!checkpoints.empty()) {
      absl::StrAppend(&plan.reason, " (the final adapter of a finished run; to extend that run "
                                    "exactly instead, --resume ",
                      checkpoints.front().second.string(), ")");
    }
  }
  switch (source.kind) {
    case ResumeSource::Kind::kLoradCheckpoint:
      plan.mode = ResumeMode::kExact;
      return plan;
    case ResumeSource::Kind::kAdapterOnly:
    case ResumeSource::Kind::kHfTrainerCheckpoint:
      plan.mode = ResumeMode::kContinueAdapter;
      return plan;
    case ResumeSource::Kind::kPickleAdapter:
      return absl::FailedPreconditionError(absl::StrCat(plan.source, ": ", source.reason));
    case ResumeSource::Kind::kInvalid:
      break;
  }
  if (IsLoradCheckpoint(dir)) {
    return absl::DataLossError(absl::StrCat(plan.source, ": ", source.reason));
  }
  return absl::FailedPreconditionError(absl::StrCat(plan.source, ": ", source.reason));
}

}  // namespace

const char* ResumeModeName(ResumeMode mode) {
  switch (mode) {
    case ResumeMode::kFresh: return "fresh";
    case ResumeMode::kExact: return "exact";
    case ResumeMode::kContinueAdapter: return "continue_adapter";
  }
  return "fresh";
}

bool IsLoradCheckpoint(const std::filesystem::path& dir) {
  return Exists(dir / kTrainingStateFile);
}

bool IsHfTrainerCheckpoint(const std::filesystem::path& dir) {
  return !IsLoradCheckpoint(dir) &&
         (Exists(dir / "optimizer.pt") || Exists(dir / "rng_state.pth") ||
          Exists(dir / "scheduler.pt"));
}

absl::StatusOr<ResumePlan> PlanResume(const TrainConfig& config, const RunOptions& options) {
  ResumePlan plan;
  std::string request;
  if (!options.resume.empty()) {
    plan.source = "--resume";
    request = options.resume;
  } else if (!config.resume_from_checkpoint.empty()) {
    plan.source = "resume_from_checkpoint";
    request = config.resume_from_checkpoint;
  } else if (config.auto_resume_from_checkpoints) {
    plan.source = "auto_resume_from_checkpoints";
    request = "auto";
  } else if (!config.lora_model_dir.empty()) {
    plan.source = "lora_model_dir";
    plan.requested = true;
    // Axolotl's lora_model_dir is weights only, whatever else the folder holds.
    if (!Exists(config.lora_model_dir)) {
      return absl::NotFoundError(
          absl::StrCat("lora_model_dir: ", config.lora_model_dir, " does not exist"));
    }
    plan.mode = ResumeMode::kContinueAdapter;
    plan.dir = config.lora_model_dir;
    plan.reason = absl::StrCat("lora_model_dir ", config.lora_model_dir,
                               ": continuing the adapter (weights only, fresh optimizer, "
                               "schedule from step 0)");
    return plan;
  } else {
    plan.reason = "fresh start";
    return plan;
  }
  plan.requested = true;
  if (request == "auto") {
    auto newest = NewestValid(config.output_dir, plan.warnings);
    if (!newest) {
      plan.mode = ResumeMode::kFresh;
      plan.reason = absl::StrCat("no valid checkpoint in ", config.output_dir,
                                 ": starting fresh");
      return plan;
    }
    plan.mode = ResumeMode::kExact;
    plan.dir = *newest;
    plan.reason = absl::StrCat("newest valid checkpoint in ", config.output_dir, " is ",
                               newest->filename().string(), ": exact resume");
    return plan;
  }
  return PlanForDir(std::move(plan), request);
}

}  // namespace lorad
