#include "worker/data/alpaca_format.h"

#include "absl/strings/str_cat.h"
#include "worker/base/status_macros.h"

namespace lorad {

std::string AlpacaFormat::BuildPrompt(const std::string& instruction, const std::string& input) {
  // Axolotl prompters.py AlpacaPrompter, PromptStyle.INSTRUCT (see FORMATS.md).
  if (!input.empty()) {
    return absl::StrCat(
        "Below is an instruction that describes a task, paired with an input that provides "
        "further context. Write a response that appropriately completes the request.\n\n"
        "### Instruction:\n",
        instruction, "\n\n### Input:\n", input, "\n\n### Response:\n");
  }
  return absl::StrCat(
      "Below is an instruction that describes a task. Write a response that appropriately "
      "completes the request.\n\n### Instruction:\n",
      instruction, "\n\n### Response:\n");
}

absl::Status AlpacaFormat::Tokenize(const nlohmann::json& record, std::vector<Sample>* out) const {
  LORAD_ASSIGN_OR_RETURN(std::string instruction, StringField(record, "instruction", true));
  LORAD_ASSIGN_OR_RETURN(std::string input, StringField(record, "input", false));
  LORAD_ASSIGN_OR_RETURN(std::string output, StringField(record, "output", true));
  Sample s;
  LORAD_ASSIGN_OR_RETURN(s.input_ids,
                         TokenizeLikeAxolotl(tokenizer_, BuildPrompt(instruction, input),
                                             sequence_len_, /*add_eos=*/false, /*strip_bos=*/false));
  if (train_on_inputs_) {
    s.labels = s.input_ids;
  } else {
    s.labels.assign(s.input_ids.size(), kIgnoreIndex);
  }
  LORAD_ASSIGN_OR_RETURN(std::vector<int32_t> response,
                         TokenizeLikeAxolotl(tokenizer_, output, sequence_len_,
                                             /*add_eos=*/true, /*strip_bos=*/true));
  s.input_ids.insert(s.input_ids.end(), response.begin(), response.end());
  s.labels.insert(s.labels.end(), response.begin(), response.end());
  out->push_back(std::move(s));
  return absl::OkStatus();
}

std::string AlpacaFormat::Describe() const {
  return absl::StrCat("alpaca(train_on_inputs=", train_on_inputs_ ? 1 : 0, ")");
}

}  // namespace lorad
