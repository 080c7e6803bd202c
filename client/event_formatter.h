// Human one-line renderings of jobs' events and states (the plain output of
// `logs`, and the lines printed above the live progress line).
#pragma once

#include <string>

#include <google/protobuf/timestamp.pb.h>

#include "absl/time/time.h"
#include "lorad/v1/lorad.pb.h"

namespace lorad {

/// "RUNNING" for JOB_STATE_RUNNING.
std::string StateName(v1::JobState state);

/// True for SUCCEEDED, FAILED and CANCELLED.
bool IsFinalState(v1::JobState state);

/// "2026-11-29T20:30:01Z"; "-" when unset.
std::string FormatTime(const google::protobuf::Timestamp& ts);

/// Time since `ts`: "42s", "5m", "3h", "2d"; "-" when unset.
std::string FormatAge(const google::protobuf::Timestamp& ts, absl::Time now);

/// "12.3 MiB".
std::string FormatBytes(int64_t bytes);

/// One line, no newline:  "#12 20:30:01 step 20/100 loss=1.2345 lr=2.00e-04 ...".
/// `with_seq`: prefix with "#SEQ TIME" (logs); without: the bare description
/// (above the progress line).
std::string FormatEventLine(const v1::JobEvent& event, bool with_seq = true);

}  // namespace lorad
