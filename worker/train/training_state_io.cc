#include "worker/train/training_state_io.h"

#include <cstring>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "worker/base/file_util.h"
#include "worker/base/status_macros.h"
#include "worker/formats/safetensors.h"
#include "worker/model/tensor_io.h"

namespace lorad {
namespace {

constexpr uint64_t kMaxStateJsonBytes = uint64_t{64} << 20;

absl::Status WriteRng(const std::filesystem::path& path, const TorchRngState& rng) {
  std::vector<TensorBlob> blobs;
  auto add = [&](const std::string& name, const std::vector<uint8_t>& bytes) {
    TensorBlob b;
    b.name = name;
    b.dtype = DType::kU8;
    b.shape = {static_cast<int64_t>(bytes.size())};
    b.data = std::span<const uint8_t>(bytes.data(), bytes.size());
    blobs.push_back(b);
  };
  add("cpu", rng.cpu);
  for (size_t i = 0; i < rng.cuda.size(); ++i) add(absl::StrCat("cuda.", i), rng.cuda[i]);
  return WriteSafetensors(path, blobs, {{"format", "lorad-rng"}});
}

absl::StatusOr<TorchRngState> ReadRng(const std::filesystem::path& path) {
  LORAD_ASSIGN_OR_RETURN(auto file, SafetensorsFile::Open(path));
  TorchRngState rng;
  auto bytes = [&](const TensorInfo& info) {
    auto span = file->Data(info);
    return std::vector<uint8_t>(span.begin(), span.end());
  };
  for (const TensorInfo& info : file->header().tensors) {
    if (info.dtype != DType::kU8 || info.shape.size() != 1) {
      return absl::DataLossError(absl::StrCat(path.string(), ": tensor '", info.name,
                                              "' is not a 1-D U8 RNG state"));
    }
    if (info.name == "cpu") {
      rng.cpu = bytes(info);
    } else if (info.name.rfind("cuda.", 0) == 0) {
      size_t index = 0;
      if (!absl::SimpleAtoi(info.name.substr(5), &index) || index > 1024) {
        return absl::DataLossError(absl::StrCat(path.string(), ": bad RNG tensor '", info.name, "'"));
      }
      if (rng.cuda.size() <= index) rng.cuda.resize(index + 1);
      rng.cuda[index] = bytes(info);
    } else {
      return absl::DataLossError(absl::StrCat(path.string(), ": unknown RNG tensor '", info.name, "'"));
    }
  }
  if (rng.cpu.empty()) return absl::DataLossError(absl::StrCat(path.string(), ": no 'cpu' state"));
  return rng;
}

template <typename T>
absl::Status Get(const nlohmann::json& j, const char* key, T& out, const std::string& where) {
  auto it = j.find(key);
  if (it == j.end()) return absl::DataLossError(absl::StrCat(where, ": missing '", key, "'"));
  try {
    out = it->get<T>();
  } catch (const nlohmann::json::exception&) {
    return absl::DataLossError(absl::StrCat(where, ": '", key, "' has the wrong type"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status WriteTrainingState(const std::filesystem::path& dir, const TrainingStateFiles& s) {
  {
    std::vector<std::pair<std::string, torch::Tensor>> named(s.optimizer_state.begin(),
                                                             s.optimizer_state.end());
    LORAD_ASSIGN_OR_RETURN(TensorBlobs blobs, MakeTensorBlobs(named, torch::kFloat32));
    LORAD_RETURN_IF_ERROR(WriteSafetensors(dir / kOptimizerStateFile, blobs.blobs,
                                           {{"format", "lorad-adamw"},
                                            {"step", std::to_string(s.optimizer_step)}}));
  }
  LORAD_RETURN_IF_ERROR(WriteRng(dir / kRngStateFile, s.rng));
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
  LORAD_RETURN_IF_ERROR(WriteFileDurably(dir / kTrainingStateFile, j.dump(2) + "\n"));
  return WriteFileDurably(dir / kCheckpointConfigFile, s.config_yaml);
}

absl::StatusOr<TrainingStateFiles> ReadTrainingState(const std::filesystem::path& dir) {
  const std::string where = (dir / kTrainingStateFile).string();
  LORAD_ASSIGN_OR_RETURN(std::string text, ReadFileToString(dir / kTrainingStateFile, kMaxStateJsonBytes));
  nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return absl::DataLossError(absl::StrCat(where, ": not a JSON object"));
  TrainingStateFiles s;
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
  LORAD_RETURN_IF_ERROR(Get(j, "optimizer_step", s.optimizer_step, where));
  LORAD_RETURN_IF_ERROR(Get(j, "data_fingerprint", s.data_fingerprint, where));
  LORAD_ASSIGN_OR_RETURN(s.progress, TrainingProgress::FromJson(progress));
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
  LORAD_RETURN_IF_ERROR(Get(env, "threads", s.env.threads, where));
  LORAD_RETURN_IF_ERROR(Get(env, "cpu_isa", s.env.cpu_isa, where));
  LORAD_RETURN_IF_ERROR(Get(env, "torch_version", s.env.torch_version, where));
  LORAD_RETURN_IF_ERROR(Get(env, "device", s.env.device, where));
  LORAD_RETURN_IF_ERROR(Get(env, "bf16", s.env.bf16, where));
  if (env.contains("attention")) LORAD_RETURN_IF_ERROR(Get(env, "attention", s.env.attention, where));

  LORAD_ASSIGN_OR_RETURN(auto opt_file, SafetensorsFile::Open(dir / kOptimizerStateFile));
  for (const TensorInfo& info : opt_file->header().tensors) {
    auto t = LoadTensor(*opt_file, info, torch::kFloat32);
    if (!t.ok()) return absl::DataLossError(t.status().message());
    s.optimizer_state[info.name] = t->clone();  // own the bytes: the mapping dies here
  }
  LORAD_ASSIGN_OR_RETURN(s.rng, ReadRng(dir / kRngStateFile));
  LORAD_ASSIGN_OR_RETURN(s.config_yaml, ReadFileToString(dir / kCheckpointConfigFile, kMaxStateJsonBytes));
  return s;
}

std::string TrainerStateJson(const TrainingProgress& progress, int64_t max_steps,
                             int64_t logging_steps, int64_t save_steps,
                             int64_t micro_batch_size, const nlohmann::json& extra) {
  nlohmann::json j = {{"global_step", progress.global_step},
                      {"epoch", progress.epoch},
                      {"max_steps", max_steps},
                      {"logging_steps", logging_steps},
                      {"save_steps", save_steps},
                      {"train_batch_size", micro_batch_size},
                      {"log_history", progress.log_history},
                      {"is_local_process_zero", true},
                      {"is_world_process_zero", true}};
  if (extra.is_object()) {
    for (auto it = extra.begin(); it != extra.end(); ++it) j[it.key()] = it.value();
  }
  return j.dump(2) + "\n";
}

}  // namespace lorad
