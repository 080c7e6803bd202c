#include "worker/train/checkpoint_saver.h"

#include <algorithm>
#include <chrono>
#include <system_error>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "spdlog/spdlog.h"
#include "worker/base/file_util.h"
#include "worker/base/status_macros.h"
#include "worker/train/adapter_export.h"
#include "worker/train/checkpoint_dir.h"
#include "worker/train/probe_io.h"

namespace lorad {
namespace {

// Bytes of the regular files in a checkpoint directory (0 where unreadable:
// the figure is informational).
int64_t DirectoryBytes(const std::filesystem::path& dir) {
  int64_t total = 0;
  std::error_code ec;
  for (std::filesystem::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    std::error_code size_ec;
    const auto size = it->is_regular_file(size_ec) ? it->file_size(size_ec) : 0;
    if (!size_ec) total += static_cast<int64_t>(size);
  }
  return total;
}

}  // namespace

CheckpointSaver::CheckpointSaver(CheckpointSaverOptions options, CausalLm model, AdamW& optimizer,
                                 const BatchCursor& cursor, TrainingStateFiles static_state,
                                 AdapterConfig adapter_config,
                                 std::function<nlohmann::json(const TrainingProgress&)> sidecar,
                                 const Batch* probe_batch, TrainerObserver& observer)
    : options_(std::move(options)),
      model_(std::move(model)),
      optimizer_(optimizer),
      cursor_(cursor),
      static_state_(std::move(static_state)),
      adapter_config_(std::move(adapter_config)),
      sidecar_(std::move(sidecar)),
      probe_batch_(probe_batch),
      observer_(observer) {}

absl::Status CheckpointSaver::Save(const TrainingProgress& progress, const std::string& reason) {
  const auto started = std::chrono::steady_clock::now();
  // Capture the state first: the sidecar's probe runs in eval mode (no dropout,
  // no RNG draw), but the RNG state must be the one the next step would see.
  TrainingStateFiles state = static_state_;
  state.progress = progress;
  state.cursor = cursor_.state();
  state.optimizer_step = optimizer_.step_count();
  state.optimizer_state = optimizer_.ExportState();
  state.rng = CaptureTorchRng();
  const nlohmann::json sidecar = sidecar_ ? sidecar_(progress) : nlohmann::json::object();

  const std::filesystem::path dir = CheckpointPath(progress.global_step);
  const std::string trainer_state =
      TrainerStateJson(progress, state.total_steps, options_.logging_steps, options_.save_steps,
                       options_.micro_batch_size, {{"lorad_probe", sidecar.value("probe", nlohmann::json())}});
  std::error_code ec;
  if (std::filesystem::exists(dir, ec)) {
    // Written moments ago for the same step (save_steps, then a stop or the
    // end at that step), or the checkpoint this run resumed from: complete by
    // construction (directories appear only by atomic rename).
    spdlog::info("{} already exists ({}): not written again", dir.string(), reason);
  } else {
    LORAD_RETURN_IF_ERROR(WriteDirAtomically(dir, [&](const std::filesystem::path& tmp) -> absl::Status {
      LORAD_RETURN_IF_ERROR(WriteAdapterFiles(tmp, model_, adapter_config_, sidecar, probe_batch_));
      LORAD_RETURN_IF_ERROR(WriteTrainingState(tmp, state));
      return WriteFileDurably(tmp / kTrainerStateFile, trainer_state);
    }));
    spdlog::info("saved {} ({})", dir.string(), reason);
  }
  nlohmann::json record = {{"type", "checkpoint"},
                           {"step", progress.global_step},
                           {"epoch", progress.epoch},
                           {"path", dir.string()},
                           {"reason", reason},
                           {"seconds", std::chrono::duration<double>(
                                           std::chrono::steady_clock::now() - started).count()},
                           {"bytes", DirectoryBytes(dir)}};
  if (sidecar.contains("probe")) record["probe_loss"] = sidecar["probe"].value("loss", nlohmann::json());
  observer_.OnRecord(record);

  if (options_.save_total_limit > 0) {
    std::vector<std::filesystem::path> keep = {options_.protected_checkpoint};
    if (best_) keep.push_back(CheckpointPath(best_->first));
    LORAD_RETURN_IF_ERROR(PruneCheckpoints(options_.output_dir, options_.save_total_limit, keep));
  }
  if (reason == "final") LORAD_RETURN_IF_ERROR(WriteFinalOutput(progress, sidecar));
  return absl::OkStatus();
}

std::filesystem::path CheckpointSaver::CheckpointPath(int64_t step) const {
  return options_.output_dir / absl::StrCat("checkpoint-", step);
}

void CheckpointSaver::set_best(int64_t step, double eval_loss) { best_ = {step, eval_loss}; }

absl::Status CheckpointSaver::WriteFinalOutput(const TrainingProgress& progress,
                                               const nlohmann::json& sidecar) {
  // Files land one by one (each via temp + rename): the final output is an
  // adapter directory, not a checkpoint, so no manifest is needed.
  const std::filesystem::path staging = options_.output_dir / ".final.tmp";
  std::error_code ec;
  std::filesystem::remove_all(staging, ec);
  std::filesystem::create_directories(staging, ec);
  if (ec) return ErrnoToStatus(ec.value(), "create", staging);
  nlohmann::json extra = {{"lorad_probe", sidecar.value("probe", nlohmann::json())}};
  const bool from_best = best_ && best_->first != progress.global_step;
  if (from_best) {
    // keep_best: the best checkpoint's adapter files, byte for byte (its
    // sidecar carries that state's probe loss and learning rates).
    const std::filesystem::path best = CheckpointPath(best_->first);
    for (const char* name : {"adapter_model.safetensors", "adapter_config.json",
                             kAdapterSidecarFile, kProbeBatchFile}) {
      if (!std::filesystem::exists(best / name)) continue;
      LORAD_ASSIGN_OR_RETURN(std::string bytes, ReadFileToString(best / name));
      LORAD_RETURN_IF_ERROR(WriteFileDurably(staging / name, bytes));
    }
    LORAD_ASSIGN_OR_RETURN(std::string best_sidecar, ReadFileToString(best / kAdapterSidecarFile));
    extra["lorad_probe"] =
        nlohmann::json::parse(best_sidecar, nullptr, false).value("probe", nlohmann::json());
  } else {
    LORAD_RETURN_IF_ERROR(
        WriteAdapterFiles(staging, model_, adapter_config_, sidecar, probe_batch_));
  }
  if (best_) {
    // HF's trainer_state.json names the best checkpoint the same way.
    extra["best_metric"] = best_->second;
    extra["best_model_checkpoint"] = CheckpointPath(best_->first).string();
  }
  LORAD_RETURN_IF_ERROR(WriteFileDurably(
      staging / kTrainerStateFile,
      TrainerStateJson(progress, static_state_.total_steps, options_.logging_steps,
                       options_.save_steps, options_.micro_batch_size, extra)));
  for (const char* name : {"adapter_model.safetensors", "adapter_config.json", kAdapterSidecarFile,
                           kTrainerStateFile, kProbeBatchFile}) {
    if (!std::filesystem::exists(staging / name)) continue;
    std::filesystem::rename(staging / name, options_.output_dir / name, ec);
    if (ec) return ErrnoToStatus(ec.value(), "rename into", options_.output_dir / name);
  }
  std::filesystem::remove_all(staging, ec);
  LORAD_RETURN_IF_ERROR(FsyncDirectory(options_.output_dir));
  nlohmann::json record = {{"type", "final"},
                           {"step", progress.global_step},
                           {"epoch", progress.epoch},
                           {"path", options_.output_dir.string()},
                           {"loss", progress.last_loss},
                           {"total_tokens", progress.total_tokens},
                           {"elapsed_seconds", progress.elapsed_seconds}};
  if (extra["lorad_probe"].is_object()) {
    record["probe_loss"] = extra["lorad_probe"].value("loss", nlohmann::json());
  }
  if (best_) {
    record["best_step"] = best_->first;
    record["best_eval_loss"] = best_->second;
    record["adapter_from"] = from_best ? CheckpointPath(best_->first).string() : "final state";
    spdlog::info("keep_best: the final adapter is {} (best eval loss {:.6g} at step {}{})",
                 from_best ? CheckpointPath(best_->first).string() : "the final state",
                 best_->second, best_->first, from_best ? "" : ", the last step");
  }
  observer_.OnRecord(record);
  return absl::OkStatus();
}

}  // namespace lorad
