// Data-drift check before continuing an adapter: the new data's token
// distribution against the adapter's recorded one (Jensen–Shannon divergence),
// and the adapter's eval-mode loss on a sample of the new data against its last
// recorded training loss, with a plain verdict.  The measurement needs the
// model (TrainingJobRunner); the judgement here does not.  No LibTorch.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "nlohmann/json.hpp"
#include "worker/data/data_profile.h"
#include "worker/train/adapter_history.h"

namespace lorad {

struct DriftThresholds {
  double js = 0.2;          // drift_js_threshold
  double loss_ratio = 1.5;  // drift_loss_ratio_threshold
};

struct DriftReport {
  std::optional<double> js;  // absent: the adapter has no data profile
  double new_loss = 0;       // adapter's eval-mode loss on the sample (may be NaN)
  int64_t sample_rows = 0;
  std::optional<double> recorded_loss;  // its last training loss, when recorded
  std::optional<double> loss_ratio;     // new_loss / recorded_loss
  bool drifted = false;                 // a threshold is exceeded
  std::string message;                  // the plain verdict, for the log and the record
  DriftThresholds thresholds;

  /// The `data_drift` record ("verdict": ok | warn | fail under `policy`).
  nlohmann::json ToJson(const std::string& policy) const;
};

DriftReport AssessDrift(const AdapterHistory& history, const DataProfile& new_data, double new_loss,
                        int64_t sample_rows, const DriftThresholds& thresholds);

/// Up to `max_rows` row indices spread evenly over `num_rows` (deterministic),
/// the sample the adapter's loss on the new data is measured on.
std::vector<int64_t> DriftSampleRows(int64_t num_rows, int64_t max_rows);

}  // namespace lorad
