// `loractl loss JOB`: the loss curve drawn in the terminal with Unicode
// braille (2x4 dots per character cell), eval losses marked on top.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace lorad {

class LossPlot {
 public:
  void AddTrain(int64_t step, double loss);
  void AddEval(int64_t step, double loss);

  size_t train_points() const { return train_.size(); }
  size_t eval_points() const { return eval_.size(); }

  /// The plot, `width` columns by `height` plot rows plus the axis and a
  /// legend; each line ends in '\n'.  Non-finite losses are skipped (and
  /// counted in the legend).  With no points: a one-line explanation.
  std::string Render(int width, int height) const;

 private:
  struct Point {
    int64_t step;
    double loss;
  };
  std::vector<Point> train_;
  std::vector<Point> eval_;
  int skipped_ = 0;
};

}  // namespace lorad
