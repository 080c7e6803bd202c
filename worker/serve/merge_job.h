// A merge job on a worker (`loractl merge JOB --out DIR`): the streaming merge
// of worker/model/merge_adapter, reported as records through the same path as
// a training job's (a `merge_progress` record per shard, then `final`).  No
// LibTorch in here: merge_adapter.h is torch-free.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>

#include "absl/status/status.h"
#include "lorad/v1/lorad.pb.h"
#include "nlohmann/json.hpp"

namespace lorad {

using MergeRecordFn = std::function<void(const nlohmann::json& record)>;

/// Runs `task` (attempt `attempt`, 1-based) under the lock beside its out_dir.
/// A later attempt may replace what an earlier one of the same job left in
/// out_dir (lorad gave the job that directory at submit).  `stop` set:
/// CANCELLED before the next tensor, out_dir untouched.
absl::Status RunMergeJob(const v1::MergeTask& task, int attempt, const MergeRecordFn& emit,
                         const std::atomic<bool>& stop, int64_t lock_wait_ms);

}  // namespace lorad
