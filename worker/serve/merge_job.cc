#include "worker/serve/merge_job.h"

#include "absl/strings/str_cat.h"
#include "spdlog/spdlog.h"
#include "worker/model/merge_adapter.h"
#include "worker/serve/output_dir_lock.h"

namespace lorad {

absl::Status RunMergeJob(const v1::MergeTask& task, int attempt, const MergeRecordFn& emit,
                         const std::atomic<bool>& stop, int64_t lock_wait_ms) {
  MergeOptions o;
  o.model_dir = task.model_dir();
  o.adapter_dir = task.adapter_dir();
  o.out_dir = task.out_dir();
  if (task.dtype() == "bf16") {
    o.dtype = DType::kBF16;
  } else if (task.dtype() == "f16") {
    o.dtype = DType::kF16;
  } else if (task.dtype() == "f32") {
    o.dtype = DType::kF32;
  } else if (!task.dtype().empty()) {
    return absl::InvalidArgumentError(absl::StrCat("merge dtype \"", task.dtype(),
                                                   "\" is not bf16, f16 or f32"));
  }
  if (task.max_shard_bytes() > 0) o.max_shard_bytes = static_cast<uint64_t>(task.max_shard_bytes());
  // An earlier attempt may have moved its result into place before it was
  // lost: replacing it is replacing this job's own output.
  o.force = task.force() || attempt > 1;
  o.stop = &stop;
  if (task.model_dir().empty() || task.adapter_dir().empty() || task.out_dir().empty()) {
    return absl::InvalidArgumentError(
        "merge assignment without model_dir, adapter_dir or out_dir (lorad too old?)");
  }
  auto lock = OutputDirLock::AcquireBeside(task.out_dir(), lock_wait_ms);
  if (!lock.ok()) return lock.status();
  spdlog::info("merging the adapter {} into {} → {}", task.adapter_dir(), task.model_dir(),
               task.out_dir());
  // The record is the progress report (a log line as well would say it twice).
  auto report = MergeAdapter(o, [&](const MergeProgress& p) {
    emit({{"type", "merge_progress"},
          {"shard", p.shard},
          {"num_shards", p.num_shards},
          {"file", p.file.string()},
          {"bytes", p.bytes}});
  });
  if (!report.ok()) return report.status();
  // "final" as a training job's, so lorad records a FinalResult the same way.
  emit({{"type", "final"},
        {"kind", "merge"},
        {"output_dir", task.out_dir()},
        {"source_job_id", task.source_job_id()},
        {"merged_modules", report->merged_modules},
        {"tensors", report->tensors},
        {"total_bytes", report->total_bytes},
        {"dtype", std::string(DTypeName(report->dtype))},
        {"weight_files", report->weight_files},
        {"copied_files", report->copied_files}});
  return absl::OkStatus();
}

}  // namespace lorad
