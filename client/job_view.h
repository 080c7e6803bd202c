// Table and describe renderings of jobs, checkpoints and workers (-o table).
#pragma once

#include <string>
#include <vector>

#include "absl/time/time.h"
#include "client/table_printer.h"
#include "lorad/v1/lorad.pb.h"

namespace lorad {

/// ID NAME STATE STEP LOSS ATTEMPT AGE
TablePrinter JobsTable(const std::vector<v1::Job>& jobs, absl::Time now);

/// The row of one job in JobsTable (for `list --watch` updates).
std::vector<std::string> JobRow(const v1::Job& job, absl::Time now);

/// `loractl get`: "key:  value" lines, the config YAML last.
std::string DescribeJob(const v1::Job& job, absl::Time now);

/// STEP ATTEMPT TIME ON-DISK PATH
TablePrinter CheckpointsTable(const std::vector<v1::Checkpoint>& checkpoints);

/// ID STATE DEVICES JOB PID HOST HEARTBEAT RESTARTS
TablePrinter WorkersTable(const std::vector<v1::Worker>& workers, absl::Time now);

}  // namespace lorad
