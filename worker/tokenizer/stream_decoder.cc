#include "worker/tokenizer/stream_decoder.h"

namespace lorad {
namespace {

bool EndsWithReplacement(const std::string& s) {
  static const std::string kReplacement = "\xEF\xBF\xBD";  // U+FFFD
  return s.size() >= kReplacement.size() &&
         s.compare(s.size() - kReplacement.size(), kReplacement.size(), kReplacement) == 0;
}

}  // namespace

std::string StreamDecoder::Window(size_t begin, size_t end) const {
  return tokenizer_.Decode(std::vector<int32_t>(ids_.begin() + static_cast<ptrdiff_t>(begin),
                                                ids_.begin() + static_cast<ptrdiff_t>(end)),
                           skip_special_);
}

std::string StreamDecoder::Push(int32_t id) {
  ids_.push_back(id);
  const std::string prefix = Window(prefix_offset_, read_offset_);
  const std::string text = Window(prefix_offset_, ids_.size());
  if (text.size() <= prefix.size() || EndsWithReplacement(text)) return "";
  // The window restarts at the emitted tokens: they give the next token the
  // context its decoder needs (a leading space, the rest of a character).
  prefix_offset_ = read_offset_;
  read_offset_ = ids_.size();
  return text.substr(prefix.size());
}

std::string StreamDecoder::Finish() {
  if (read_offset_ == ids_.size()) return "";
  const std::string prefix = Window(prefix_offset_, read_offset_);
  const std::string text = Window(prefix_offset_, ids_.size());
  prefix_offset_ = read_offset_ = ids_.size();
  return text.size() > prefix.size() ? text.substr(prefix.size()) : "";
}

}  // namespace lorad
