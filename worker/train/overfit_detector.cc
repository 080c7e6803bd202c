#include "worker/train/overfit_detector.h"

#include <cmath>

namespace lorad {

std::optional<std::vector<OverfitDetector::Point>> OverfitDetector::Observe(const Point& p) {
  if (window_ < 2) return std::nullopt;
  points_.push_back(p);
  while (static_cast<int64_t>(points_.size()) > window_) points_.pop_front();
  bool pattern = static_cast<int64_t>(points_.size()) == window_;
  for (size_t i = 1; pattern && i < points_.size(); ++i) {
    const Point& a = points_[i - 1];
    const Point& b = points_[i];
    pattern = std::isfinite(b.eval_loss) && std::isfinite(b.train_loss) &&
              b.eval_loss > a.eval_loss && b.train_loss < a.train_loss;
  }
  if (!pattern) {
    active_ = false;
    return std::nullopt;
  }
  if (active_) return std::nullopt;
  active_ = true;
  return std::vector<Point>(points_.begin(), points_.end());
}

}  // namespace lorad
