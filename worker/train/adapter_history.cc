#include "worker/train/adapter_history.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "worker/base/file_util.h"

namespace lorad {
namespace {

constexpr uint64_t kMaxJsonBytes = uint64_t{64} << 20;
// Same names as adapter_export.h / checkpoint_files.h; spelled here so that
// this LibTorch-free file does not include them.
constexpr const char* kSidecar = "lorad_adapter.json";
constexpr const char* kTrainerState = "trainer_state.json";

std::optional<double> FiniteNumber(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_number()) return std::nullopt;
  const double v = it->get<double>();
  return std::isfinite(v) ? std::optional<double>(v) : std::nullopt;
}

// nullopt when absent; a note when present but not a JSON object.
std::optional<nlohmann::json> ReadJsonObject(const std::filesystem::path& path,
                                             std::vector<std::string>* notes) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return std::nullopt;
  auto text = ReadFileToString(path, kMaxJsonBytes);
  if (!text.ok()) {
    notes->push_back(absl::StrCat(path.string(), ": ", text.status().message()));
    return std::nullopt;
  }
  nlohmann::json j = nlohmann::json::parse(*text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) {
    notes->push_back(absl::StrCat(path.string(), ": not a JSON object"));
    return std::nullopt;
  }
  return j;
}

}  // namespace

void RecordFinalLosses(const TrainingProgress& progress, DataProfile* profile) {
  if (progress.global_step <= 0) return;
  double sum = 0;
  int n = 0;
  const nlohmann::json& history = progress.log_history;
  for (auto it = history.rbegin(); it != history.rend(); ++it) {
    if (!it->is_object()) continue;
    if (!profile->final_eval_loss) profile->final_eval_loss = FiniteNumber(*it, "eval_loss");
    if (n < kFinalLossRecords && !it->contains("eval_loss")) {
      if (auto loss = FiniteNumber(*it, "loss")) {
        sum += *loss;
        ++n;
      }
    }
  }
  if (n > 0) {
    profile->final_train_loss = sum / n;
  } else if (std::isfinite(progress.last_loss)) {
    profile->final_train_loss = progress.last_loss;
  }
}

AdapterHistory ReadAdapterHistory(const std::filesystem::path& dir) {
  AdapterHistory h;
  if (auto sidecar = ReadJsonObject(dir / kSidecar, &h.notes)) {
    h.has_sidecar = true;
    h.last_learning_rate = FiniteNumber(*sidecar, "learning_rate");
    h.peak_learning_rate = FiniteNumber(*sidecar, "peak_learning_rate");
    h.lr_policy = sidecar->value("lr_policy", "");
    if (auto step = sidecar->find("step"); step != sidecar->end() && step->is_number_integer()) {
      h.step = step->get<int64_t>();
    }
    if (auto p = sidecar->find("data_profile"); p != sidecar->end()) {
      auto profile = DataProfile::FromJson(*p);
      if (profile.ok()) {
        h.profile = std::move(*profile);
        if (h.profile->final_train_loss && std::isfinite(*h.profile->final_train_loss)) {
          h.last_train_loss = h.profile->final_train_loss;
          h.train_loss_source = kSidecar;
        }
      } else {
        h.notes.push_back(absl::StrCat(kSidecar, ": ", profile.status().message()));
      }
    }
  }
  // Adapters from other tools (Axolotl saves the HF Trainer's state beside the
  // adapter): the last logged training loss, for the loss comparison.
  if (!h.last_train_loss) {
    if (auto state = ReadJsonObject(dir / kTrainerState, &h.notes)) {
      auto history = state->find("log_history");
      if (history != state->end() && history->is_array()) {
        for (auto it = history->rbegin(); it != history->rend(); ++it) {
          if (!it->is_object()) continue;
          if (auto loss = FiniteNumber(*it, "loss")) {
            h.last_train_loss = loss;
            h.train_loss_source = kTrainerState;
            break;
          }
        }
      }
    }
  }
  return h;
}

}  // namespace lorad
