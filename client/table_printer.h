// Aligned plain-text tables (kubectl style: upper-case headers, columns
// separated by three spaces, no borders), so `awk '{print $1}'` works.
#pragma once

#include <string>
#include <vector>

namespace lorad {

class TablePrinter {
 public:
  explicit TablePrinter(std::vector<std::string> headers);

  /// Adds a row; missing trailing cells are blank, extra cells are an error in
  /// the caller and are dropped.
  void AddRow(std::vector<std::string> cells);

  size_t rows() const { return rows_.size(); }

  /// The table, each line ending in '\n'.  Widths count UTF-8 code points.
  std::string Render(bool with_headers) const;

 private:
  std::vector<std::string> headers_;
  std::vector<std::vector<std::string>> rows_;
};

/// Display width of UTF-8 text in columns (one per code point).
size_t DisplayWidth(const std::string& text);

}  // namespace lorad
