// The training-state files of a checkpoint (everything an exact resume needs
// beyond the adapter): optimizer.safetensors (AdamW moments), rng_state.safetensors
// (generator states as U8 tensors: no pickle anywhere), training_state.json
// (step, schedule, data cursor, environment, progress) and config.yaml.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>

#include <torch/torch.h>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"
#include "worker/checkpoint/checkpoint_files.h"
#include "worker/data/batch_cursor.h"
#include "worker/train/rng_state.h"
#include "worker/train/training_progress.h"

namespace lorad {

// training_state.json, optimizer.safetensors and trainer_state.json are named
// in worker/checkpoint/checkpoint_files.h (shared with the resume logic).
inline constexpr const char* kRngStateFile = "rng_state.safetensors";
inline constexpr const char* kCheckpointConfigFile = "config.yaml";

/// Facts that decide whether a resume can be bit-exact.
struct ReproEnv {
  int threads = 0;
  std::string cpu_isa;
  std::string torch_version;
  std::string device;
  bool bf16 = false;
  /// Attention backend actually used ("eager", "blockwise", "sdpa"): another
  /// backend rounds differently.  Checkpoints from before the choice existed
  /// ran eager.
  std::string attention = "eager";
};

struct TrainingStateFiles {
  TrainingProgress progress;
  BatchCursor::State cursor;
  int64_t optimizer_step = 0;
  std::map<std::string, torch::Tensor> optimizer_state;  // AdamW::ExportState()
  TorchRngState rng;
  // Schedule as it was (a resume with a new total recomputes and reports it).
  std::string lr_scheduler;
  double learning_rate = 0;  // the schedule's base (peak) rate
  std::string lr_policy;     // how the rate was chosen (resume_lr_policy; "" = restart)
  int64_t warmup_steps = 0;
  int64_t total_steps = 0;
  ReproEnv env;
  std::string data_fingerprint;
  std::string config_yaml;  // resolved TrainConfigToYaml
};

/// Writes the files above into `dir` (existing), each fsynced.
absl::Status WriteTrainingState(const std::filesystem::path& dir, const TrainingStateFiles& s);
/// Reads them back; DATA_LOSS naming the file for anything missing or malformed.
absl::StatusOr<TrainingStateFiles> ReadTrainingState(const std::filesystem::path& dir);

/// HF-style trainer_state.json: global_step, epoch, max_steps, log_history, ...
std::string TrainerStateJson(const TrainingProgress& progress, int64_t max_steps,
                             int64_t logging_steps, int64_t save_steps,
                             int64_t micro_batch_size, const nlohmann::json& extra);

}  // namespace lorad
