#include "client/job_follower.h"

#include "client/event_formatter.h"
#include "client/interrupt_handler.h"
#include "client/message_printer.h"
#include "worker/base/status_macros.h"

namespace lorad {

absl::StatusOr<v1::JobState> JobFollower::Run(const std::string& job_id, int64_t after_seq,
                                              bool follow) {
  client_.set_reconnect_notice([this](const std::string& message) {
    ClearProgress();
    if (out_.events) *out_.events << std::flush;
    if (out_.terminal) *out_.terminal << message << '\n' << std::flush;
    DrawProgress(true);
  });
  absl::Status status = client_.WatchJob(
      job_id, after_seq, follow, [this](const v1::JobEvent& e) { return OnEvent(e); });
  client_.set_reconnect_notice(nullptr);
  // Leave the last progress line on screen, ended, so the outcome is visible.
  if (line_open_) {
    DrawProgress(true);
    *out_.terminal << '\n' << std::flush;
    line_open_ = false;
    InterruptHandler::SetLineOpen(false);
  }
  LORAD_RETURN_IF_ERROR(status);
  return final_state_;
}

absl::Status JobFollower::OnEvent(const v1::JobEvent& event) {
  if (event.has_state_change() && IsFinalState(event.state_change().to_state())) {
    final_state_ = event.state_change().to_state();
  }
  if (event.has_final_result()) {
    final_result_ = event.final_result();
    if (IsFinalState(event.final_result().state())) final_state_ = event.final_result().state();
  }
  if (out_.format == OutputFormat::kJson || out_.format == OutputFormat::kYaml) {
    return MessagePrinter(out_.format, *out_.events).PrintItem(event);
  }
  if (live() && event.has_step()) {
    const v1::StepRecord& s = event.step();
    StepProgress p;
    p.step = s.step();
    p.total_steps = s.total_steps();
    p.loss = s.loss();
    p.learning_rate = s.learning_rate();
    p.tokens_per_second = s.tokens_per_second();
    p.attempt = event.attempt();
    // The trainer's own clock when it has one (replays arrive in a burst).
    const double clock = s.elapsed_seconds() > 0
                             ? s.elapsed_seconds()
                             : static_cast<double>(event.time().seconds()) +
                                   event.time().nanos() * 1e-9;
    progress_.Update(p, clock);
    DrawProgress(p.total_steps > 0 && p.step >= p.total_steps);
    return absl::OkStatus();
  }
  ClearProgress();
  *out_.events << FormatEventLine(event) << '\n' << std::flush;
  DrawProgress(true);
  return absl::OkStatus();
}

void JobFollower::ClearProgress() {
  if (line_open_) *out_.terminal << "\r\033[2K" << std::flush;
}

void JobFollower::DrawProgress(bool force) {
  if (!live() || !progress_.has_step()) return;
  // Redraw at most ~10 times a second: tiny models log hundreds of steps a second.
  const auto now = std::chrono::steady_clock::now();
  if (!force && line_open_ && now - last_draw_ < std::chrono::milliseconds(100)) return;
  last_draw_ = now;
  *out_.terminal << "\r\033[2K" << progress_.Render(out_.width - 1) << std::flush;
  line_open_ = true;
  InterruptHandler::SetLineOpen(true);
}

}  // namespace lorad
