#include "worker/data/record_reader.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "worker/base/file_util.h"
#include "worker/base/status_macros.h"

namespace lorad {
namespace {

constexpr size_t kReadChunk = size_t{1} << 16;

// nlohmann's messages start with "[json.exception.parse_error.101] "; the
// user needs only the part after it.
std::string ShortJsonError(const std::exception& e) {
  std::string msg = e.what();
  if (!msg.empty() && msg[0] == '[') {
    size_t close = msg.find("] ");
    if (close != std::string::npos) msg = msg.substr(close + 2);
  }
  return msg;
}

bool IsJsonSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// Strict UTF-8 check (no overlongs, no surrogates, <= U+10FFFF): .txt lines go
// to the tokenizer as text, and a broken byte sequence there is a bad line.
bool IsValidUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    size_t n;
    uint32_t cp;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      n = 1, cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      n = 2, cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      n = 3, cp = c & 0x07;
    } else {
      return false;
    }
    if (i + n >= s.size()) return false;  // truncated sequence
    for (size_t k = 1; k <= n; ++k) {
      unsigned char cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
        cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
      return false;
    }
    i += n + 1;
  }
  return true;
}

}  // namespace

RecordReader::RecordReader(std::filesystem::path path, Kind kind, RecordReaderOptions options)
    : path_(std::move(path)), kind_(kind), options_(std::move(options)) {}

RecordReader::~RecordReader() {
  if (fd_ >= 0) ::close(fd_);
}

absl::StatusOr<std::unique_ptr<RecordReader>> RecordReader::Open(
    const std::filesystem::path& path, const RecordReaderOptions& options) {
  std::string ext = path.extension().string();
  Kind kind;
  if (ext == ".jsonl") {
    kind = Kind::kJsonl;
  } else if (ext == ".json") {
    kind = Kind::kJsonArray;
  } else if (ext == ".txt") {
    kind = Kind::kText;
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat(path.string(), ": unsupported dataset file extension '", ext,
                     "' (supported: .jsonl, .json with a top-level array, .txt)"));
  }
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    return absl::NotFoundError(absl::StrCat(path.string(), ": dataset file not found"));
  }
  std::unique_ptr<RecordReader> reader(new RecordReader(path, kind, options));
  if (kind == Kind::kJsonArray) {
    LORAD_ASSIGN_OR_RETURN(reader->json_text_,
                           ReadFileToString(path, options.max_json_file_bytes));
    LORAD_RETURN_IF_ERROR(reader->IndexJsonArray());
  } else {
    reader->fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (reader->fd_ < 0) return ErrnoToStatus(errno, "open", path);
    reader->buf_.resize(kReadChunk);
  }
  return reader;
}

std::string RecordReader::Where() const { return absl::StrCat(path_.string(), ":", line_); }

absl::StatusOr<bool> RecordReader::ReadLine(std::string* line) {
  line->clear();
  bool got_any = false;
  bool too_long = false;
  while (true) {
    if (buf_pos_ == buf_len_) {
      if (eof_) break;
      ssize_t n;
      do {
        n = ::read(fd_, buf_.data(), buf_.size());
      } while (n < 0 && errno == EINTR);
      if (n < 0) return ErrnoToStatus(errno, "read", path_);
      if (n == 0) {
        eof_ = true;
        break;
      }
      buf_pos_ = 0;
      buf_len_ = static_cast<size_t>(n);
    }
    got_any = true;
    const char* begin = buf_.data() + buf_pos_;
    size_t avail = buf_len_ - buf_pos_;
    const void* nl = memchr(begin, '\n', avail);
    size_t take = nl ? static_cast<size_t>(static_cast<const char*>(nl) - begin) : avail;
    if (!too_long) {
      if (line->size() + take > options_.max_record_bytes) {
        too_long = true;  // keep consuming the line, but stop storing it
        line->clear();
      } else {
        line->append(begin, take);
      }
    }
    buf_pos_ += take;
    if (nl) {
      ++buf_pos_;  // the '\n'
      break;
    }
  }
  if (!got_any) return false;
  ++line_;
  if (too_long) {
    return absl::InvalidArgumentError(absl::StrCat(
        Where(), ": line longer than ", options_.max_record_bytes, " bytes"));
  }
  if (!line->empty() && line->back() == '\r') line->pop_back();
  return true;
}

