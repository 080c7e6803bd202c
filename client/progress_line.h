// The live one-line progress display of `--follow` / `logs -f` on a terminal:
//   step 120/1000 ███▍░░░░░░ 12% loss 1.2345 lr 2.00e-04 1.2k tok/s ETA 3m12s
// Pure rendering and ETA arithmetic: the terminal handling is the caller's.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <utility>

namespace lorad {

struct StepProgress {
  int64_t step = 0;
  int64_t total_steps = 0;  // 0 = unknown
  double loss = 0;
  double learning_rate = 0;
  double tokens_per_second = 0;
  int32_t attempt = 0;
};

class ProgressLine {
 public:
  /// Records a step.  `clock_seconds` is any monotonic time of that step (the
  /// trainer's elapsed seconds, or the event's timestamp); the ETA comes from
  /// the step rate over the recent window, so a replayed history (events
  /// arriving in a burst) still gets a sensible ETA.
  void Update(const StepProgress& progress, double clock_seconds);

  bool has_step() const { return has_step_; }
  const StepProgress& last() const { return last_; }

  /// Seconds to the last step at the recent rate; nullopt when unknown.
  std::optional<double> EtaSeconds() const;

  /// The line, at most `width` columns (the bar shrinks, then goes).
  std::string Render(int width) const;

 private:
  static constexpr size_t kWindow = 20;  // steps the rate is averaged over
  bool has_step_ = false;
  StepProgress last_;
  std::deque<std::pair<double, int64_t>> window_;  // (clock, step)
};

/// "45s", "3m12s", "2h05m", "3d04h".
std::string FormatEta(double seconds);

/// 950, 1.2k, 3.4M: compact rates.
std::string FormatCompact(double value);

/// A bar of `width` cells filled to `fraction` with eighth-blocks.
std::string RenderBar(double fraction, int width);

}  // namespace lorad
