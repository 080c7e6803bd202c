#include "worker/train/training_progress.h"

#include <type_traits>

#include "absl/strings/str_cat.h"

namespace lorad {

nlohmann::json TrainingProgress::ToJson() const {
  return {{"global_step", global_step},
          {"epoch", epoch},
          {"loss_since_log", loss_since_log},
          {"steps_since_log", steps_since_log},
          {"tokens_since_log", tokens_since_log},
          {"trained_tokens_since_log", trained_tokens_since_log},
          {"seconds_since_log", seconds_since_log},
          {"total_tokens", total_tokens},
          {"total_trained_tokens", total_trained_tokens},
          {"elapsed_seconds", elapsed_seconds},
          {"last_learning_rate", last_learning_rate},
          {"last_loss", last_loss},
          {"log_history", log_history}};
}

absl::StatusOr<TrainingProgress> TrainingProgress::FromJson(const nlohmann::json& j) {
  if (!j.is_object()) return absl::DataLossError("training progress is not a JSON object");
  TrainingProgress p;
  auto num = [&](const char* key, auto& out) -> absl::Status {
    auto it = j.find(key);
    if (it == j.end() || !it->is_number()) {
      return absl::DataLossError(absl::StrCat("training progress: '", key, "' missing or not a number"));
    }
    // A count holding a float (1e300) would be an out-of-range cast.
    if constexpr (std::is_integral_v<std::decay_t<decltype(out)>>) {
      if (!it->is_number_integer()) {
        return absl::DataLossError(absl::StrCat("training progress: '", key, "' is not an integer"));
      }
    }
    out = it->get<std::decay_t<decltype(out)>>();
    return absl::OkStatus();
  };
  for (auto s : {num("global_step", p.global_step), num("epoch", p.epoch),
                 num("loss_since_log", p.loss_since_log), num("steps_since_log", p.steps_since_log),
                 num("tokens_since_log", p.tokens_since_log),
                 num("trained_tokens_since_log", p.trained_tokens_since_log),
                 num("seconds_since_log", p.seconds_since_log), num("total_tokens", p.total_tokens),
                 num("total_trained_tokens", p.total_trained_tokens),
                 num("elapsed_seconds", p.elapsed_seconds),
                 num("last_learning_rate", p.last_learning_rate), num("last_loss", p.last_loss)}) {
    if (!s.ok()) return s;
  }
  if (p.global_step < 0) return absl::DataLossError("training progress: negative global_step");
  auto it = j.find("log_history");
  if (it != j.end() && it->is_array()) p.log_history = *it;
  return p;
}

}  // namespace lorad
