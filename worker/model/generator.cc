#include "worker/model/generator.h"

#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <set>

#include "absl/strings/str_cat.h"
#include "worker/base/status_macros.h"
#include "worker/model/kv_cache.h"
#include "worker/tokenizer/tokenizer.h"

namespace lorad {
namespace {

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

/// Puts the model in eval mode for the generation and restores its mode.
class EvalModeScope {
 public:
  explicit EvalModeScope(CausalLmImpl& model) : model_(model), was_training_(model.is_training()) {
    model_.eval();
  }
  ~EvalModeScope() { model_.train(was_training_); }
  EvalModeScope(const EvalModeScope&) = delete;
  EvalModeScope& operator=(const EvalModeScope&) = delete;

 private:
  CausalLmImpl& model_;
  bool was_training_;
};

}  // namespace

std::string_view StopReasonName(StopReason reason) {
  switch (reason) {
    case StopReason::kStopToken:
      return "eos";
    case StopReason::kMaxNewTokens:
      return "max_new_tokens";
  }
  return "unknown";
}

absl::StatusOr<GenerationResult> Generator::Generate(const std::vector<int64_t>& prompt,
                                                     const GenerationOptions& options,
                                                     const std::function<void(int64_t)>& on_token) {
  LORAD_RETURN_IF_ERROR(ValidateSamplingOptions(options.sampling));
  if (options.max_new_tokens < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_new_tokens must be >= 0, got ", options.max_new_tokens));
  }
  if (prompt.empty()) {
    return absl::InvalidArgumentError("the prompt has no tokens (an empty text and no BOS)");
  }
  const int64_t vocab = model_->config().vocab_size;
  for (int64_t id : prompt) {
    if (id < 0 || id >= vocab) {
      return absl::InvalidArgumentError(
          absl::StrCat("prompt token id ", id, " is outside the model's vocabulary [0, ", vocab,
                       "): the tokenizer does not match the model"));
    }
  }
  try {
    return Run(prompt, options, on_token);
  } catch (const c10::Error& e) {
    const std::string what = e.what_without_backtrace();
    if (what.find("out of memory") != std::string::npos) {
      return absl::ResourceExhaustedError(absl::StrCat("generation ran out of memory: ", what));
    }
    return absl::InternalError(absl::StrCat("generation failed: ", what));
  } catch (const std::bad_alloc&) {
    return absl::ResourceExhaustedError("generation ran out of memory");
  }
}

absl::StatusOr<GenerationResult> Generator::Run(const std::vector<int64_t>& prompt,
                                                const GenerationOptions& options,
                                                const std::function<void(int64_t)>& on_token) {
  CausalLmImpl& model = *model_;
  EvalModeScope eval(model);
  torch::NoGradGuard no_grad;
  TokenSampler sampler(options.sampling);
  const std::set<int64_t> stop(options.stop_token_ids.begin(), options.stop_token_ids.end());
  const auto i64 = torch::TensorOptions().dtype(torch::kInt64);

  GenerationResult result;
  std::vector<int64_t> sequence = prompt;
  KvCache cache(static_cast<int64_t>(model.layers.size()),
                static_cast<int64_t>(prompt.size()) + options.max_new_tokens);
  auto start = std::chrono::steady_clock::now();
  for (int64_t step = 0; step < options.max_new_tokens; ++step) {
    torch::Tensor hidden;
    if (options.use_cache) {
      // The first step feeds the whole prompt, later ones the previous token.
      std::vector<int64_t> fresh(sequence.begin() + cache.length(), sequence.end());
      hidden = model.ForwardCached(torch::tensor(fresh, i64).unsqueeze(0), cache);
    } else {
      ForwardInputs in;
      in.input_ids = torch::tensor(sequence, i64).unsqueeze(0);
      hidden = model.Forward(in);
    }
    const torch::Tensor logits = model.Logits(hidden.select(1, hidden.size(1) - 1)).squeeze(0);
    const int64_t next = sampler.Next(logits);
    sequence.push_back(next);
    result.ids.push_back(next);
    if (step == 0) {
      result.prefill_seconds = SecondsSince(start);
      start = std::chrono::steady_clock::now();
    }
    if (on_token) on_token(next);
    if (stop.count(next)) {
      result.stop_reason = StopReason::kStopToken;
      break;
    }
  }
  if (!result.ids.empty()) result.decode_seconds = SecondsSince(start);
  return result;
}

absl::StatusOr<std::string> GenerateGreedyText(CausalLm& model, const Tokenizer& tokenizer,
                                               const std::string& prompt, int64_t max_new_tokens) {
  LORAD_ASSIGN_OR_RETURN(std::vector<int32_t> ids32,
                         tokenizer.TryEncode(prompt, /*add_special_tokens=*/true));
  GenerationOptions options;
  options.max_new_tokens = max_new_tokens;
  options.stop_token_ids = model->config().eos_token_ids;
  if (auto eos = tokenizer.eos_id()) options.stop_token_ids.push_back(*eos);
  Generator generator(model);
  LORAD_ASSIGN_OR_RETURN(GenerationResult result,
                         generator.Generate({ids32.begin(), ids32.end()}, options));
  return tokenizer.Decode({result.ids.begin(), result.ids.end()}, /*skip_special_tokens=*/true);
}

}  // namespace lorad
