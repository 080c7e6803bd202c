#include "worker/train/drift_check.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace lorad {
namespace {

nlohmann::json OrNull(const std::optional<double>& v) {
  return v && std::isfinite(*v) ? nlohmann::json(*v) : nlohmann::json();
}

}  // namespace

DriftReport AssessDrift(const AdapterHistory& history, const DataProfile& new_data, double new_loss,
                        int64_t sample_rows, const DriftThresholds& thresholds) {
  DriftReport r;
  r.thresholds = thresholds;
  r.new_loss = new_loss;
  r.sample_rows = sample_rows;
  r.recorded_loss = history.last_train_loss;
  if (history.profile) r.js = JensenShannonDivergence(*history.profile, new_data);
  if (r.recorded_loss && *r.recorded_loss > 0 && std::isfinite(new_loss)) {
    r.loss_ratio = new_loss / *r.recorded_loss;
  }
  const bool js_high = r.js && *r.js > thresholds.js;
  const bool loss_high = r.loss_ratio && *r.loss_ratio > thresholds.loss_ratio;
  r.drifted = js_high || loss_high;

  std::string js_text = r.js ? absl::StrFormat("JS %.2f", *r.js) : "";
  if (js_high) absl::StrAppend(&js_text, absl::StrFormat(" (above %g)", thresholds.js));
  std::string loss_text;
  if (r.recorded_loss) {
    loss_text =
        absl::StrFormat("loss %.3g vs %.3g at the end of training", new_loss, *r.recorded_loss);
    if (loss_high) {
      absl::StrAppend(&loss_text,
                      absl::StrFormat(" (×%.2f, above ×%g)", *r.loss_ratio, thresholds.loss_ratio));
    }
  } else {
    loss_text = absl::StrFormat(
        "loss %.3g on the new data, no recorded training loss to compare it "
        "with",
        new_loss);
  }
  if (!history.profile) {
    r.message = absl::StrCat(
        r.drifted ? "new data looks unlike the adapter's training data: " : "",
        "the adapter has no data profile (not trained by lorad), so only the loss is compared: ",
        loss_text);
  } else {
    r.message = absl::StrCat(r.drifted ? "new data looks unlike the adapter's training data: "
                                       : "new data looks like the adapter's training data: ",
                             js_text, ", ", loss_text);
  }
  return r;
}

nlohmann::json DriftReport::ToJson(const std::string& policy) const {
  return {{"type", "data_drift"},
          {"js", OrNull(js)},
          {"js_threshold", thresholds.js},
          {"loss", OrNull(new_loss)},
          {"recorded_loss", OrNull(recorded_loss)},
          {"loss_ratio", OrNull(loss_ratio)},
          {"loss_ratio_threshold", thresholds.loss_ratio},
          {"sample_rows", sample_rows},
          {"profile_available", js.has_value()},
          {"drifted", drifted},
          {"policy", policy},
          {"verdict", !drifted ? "ok" : policy},
          {"message", message}};
}

std::vector<int64_t> DriftSampleRows(int64_t num_rows, int64_t max_rows) {
  std::vector<int64_t> rows;
  if (num_rows <= 0 || max_rows <= 0) return rows;
  const int64_t n = std::min(num_rows, max_rows);
  for (int64_t i = 0; i < n; ++i) rows.push_back(i * num_rows / n);
  return rows;
}

}  // namespace lorad
