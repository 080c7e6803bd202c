// A compact profile of training data (guardrails issue): token unigram
// distribution (top-k plus a remainder bucket), length statistics and the
// data fingerprint, stored with every adapter; compared by Jensen–Shannon
// divergence when an adapter is continued on new data.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"
#include "worker/data/sample.h"

namespace lorad {

struct DataProfile {
  static constexpr int64_t kDefaultTopK = 256;

  /// (token id, count), most frequent first (ties: smaller id first).
  std::vector<std::pair<int32_t, int64_t>> top_tokens;
  int64_t total_tokens = 0;      // all input tokens profiled
  int64_t remainder_tokens = 0;  // total_tokens − Σ top counts
  int64_t distinct_tokens = 0;
  // Sample lengths (tokens).
  int64_t samples = 0;
  int64_t min_length = 0;
  int64_t max_length = 0;
  double mean_length = 0;
  int64_t p50_length = 0;
  int64_t p90_length = 0;
  std::string fingerprint;
  // Filled by the trainer when known.
  std::optional<double> final_train_loss;
  std::optional<double> final_eval_loss;

  nlohmann::json ToJson() const;
  /// INVALID_ARGUMENT naming the bad key.
  static absl::StatusOr<DataProfile> FromJson(const nlohmann::json& j);
};

DataProfile ComputeDataProfile(const std::vector<Sample>& samples, const std::string& fingerprint,
                               int64_t top_k = DataProfile::kDefaultTopK);

/// Jensen–Shannon divergence (base 2, in [0, 1]) between the two unigram
/// distributions over the union of both top-k sets plus one "other" bucket
/// holding each side's remaining mass.  A token in one side's top-k but not
/// in the other's counts as 0 for the other (its true share is inside that
/// side's "other"), so the value is an upper-bound-leaning estimate; 0 for
/// identical profiles.
double JensenShannonDivergence(const DataProfile& a, const DataProfile& b);

}  // namespace lorad
