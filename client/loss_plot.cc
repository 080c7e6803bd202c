#include "client/loss_plot.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace lorad {
namespace {

// Bit of dot (dx, dy) inside a braille cell (Unicode's dot numbering).
uint8_t BrailleBit(int dx, int dy) {
  static const uint8_t kBits[4][2] = {{0x01, 0x08}, {0x02, 0x10}, {0x04, 0x20}, {0x40, 0x80}};
  return kBits[dy][dx];
}

std::string Utf8(uint32_t cp) {
  std::string s;
  if (cp < 0x80) {
    s += static_cast<char>(cp);
  } else if (cp < 0x800) {
    s += static_cast<char>(0xC0 | (cp >> 6));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    s += static_cast<char>(0xE0 | (cp >> 12));
    s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  }
  return s;
}

std::string Label(double v) { return absl::StrFormat("%.4g", v); }

}  // namespace

void LossPlot::AddTrain(int64_t step, double loss) {
  if (!std::isfinite(loss)) {
    ++skipped_;
    return;
  }
  train_.push_back({step, loss});
}

void LossPlot::AddEval(int64_t step, double loss) {
  if (!std::isfinite(loss)) {
    ++skipped_;
    return;
  }
  eval_.push_back({step, loss});
}

std::string LossPlot::Render(int width, int height) const {
  if (train_.empty() && eval_.empty()) return "no loss recorded yet\n";
  height = std::max(height, 2);
  int64_t min_step = INT64_MAX, max_step = INT64_MIN;
  double lo = INFINITY, hi = -INFINITY;
  for (const auto* series : {&train_, &eval_}) {
    for (const Point& p : *series) {
      min_step = std::min(min_step, p.step);
      max_step = std::max(max_step, p.step);
      lo = std::min(lo, p.loss);
      hi = std::max(hi, p.loss);
    }
  }
  if (hi - lo < 1e-12) {  // a flat line: give it a visible band
    const double pad = std::max(std::fabs(hi) * 0.05, 1e-3);
    lo -= pad;
    hi += pad;
  }
  const std::string top = Label(hi), mid = Label((hi + lo) / 2), bottom = Label(lo);
  const int label_w = static_cast<int>(std::max({top.size(), mid.size(), bottom.size()}));
  const int cols = std::max(width - label_w - 2, 8);  // " ┤" after the label
  const int dots_x = cols * 2, dots_y = height * 4;

  std::vector<uint8_t> cells(static_cast<size_t>(cols) * height, 0);
  std::vector<bool> eval_mark(cells.size(), false);
  auto to_x = [&](int64_t step) {
    if (max_step == min_step) return dots_x / 2;
    return static_cast<int>(std::lround(static_cast<double>(step - min_step) * (dots_x - 1) /
                                        static_cast<double>(max_step - min_step)));
  };
  auto to_y = [&](double loss) {  // 0 = top
    return static_cast<int>(std::lround((hi - loss) * (dots_y - 1) / (hi - lo)));
  };
  auto plot = [&](int x, int y) {
    x = std::clamp(x, 0, dots_x - 1);
    y = std::clamp(y, 0, dots_y - 1);
    cells[static_cast<size_t>(y / 4) * cols + x / 2] |= BrailleBit(x % 2, y % 4);
  };
  // Train: consecutive points joined by lines (Bresenham), so sparse logging
  // still reads as a curve and noise shows as a band.
  for (size_t i = 0; i < train_.size(); ++i) {
    int x1 = to_x(train_[i].step), y1 = to_y(train_[i].loss);
    if (i == 0) {
      plot(x1, y1);
      continue;
    }
    int x0 = to_x(train_[i - 1].step), y0 = to_y(train_[i - 1].loss);
    const int dx = std::abs(x1 - x0), sx = x0 < x1 ? 1 : -1;
    const int dy = -std::abs(y1 - y0), sy = y0 < y1 ? 1 : -1;
    int err = dx + dy;
    while (true) {
      plot(x0, y0);
      if (x0 == x1 && y0 == y1) break;
      const int e2 = 2 * err;
      if (e2 >= dy) { err += dy; x0 += sx; }
      if (e2 <= dx) { err += dx; y0 += sy; }
    }
  }
  for (const Point& p : eval_) {
    const int x = std::clamp(to_x(p.step), 0, dots_x - 1), y = std::clamp(to_y(p.loss), 0, dots_y - 1);
    eval_mark[static_cast<size_t>(y / 4) * cols + x / 2] = true;
  }

  std::string out;
  for (int row = 0; row < height; ++row) {
    std::string label;
    if (row == 0) label = top;
    else if (row == height - 1) label = bottom;
    else if (row == height / 2 && height >= 5) label = mid;
    absl::StrAppend(&out, std::string(label_w - label.size(), ' '), label, label.empty() ? " │" : " ┤");
    for (int c = 0; c < cols; ++c) {
      const size_t i = static_cast<size_t>(row) * cols + c;
      if (eval_mark[i]) out += "●";
      else if (cells[i] == 0) out += ' ';
      else out += Utf8(0x2800 + cells[i]);
    }
    out += '\n';
  }
  absl::StrAppend(&out, std::string(label_w + 1, ' '), "└");
  for (int c = 0; c < cols; ++c) out += "─";
  out += '\n';
  const std::string left = absl::StrCat("step ", min_step), right = absl::StrCat(max_step);
  std::string axis(label_w + 2, ' ');
  axis += left;
  const int pad = cols - static_cast<int>(left.size() + right.size());
  axis += std::string(std::max(pad, 1), ' ');
  axis += right;
  out += axis + '\n';
  std::string legend = absl::StrCat(std::string(label_w + 2, ' '), "⣀ train loss");
  if (!train_.empty()) {
    absl::StrAppend(&legend, " (", train_.size(), " points, last ", Label(train_.back().loss), ")");
  }
  if (!eval_.empty()) {
    absl::StrAppend(&legend, "   ● eval loss (last ", Label(eval_.back().loss), ")");
  }
  if (skipped_ > 0) absl::StrAppend(&legend, "   ", skipped_, " non-finite skipped");
  return out + legend + '\n';
}

}  // namespace lorad
