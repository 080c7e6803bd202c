#include "worker/data/data_profile.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <unordered_map>

#include "absl/strings/str_cat.h"

namespace lorad {

DataProfile ComputeDataProfile(const std::vector<Sample>& samples, const std::string& fingerprint,
                               int64_t top_k) {
  DataProfile p;
  p.fingerprint = fingerprint;
  std::unordered_map<int32_t, int64_t> counts;
  std::vector<int64_t> lengths;
  lengths.reserve(samples.size());
  for (const Sample& s : samples) {
    lengths.push_back(static_cast<int64_t>(s.input_ids.size()));
    for (int32_t id : s.input_ids) ++counts[id];
  }
  p.samples = static_cast<int64_t>(samples.size());
  for (int64_t l : lengths) p.total_tokens += l;
  p.distinct_tokens = static_cast<int64_t>(counts.size());
  std::vector<std::pair<int32_t, int64_t>> all(counts.begin(), counts.end());
  std::sort(all.begin(), all.end(), [](const auto& a, const auto& b) {
    return a.second != b.second ? a.second > b.second : a.first < b.first;
  });
  if (static_cast<int64_t>(all.size()) > top_k) all.resize(static_cast<size_t>(std::max<int64_t>(top_k, 0)));
  p.top_tokens = std::move(all);
  p.remainder_tokens = p.total_tokens;
  for (const auto& [id, c] : p.top_tokens) p.remainder_tokens -= c;
  if (!lengths.empty()) {
    std::sort(lengths.begin(), lengths.end());
    p.min_length = lengths.front();
    p.max_length = lengths.back();
    p.mean_length = static_cast<double>(p.total_tokens) / static_cast<double>(lengths.size());
    // Nearest-rank percentiles.
    auto rank = [&](double q) {
      size_t r = static_cast<size_t>(std::ceil(q * static_cast<double>(lengths.size())));
      return lengths[std::clamp<size_t>(r, 1, lengths.size()) - 1];
    };
    p.p50_length = rank(0.5);
    p.p90_length = rank(0.9);
  }
  return p;
}

nlohmann::json DataProfile::ToJson() const {
  nlohmann::json top = nlohmann::json::array();
  for (const auto& [id, c] : top_tokens) top.push_back({id, c});
  nlohmann::json j = {{"version", 1},
                      {"top_tokens", top},
                      {"total_tokens", total_tokens},
                      {"remainder_tokens", remainder_tokens},
                      {"distinct_tokens", distinct_tokens},
                      {"lengths",
                       {{"samples", samples},
                        {"min", min_length},
                        {"max", max_length},
                        {"mean", mean_length},
                        {"p50", p50_length},
                        {"p90", p90_length}}},
                      {"fingerprint", fingerprint}};
  if (final_train_loss) j["final_train_loss"] = *final_train_loss;
  if (final_eval_loss) j["final_eval_loss"] = *final_eval_loss;
  return j;
}

absl::StatusOr<DataProfile> DataProfile::FromJson(const nlohmann::json& j) {
  auto bad = [](const std::string& key) {
    return absl::InvalidArgumentError(absl::StrCat("data profile: bad or missing '", key, "'"));
  };
  if (!j.is_object()) return bad("(object)");
  DataProfile p;
  auto int_at = [&](const nlohmann::json& o, const char* key, int64_t* out) {
    auto it = o.find(key);
    if (it == o.end() || !it->is_number_integer() || it->get<int64_t>() < 0) return false;
    *out = it->get<int64_t>();
    return true;
  };
  if (!int_at(j, "total_tokens", &p.total_tokens)) return bad("total_tokens");
  if (!int_at(j, "remainder_tokens", &p.remainder_tokens)) return bad("remainder_tokens");
  if (!int_at(j, "distinct_tokens", &p.distinct_tokens)) return bad("distinct_tokens");
  auto top = j.find("top_tokens");
  if (top == j.end() || !top->is_array()) return bad("top_tokens");
  int64_t sum = 0;
  for (const auto& e : *top) {
    if (!e.is_array() || e.size() != 2 || !e[0].is_number_integer() || !e[1].is_number_integer() ||
        e[1].get<int64_t>() < 0) {
      return bad("top_tokens");
    }
    p.top_tokens.emplace_back(e[0].get<int32_t>(), e[1].get<int64_t>());
    sum += p.top_tokens.back().second;
  }
  if (sum + p.remainder_tokens != p.total_tokens) return bad("total_tokens (counts do not add up)");
  auto lengths = j.find("lengths");
  if (lengths == j.end() || !lengths->is_object()) return bad("lengths");
  if (!int_at(*lengths, "samples", &p.samples) || !int_at(*lengths, "min", &p.min_length) ||
      !int_at(*lengths, "max", &p.max_length) || !int_at(*lengths, "p50", &p.p50_length) ||
      !int_at(*lengths, "p90", &p.p90_length) || !lengths->contains("mean") ||
      !(*lengths)["mean"].is_number()) {
    return bad("lengths");
  }
  p.mean_length = (*lengths)["mean"].get<double>();
  auto fp = j.find("fingerprint");
  if (fp == j.end() || !fp->is_string()) return bad("fingerprint");
  p.fingerprint = fp->get<std::string>();
  for (const char* key : {"final_train_loss", "final_eval_loss"}) {
    auto it = j.find(key);
    if (it == j.end()) continue;
    if (!it->is_number()) return bad(key);
    (std::string(key) == "final_train_loss" ? p.final_train_loss : p.final_eval_loss) =
        it->get<double>();
  }
  return p;
}

double JensenShannonDivergence(const DataProfile& a, const DataProfile& b) {
  if (a.total_tokens <= 0 || b.total_tokens <= 0) return a.total_tokens == b.total_tokens ? 0 : 1;
  // token → (p, q); ordered map: a deterministic summation order.
  std::map<int32_t, std::pair<double, double>> probs;
  for (const auto& [id, c] : a.top_tokens) probs[id].first = static_cast<double>(c) / a.total_tokens;
  for (const auto& [id, c] : b.top_tokens) probs[id].second = static_cast<double>(c) / b.total_tokens;
  double p_other = 1, q_other = 1;
  for (const auto& [id, pq] : probs) {
    p_other -= pq.first;
    q_other -= pq.second;
  }
  auto term = [](double x, double m) { return x > 0 ? x * std::log2(x / m) : 0.0; };
  double js = 0;
  auto add = [&](double p, double q) {
    p = std::max(p, 0.0);
    q = std::max(q, 0.0);
    const double m = 0.5 * (p + q);
    if (m > 0) js += 0.5 * term(p, m) + 0.5 * term(q, m);
  };
  for (const auto& [id, pq] : probs) add(pq.first, pq.second);
  add(p_other, q_other);
  return std::clamp(js, 0.0, 1.0);
}

}  // namespace lorad
