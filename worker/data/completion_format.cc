#include "worker/data/completion_format.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "worker/base/status_macros.h"

namespace lorad {

absl::Status CompletionFormat::Tokenize(const nlohmann::json& record,
                                        std::vector<Sample>* out) const {
  LORAD_ASSIGN_OR_RETURN(std::string text, StringField(record, field_, /*required=*/true));
  // Axolotl encodes with max_length = 64 × sequence_len before chunking.
  LORAD_ASSIGN_OR_RETURN(std::vector<int32_t> ids,
                         TokenizeLikeAxolotl(tokenizer_, text, sequence_len_ * 64,
                                             /*add_eos=*/true, /*strip_bos=*/false));
  for (size_t i = 0; i < ids.size(); i += static_cast<size_t>(sequence_len_)) {
    size_t end = std::min(ids.size(), i + static_cast<size_t>(sequence_len_));
    Sample s;
    s.input_ids.assign(ids.begin() + static_cast<std::ptrdiff_t>(i),
                       ids.begin() + static_cast<std::ptrdiff_t>(end));
    s.labels = s.input_ids;
    out->push_back(std::move(s));
  }
  return absl::OkStatus();
}

std::string CompletionFormat::Describe() const {
  return absl::StrCat("completion(field=", field_, ")");
}

}  // namespace lorad
