#include "worker/train/training_state_json.h"

#include <type_traits>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "worker/base/status_macros.h"

namespace lorad {
namespace {

template <typename T>
absl::Status Get(const nlohmann::json& j, const char* key, T& out, const std::string& where) {
  auto it = j.find(key);
  if (it == j.end()) return absl::DataLossError(absl::StrCat(where, ": missing '", key, "'"));
  // An integer field holding a float (1e300) would be an out-of-range cast.
  if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
    if (!it->is_number_integer()) {
      return absl::DataLossError(absl::StrCat(where, ": '", key, "' is not an integer"));
    }
  }
  try {
    out = it->get<T>();
  } catch (const nlohmann::json::exception&) {
    return absl::DataLossError(absl::StrCat(where, ": '", key, "' has the wrong type"));
  }
  return absl::OkStatus();
}

absl::Status NonNegative(int64_t value, const char* key, const std::string& where) {
  if (value < 0) return absl::DataLossError(absl::StrCat(where, ": '", key, "' is negative"));
  return absl::OkStatus();
}

}  // namespace

std::string TrainingStateJson(const TrainingStateMeta& s) {
  nlohmann::json j = {
      {"format", "lorad-training-state"},
      {"version", 1},
      {"progress", s.progress.ToJson()},
      {"cursor", s.cursor.ToJson()},
      {"optimizer_step", s.optimizer_step},
      {"schedule",
       {{"lr_scheduler", s.lr_scheduler},
        {"learning_rate", s.learning_rate},
        {"lr_policy", s.lr_policy},
        {"warmup_steps", s.warmup_steps},
        {"total_steps", s.total_steps}}},
      {"env",
       {{"threads", s.env.threads},
        {"cpu_isa", s.env.cpu_isa},
        {"torch_version", s.env.torch_version},
        {"device", s.env.device},
        {"bf16", s.env.bf16},
        {"attention", s.env.attention}}},
      {"data_fingerprint", s.data_fingerprint}};
  return j.dump(2) + "\n";
}

absl::StatusOr<TrainingStateMeta> ParseTrainingStateJson(std::string_view text,
                                                         const std::string& where) {
  nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return absl::DataLossError(absl::StrCat(where, ": not a JSON object"));
  TrainingStateMeta s;
  std::string format;
  LORAD_RETURN_IF_ERROR(Get(j, "format", format, where));
  if (format != "lorad-training-state") {
    return absl::DataLossError(absl::StrCat(where, ": format '", format, "' is not lorad's"));
  }
  nlohmann::json progress, cursor, schedule, env;
  LORAD_RETURN_IF_ERROR(Get(j, "progress", progress, where));
  LORAD_RETURN_IF_ERROR(Get(j, "cursor", cursor, where));
  LORAD_RETURN_IF_ERROR(Get(j, "schedule", schedule, where));
  LORAD_RETURN_IF_ERROR(Get(j, "env", env, where));
  if (!schedule.is_object() || !env.is_object()) {
    return absl::DataLossError(absl::StrCat(where, ": 'schedule' and 'env' must be objects"));
  }
  LORAD_RETURN_IF_ERROR(Get(j, "optimizer_step", s.optimizer_step, where));
  LORAD_RETURN_IF_ERROR(NonNegative(s.optimizer_step, "optimizer_step", where));
  LORAD_RETURN_IF_ERROR(Get(j, "data_fingerprint", s.data_fingerprint, where));
  auto progress_state = TrainingProgress::FromJson(progress);
  if (!progress_state.ok()) {
    return absl::DataLossError(absl::StrCat(where, ": progress: ", progress_state.status().message()));
  }
  s.progress = *std::move(progress_state);
  auto cursor_state = BatchCursor::State::FromJson(cursor);
  if (!cursor_state.ok()) {
    return absl::DataLossError(absl::StrCat(where, ": cursor: ", cursor_state.status().message()));
  }
  s.cursor = *cursor_state;
  LORAD_RETURN_IF_ERROR(Get(schedule, "lr_scheduler", s.lr_scheduler, where));
  LORAD_RETURN_IF_ERROR(Get(schedule, "learning_rate", s.learning_rate, where));
  // Absent in checkpoints written before resume_lr_policy existed: restart.
  if (schedule.contains("lr_policy")) {
    LORAD_RETURN_IF_ERROR(Get(schedule, "lr_policy", s.lr_policy, where));
  }
  LORAD_RETURN_IF_ERROR(Get(schedule, "warmup_steps", s.warmup_steps, where));
  LORAD_RETURN_IF_ERROR(Get(schedule, "total_steps", s.total_steps, where));
  LORAD_RETURN_IF_ERROR(NonNegative(s.warmup_steps, "schedule.warmup_steps", where));
  LORAD_RETURN_IF_ERROR(NonNegative(s.total_steps, "schedule.total_steps", where));
  LORAD_RETURN_IF_ERROR(Get(env, "threads", s.env.threads, where));
  LORAD_RETURN_IF_ERROR(Get(env, "cpu_isa", s.env.cpu_isa, where));
  LORAD_RETURN_IF_ERROR(Get(env, "torch_version", s.env.torch_version, where));
  LORAD_RETURN_IF_ERROR(Get(env, "device", s.env.device, where));
  LORAD_RETURN_IF_ERROR(Get(env, "bf16", s.env.bf16, where));
  if (env.contains("attention")) LORAD_RETURN_IF_ERROR(Get(env, "attention", s.env.attention, where));
  return s;
}

}  // namespace lorad
