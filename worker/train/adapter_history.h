// What a continued adapter's directory says about its past training: lorad's
// sidecar (lorad_adapter.json: data profile, last and peak learning rate, final
// training loss) or, for adapters from other tools, the last logged loss of an
// HF-style trainer_state.json.  The continue-training guardrails (data drift,
// resume learning-rate policy) read it.  No LibTorch.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "worker/data/data_profile.h"
#include "worker/train/training_progress.h"

namespace lorad {

struct AdapterHistory {
  bool has_sidecar = false;                  // lorad_adapter.json read
  std::optional<DataProfile> profile;        // the training data's profile (lorad adapters)
  std::optional<double> last_train_loss;     // training loss at the end of its training
  std::string train_loss_source;             // file the loss came from
  std::optional<double> last_learning_rate;  // rate of its last optimizer step
  std::optional<double> peak_learning_rate;  // peak of its schedule
  std::string lr_policy;                     // how its own schedule was chosen ("" = unknown)
  int64_t step = 0;
  /// Parts present but unusable (the guardrails say so instead of failing).
  std::vector<std::string> notes;

  /// Learning-rate history is known: both rates recorded and positive.
  bool lr_known() const {
    return last_learning_rate && peak_learning_rate && *peak_learning_rate > 0;
  }
};

/// Never fails: a missing or damaged file leaves the fields empty with a note.
AdapterHistory ReadAdapterHistory(const std::filesystem::path& dir);

/// The writing side: the end-of-training losses a saved adapter's profile
/// records.  Training loss: the mean of the last (up to) kFinalLossRecords
/// logged losses, so one noisy step does not become the reference a later
/// drift check compares against; eval loss: the last evaluation's.
inline constexpr int kFinalLossRecords = 10;
void RecordFinalLosses(const TrainingProgress& progress, DataProfile* profile);

}  // namespace lorad
