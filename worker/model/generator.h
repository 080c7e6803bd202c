// Text generation with a causal LM: the prompt is run once (prefill), then
// one token at a time through the KV cache (or, for checking, the whole
// sequence again each step).  Stops at a stop token or after max_new_tokens.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "worker/model/causal_lm.h"
#include "worker/model/token_sampler.h"

namespace lorad {

class Tokenizer;

struct GenerationOptions {
  int64_t max_new_tokens = 256;
  SamplingOptions sampling;  // temperature 0 = greedy
  /// Generation ends after producing one of these (EOS, end-of-turn tokens).
  std::vector<int64_t> stop_token_ids;
  /// false: recompute the whole sequence without a cache at every step — the
  /// reference the cached path is tested against; quadratic, never for users.
  bool use_cache = true;
};

enum class StopReason { kStopToken, kMaxNewTokens };
/// "eos" (a stop token) or "max_new_tokens".
std::string_view StopReasonName(StopReason reason);

struct GenerationResult {
  /// The new tokens; the stop token, when one ended generation, is the last
  /// (as transformers' generate() returns it).
  std::vector<int64_t> ids;
  StopReason stop_reason = StopReason::kMaxNewTokens;
  double prefill_seconds = 0;  // the prompt's forward and the first token
  double decode_seconds = 0;   // every later token
};

class Generator {
 public:
  explicit Generator(CausalLm model) : model_(std::move(model)) {}

  /// Generates from `prompt` (token ids, non-empty, inside the vocabulary).
  /// `on_token` sees each new id as soon as it is chosen (for streaming).  The
  /// model runs in eval mode (dropout off) without gradients; its previous
  /// mode is restored.  LibTorch errors become INTERNAL (RESOURCE_EXHAUSTED
  /// when out of memory).
  absl::StatusOr<GenerationResult> Generate(const std::vector<int64_t>& prompt,
                                            const GenerationOptions& options,
                                            const std::function<void(int64_t)>& on_token = {});

 private:
  absl::StatusOr<GenerationResult> Run(const std::vector<int64_t>& prompt,
                                       const GenerationOptions& options,
                                       const std::function<void(int64_t)>& on_token);

  CausalLm model_;
};

/// For evaluation prompts during training: greedy continuation of `prompt`
/// (encoded with the tokenizer's special tokens, e.g. BOS) for at most
/// `max_new_tokens`, stopping at the tokenizer's or the model config's EOS;
/// returns the new text (special tokens skipped).
absl::StatusOr<std::string> GenerateGreedyText(CausalLm& model, const Tokenizer& tokenizer,
                                               const std::string& prompt, int64_t max_new_tokens);

}  // namespace lorad
