// A small, deterministic byte-level BPE trainer, used by `lorad-worker
// init-model` to give random-init models a real tokenizer (Llama-3 style:
// Split regex + ByteLevel, BOS added by a TemplateProcessing post-processor).
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace lorad {

struct BpeTrainerOptions {
  /// Upper bound on merges learned; training stops earlier when no pair occurs twice.
  int num_merges = 400;
  /// Added as special tokens after the learned vocabulary, in this order.  The first
  /// three are BOS, EOS and pad; "<|im_start|>"/"<|im_end|>" make ChatML usable.
  std::vector<std::string> special_tokens = {"<s>", "</s>", "<pad>", "<|im_start|>", "<|im_end|>"};
};

struct TrainedTokenizerFiles {
  std::string tokenizer_json;         // Hugging Face tokenizer.json
  std::string tokenizer_config_json;  // tokenizer_config.json (bos/eos/pad, chat_template)
};

/// Trains on `texts` (each pre-tokenized with the Llama-3 split regex).  The same
/// inputs and options always give byte-identical files.  Errors: no texts, invalid
/// UTF-8, num_merges outside [0, 100000], fewer than 3 or duplicate special tokens.
absl::StatusOr<TrainedTokenizerFiles> TrainByteLevelBpe(const std::vector<std::string>& texts,
                                                        const BpeTrainerOptions& options);

}  // namespace lorad