absl::Status RecordReader::IndexJsonArray() {
  const std::string& t = json_text_;
  size_t i = 0;
  int64_t line = 1;
  auto skip_space = [&] {
    while (i < t.size() && IsJsonSpace(t[i])) {
      if (t[i] == '\n') ++line;
      ++i;
    }
  };
  auto error = [&](const std::string& why) {
    return absl::InvalidArgumentError(absl::StrCat(path_.string(), ":", line, ": ", why));
  };
  if (t.compare(0, 3, "\xEF\xBB\xBF") == 0) i = 3;  // UTF-8 byte order mark
  skip_space();
  if (i >= t.size() || t[i] != '[') {
    return error(
        "a .json dataset must hold a top-level array of records (use .jsonl for one object "
        "a line)");
  }
  ++i;
  skip_space();
  if (i < t.size() && t[i] == ']') {
    ++i;
  } else {
    // Split the array at top-level commas without parsing: each element is
    // parsed on its own later, so one bad element is one bad "line".
    while (true) {
      skip_space();
      if (i >= t.size()) return error("unterminated JSON array");
      Element el{i, i, line};
      int depth = 0;
      bool in_string = false;
      bool closed_array = false;
      for (; i < t.size(); ++i) {
        char c = t[i];
        if (c == '\n') ++line;
        if (in_string) {
          if (c == '\\') {
            if (i + 1 < t.size() && t[i + 1] == '\n') ++line;
            ++i;
          } else if (c == '"') {
            in_string = false;
          }
          continue;
        }
        if (c == '"') {
          in_string = true;
        } else if (c == '{' || c == '[') {
          ++depth;
        } else if (c == '}' || c == ']') {
          if (depth == 0) {
            if (c == '}') return error("unbalanced '}' in JSON array");
            closed_array = true;
            break;
          }
          --depth;
        } else if (c == ',' && depth == 0) {
          break;
        }
      }
      if (i >= t.size()) return error("unterminated JSON array");
      el.end = i;
      while (el.end > el.begin && IsJsonSpace(t[el.end - 1])) --el.end;
      elements_.push_back(el);
      ++i;  // ',' or ']'
      if (closed_array) break;
    }
  }
  skip_space();
  if (i != t.size()) return error("unexpected text after the JSON array");
  return absl::OkStatus();
}

absl::StatusOr<bool> RecordReader::Next(nlohmann::json* record) {
  if (kind_ == Kind::kJsonArray) {
    if (next_element_ >= elements_.size()) return false;
    const Element& el = elements_[next_element_++];
    line_ = el.line;
    if (el.end == el.begin) return absl::InvalidArgumentError(Where() + ": empty array element");
    if (el.end - el.begin > options_.max_record_bytes) {
      return absl::InvalidArgumentError(absl::StrCat(Where(), ": record longer than ",
                                                     options_.max_record_bytes, " bytes"));
    }
    try {
      *record = nlohmann::json::parse(json_text_.begin() + el.begin, json_text_.begin() + el.end);
    } catch (const std::exception& e) {
      return absl::InvalidArgumentError(absl::StrCat(Where(), ": invalid JSON: ", ShortJsonError(e)));
    }
    if (!record->is_object()) {
      return absl::InvalidArgumentError(Where() + ": record is not a JSON object");
    }
    return true;
  }
  std::string line;
  while (true) {
    LORAD_ASSIGN_OR_RETURN(bool got, ReadLine(&line));
    if (!got) return false;
    // Blank lines carry no sample (a trailing newline at the end of a file is common).
    bool blank = true;
    for (char c : line) blank = blank && IsJsonSpace(c);
    if (!blank) break;
  }
  if (kind_ == Kind::kText) {
    if (!IsValidUtf8(line)) return absl::InvalidArgumentError(Where() + ": invalid UTF-8");
    *record = nlohmann::json::object({{options_.text_field, std::move(line)}});
    return true;
  }
  try {
    *record = nlohmann::json::parse(line);
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(Where(), ": invalid JSON: ", ShortJsonError(e)));
  }
  if (!record->is_object()) {
    return absl::InvalidArgumentError(Where() + ": record is not a JSON object");
  }
  return true;
}

}  // namespace lorad
