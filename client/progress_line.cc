#include "client/progress_line.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "client/table_printer.h"

namespace lorad {

void ProgressLine::Update(const StepProgress& progress, double clock_seconds) {
  // A resumed attempt re-runs steps: the old window's rate no longer applies.
  if (has_step_ && (progress.step < last_.step || progress.attempt != last_.attempt)) {
    window_.clear();
  }
  if (!window_.empty() && clock_seconds < window_.back().first) window_.clear();
  window_.emplace_back(clock_seconds, progress.step);
  while (window_.size() > kWindow) window_.pop_front();
  last_ = progress;
  has_step_ = true;
}

std::optional<double> ProgressLine::EtaSeconds() const {
  if (!has_step_ || last_.total_steps <= 0 || window_.size() < 2) return std::nullopt;
  const double dt = window_.back().first - window_.front().first;
  const double dsteps = static_cast<double>(window_.back().second - window_.front().second);
  if (dt <= 0 || dsteps <= 0) return std::nullopt;
  const double remaining = static_cast<double>(std::max<int64_t>(0, last_.total_steps - last_.step));
  return remaining * dt / dsteps;
}

std::string FormatEta(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  const int64_t s = static_cast<int64_t>(std::llround(seconds));
  if (s < 60) return absl::StrCat(s, "s");
  if (s < 3600) return absl::StrFormat("%dm%02ds", s / 60, s % 60);
  if (s < 86400) return absl::StrFormat("%dh%02dm", s / 3600, (s % 3600) / 60);
  return absl::StrFormat("%dd%02dh", s / 86400, (s % 86400) / 3600);
}

std::string FormatCompact(double value) {
  if (!std::isfinite(value)) return "?";
  const double a = std::fabs(value);
  if (a >= 1e9) return absl::StrFormat("%.1fG", value / 1e9);
  if (a >= 1e6) return absl::StrFormat("%.1fM", value / 1e6);
  if (a >= 1e4) return absl::StrFormat("%.0fk", value / 1e3);
  if (a >= 1e3) return absl::StrFormat("%.1fk", value / 1e3);
  return absl::StrFormat("%.0f", value);
}

std::string RenderBar(double fraction, int width) {
  static const char* const kEighths[] = {"", "▏", "▎", "▍", "▌", "▋", "▊", "▉"};
  if (width <= 0) return "";
  if (!std::isfinite(fraction)) fraction = 0;
  fraction = std::clamp(fraction, 0.0, 1.0);
  const int64_t eighths = std::llround(fraction * width * 8);
  const int full = static_cast<int>(eighths / 8);
  const int partial = static_cast<int>(eighths % 8);
  std::string out;
  for (int i = 0; i < full; ++i) out += "█";
  int used = full;
  if (partial > 0 && used < width) {
    out += kEighths[partial];
    ++used;
  }
  for (; used < width; ++used) out += "░";
  return out;
}

std::string ProgressLine::Render(int width) const {
  if (!has_step_) return "waiting for the first step...";
  const StepProgress& p = last_;
  const bool known_total = p.total_steps > 0;
  const std::string head = known_total ? absl::StrCat("step ", p.step, "/", p.total_steps)
                                       : absl::StrCat("step ", p.step);
  std::string tail;
  if (known_total) {
    const double pct = 100.0 * static_cast<double>(p.step) / static_cast<double>(p.total_steps);
    absl::StrAppend(&tail, absl::StrFormat(" %3.0f%%", std::min(pct, 100.0)));
  }
  absl::StrAppend(&tail, absl::StrFormat(" loss %.4f lr %.2e", p.loss, p.learning_rate));
  if (p.tokens_per_second > 0) {
    absl::StrAppend(&tail, " ", FormatCompact(p.tokens_per_second), " tok/s");
  }
  if (std::optional<double> eta = EtaSeconds()) absl::StrAppend(&tail, " ETA ", FormatEta(*eta));
  if (p.attempt > 1) absl::StrAppend(&tail, " (attempt ", p.attempt, ")");

  const int fixed = static_cast<int>(DisplayWidth(head) + DisplayWidth(tail));
  const int room = width - fixed - 1;  // one space before the bar
  if (known_total && room >= 10) {
    const double fraction = static_cast<double>(p.step) / static_cast<double>(p.total_steps);
    return absl::StrCat(head, " ", RenderBar(fraction, std::min(room, 30)), tail);
  }
  std::string line = absl::StrCat(head, tail);
  // Narrow terminals: cut rather than wrap (a wrapped line cannot be redrawn).
  if (width > 0 && static_cast<int>(line.size()) > width) line.resize(width);
  return line;
}

}  // namespace lorad
