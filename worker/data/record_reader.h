// Reads the records of one dataset file: .jsonl (one JSON object a line),
// .json (a top-level array of objects) or .txt (one sample a line).
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace lorad {

struct RecordReaderOptions {
  /// .txt lines become {text_field: line}.
  std::string text_field = "text";
  /// A longer line (or .json array element) is a bad line; bounds memory use.
  uint64_t max_record_bytes = uint64_t{64} << 20;
  /// A .json array is parsed whole; bigger files must be .jsonl.
  uint64_t max_json_file_bytes = uint64_t{1} << 30;
};

/// Streaming reader.  Each record carries its 1-based line number so that
/// every error can say `file:line: reason`.
class RecordReader {
 public:
  /// Fails (NOT_FOUND / INVALID_ARGUMENT) on a missing file, an unsupported
  /// extension, or a .json file that is not an array.
  static absl::StatusOr<std::unique_ptr<RecordReader>> Open(const std::filesystem::path& path,
                                                            const RecordReaderOptions& options);
  ~RecordReader();

  /// Reads the next record into *record.  Returns false at the end of the
  /// file.  A bad line returns INVALID_ARGUMENT "file:line: reason" and the
  /// reader stays usable: the next call continues after that line (this is
  /// how skip_bad_lines skips).
  absl::StatusOr<bool> Next(nlohmann::json* record);

  /// "file:line" of the record last returned (or of the failing line).
  std::string Where() const;
  int64_t line() const { return line_; }

 private:
  enum class Kind { kJsonl, kJsonArray, kText };
  RecordReader(std::filesystem::path path, Kind kind, RecordReaderOptions options);
  absl::StatusOr<bool> ReadLine(std::string* line);
  absl::Status IndexJsonArray();

  std::filesystem::path path_;
  Kind kind_;
  RecordReaderOptions options_;
  int64_t line_ = 0;
  // .jsonl / .txt: buffered reads (no std::getline: it would grow a line without bound).
  int fd_ = -1;
  std::vector<char> buf_;
  size_t buf_pos_ = 0, buf_len_ = 0;
  bool eof_ = false;
  // .json: the whole text and where each top-level element starts/ends.
  std::string json_text_;
  struct Element {
    size_t begin, end;
    int64_t line;
  };
  std::vector<Element> elements_;
  size_t next_element_ = 0;
};

}  // namespace lorad
