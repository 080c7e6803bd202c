// training_state.json: the part of a checkpoint's exact-resume state that is
// plain JSON (step, schedule, data cursor, environment, progress).  No
// LibTorch, so the parser of this outside file is fuzzed on its own
// (tests/fuzz/training_state_fuzzer.cc); training_state_io adds the tensors.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "worker/data/batch_cursor.h"
#include "worker/train/training_progress.h"

namespace lorad {

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

struct TrainingStateMeta {
  TrainingProgress progress;
  BatchCursor::State cursor;
  int64_t optimizer_step = 0;
  // Schedule as it was (a resume with a new total recomputes and reports it).
  std::string lr_scheduler;
  double learning_rate = 0;  // the schedule's base (peak) rate
  std::string lr_policy;     // how the rate was chosen (resume_lr_policy; "" = restart)
  int64_t warmup_steps = 0;
  int64_t total_steps = 0;
  ReproEnv env;
  std::string data_fingerprint;
};

/// The file's text (pretty-printed, newline-terminated).
std::string TrainingStateJson(const TrainingStateMeta& s);
/// DATA_LOSS "<where>: <what>" for anything missing, mistyped or out of range.
absl::StatusOr<TrainingStateMeta> ParseTrainingStateJson(std::string_view text,
                                                         const std::string& where);

}  // namespace lorad
