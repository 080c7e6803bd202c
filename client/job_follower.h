// Prints a job's event stream: plain one-line records, JSON Lines / YAML
// documents, or — on a terminal — a live progress line with the other events
// printed above it.
#pragma once

#include <chrono>
#include <optional>
#include <ostream>
#include <string>

#include "absl/status/statusor.h"
#include "client/command_line.h"
#include "client/lorad_client.h"
#include "client/progress_line.h"

namespace lorad {

struct FollowOutput {
  std::ostream* events = nullptr;    // event lines / JSON items
  std::ostream* terminal = nullptr;  // live progress line; nullptr = none (not a TTY)
  int width = 80;                    // columns of `terminal`
  OutputFormat format = OutputFormat::kTable;
};

class JobFollower {
 public:
  JobFollower(LoradClient& client, FollowOutput output) : client_(client), out_(output) {}

  /// Streams and prints the events after `after_seq` (to the job's end with
  /// `follow`).  Returns the final state the stream reported, or
  /// JOB_STATE_UNSPECIFIED if it ended without one.
  absl::StatusOr<v1::JobState> Run(const std::string& job_id, int64_t after_seq, bool follow);

  /// The final_result event, if one was seen.
  const std::optional<v1::FinalResult>& final_result() const { return final_result_; }

 private:
  absl::Status OnEvent(const v1::JobEvent& event);
  void DrawProgress(bool force);
  void ClearProgress();
  bool live() const { return out_.terminal != nullptr && out_.format == OutputFormat::kTable; }

  LoradClient& client_;
  FollowOutput out_;
  ProgressLine progress_;
  bool line_open_ = false;
  std::chrono::steady_clock::time_point last_draw_{};
  v1::JobState final_state_ = v1::JOB_STATE_UNSPECIFIED;
  std::optional<v1::FinalResult> final_result_;
};

}  // namespace lorad
