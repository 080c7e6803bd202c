// The overfitting warning: over the last `window` evaluations the eval loss
// rose at every evaluation while the mean training loss between evaluations
// fell at every one.  Fires once per episode (again only after the pattern has
// broken), with or without early stopping.  No LibTorch.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <vector>

namespace lorad {

class OverfitDetector {
 public:
  /// window < 2: never fires (overfitting_window 0 turns it off).
  explicit OverfitDetector(int64_t window) : window_(window) {}

  struct Point {
    int64_t step = 0;
    double train_loss = 0;  // mean training loss since the previous evaluation
    double eval_loss = 0;
  };
  /// The last `window` points when the pattern first appears, else nullopt.
  std::optional<std::vector<Point>> Observe(const Point& p);

 private:
  int64_t window_;
  std::deque<Point> points_;
  bool active_ = false;  // already reported this episode
};

}  // namespace lorad
