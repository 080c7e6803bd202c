// `lorad-worker preprocess CONFIG [--show N] [-o json] [--set k=v]...`:
// tokenizes the configured datasets exactly as `run` will (filling the
// tokenized-data cache) and shows the first N rows as the model sees them —
// Axolotl's `preprocess --debug`, for finding masking mistakes before they
// cost a GPU-day.
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "nlohmann/json.hpp"
#include "worker/cli/commands.h"
#include "worker/config/config_loader.h"
#include "worker/data/batch_collator.h"
#include "worker/data/dataset_builder.h"
#include "worker/tokenizer/tokenizer.h"

namespace lorad {
namespace {

constexpr int64_t kDefaultShow = 3;

void PrintPreprocessUsage(FILE* out) {
  std::fprintf(out,
               "usage: lorad-worker preprocess CONFIG.yaml [--show N] [-o json] [--set k=v]...\n"
               "  Tokenizes the config's datasets (and fills the tokenized-data cache), prints a\n"
               "  summary on stderr and the first N training rows (default %lld) on stdout:\n"
               "  on a terminal the text with trained tokens highlighted and masked ones dimmed;\n"
               "  with -o json one object per line: input_ids, labels (and position_ids when\n"
               "  sample_packing is on).\n",
               static_cast<long long>(kDefaultShow));
}

bool ParseCount(std::string_view s, int64_t* out) {
  if (s.empty() || s.size() > 12) return false;
  int64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  *out = v;
  return true;
}

void PrintSummary(const DataBuildReport& r, const TokenizedDataset& ds) {
  std::fprintf(stderr,
               "preprocess: %lld records → %lld samples (%lld truncated to sequence_len %lld, "
               "%lld too short, %lld with nothing to train) → %lld train + %lld eval samples, "
               "%lld train rows%s\n",
               static_cast<long long>(r.records), static_cast<long long>(r.samples),
               static_cast<long long>(r.truncated), static_cast<long long>(ds.sequence_len),
               static_cast<long long>(r.dropped_short),
               static_cast<long long>(r.dropped_untrainable),
               static_cast<long long>(r.train_samples), static_cast<long long>(r.eval_samples),
               static_cast<long long>(r.train_rows), ds.packed ? " (packed)" : "");
  std::fprintf(stderr, "preprocess: %lld train tokens, %lld trained\n",
               static_cast<long long>(r.train_tokens),
               static_cast<long long>(r.train_trained_tokens));
  if (r.bad_lines_skipped > 0) {
    std::fprintf(stderr, "preprocess: skipped %lld bad lines (skip_bad_lines), e.g.:\n",
                 static_cast<long long>(r.bad_lines_skipped));
    for (const std::string& e : r.bad_line_examples) std::fprintf(stderr, "  %s\n", e.c_str());
  }
  for (const std::string& w : r.warnings) std::fprintf(stderr, "preprocess: warning: %s\n", w.c_str());
  std::fprintf(stderr, "preprocess: data fingerprint %s\n", r.fingerprint.c_str());
  std::fprintf(stderr, "preprocess: cache %s %s\n", r.cache_hit ? "hit" : "written",
               r.cache_path.c_str());
}

std::string JsonRow(const Batch& b, bool packed) {
  nlohmann::json j = {{"input_ids", b.input_ids}, {"labels", b.labels}};
  if (packed) j["position_ids"] = b.position_ids;
  return j.dump() + "\n";
}

// Runs of tokens with the same trained state are decoded together, so that
// multi-byte characters split over byte-level tokens still print whole.
std::string TextRow(const Batch& b, const Tokenizer& tokenizer, bool color, int64_t index) {
  const char* kTrained = color ? "\x1b[1;32m" : "";
  const char* kMasked = color ? "\x1b[2m" : "";
  const char* kReset = color ? "\x1b[0m" : "";
  std::string out = std::string(kMasked) + "── row " + std::to_string(index) + ": " +
                    std::to_string(b.tokens) + " tokens, " + std::to_string(b.trained_tokens) +
                    " trained" + (color ? "" : "; trained text between « and »") + " ──" +
                    kReset + "\n";
  size_t t = 0;
  const size_t n = static_cast<size_t>(b.cols);
  while (t < n) {
    if (t > 0 && b.segment_ids[t] != b.segment_ids[t - 1]) {
      out += std::string("\n") + kMasked + "── next packed sample ──" + kReset + "\n";
    }
    const bool trained = b.labels[t] != -100;
    std::vector<int32_t> run;
    size_t u = t;
    while (u < n && (b.labels[u] != -100) == trained &&
           (u == t || b.segment_ids[u] == b.segment_ids[u - 1])) {
      run.push_back(static_cast<int32_t>(b.input_ids[u]));
      ++u;
    }
    std::string text = tokenizer.Decode(run, /*skip_special_tokens=*/false);
    if (trained) {
      out += color ? std::string(kTrained) + text + kReset : "«" + text + "»";
    } else {
      out += std::string(kMasked) + text + kReset;
    }
    t = u;
  }
  out += "\n";
  return out;
}

}  // namespace

int PreprocessCommand(int argc, char** argv) {
  std::string config_path;
  std::vector<std::string> sets;
  int64_t show = kDefaultShow;
  bool json_output = false;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    auto value = [&](const char* name) -> const char* {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "preprocess: %s needs a value\n", name);
        return nullptr;
      }
      return argv[++i];
    };
    if (arg == "-h" || arg == "--help") {
      PrintPreprocessUsage(stdout);
      return 0;
    } else if (arg == "--show") {
      const char* v = value("--show");
      if (v == nullptr || !ParseCount(v, &show)) {
        std::fprintf(stderr, "preprocess: --show needs a non-negative integer\n");
        return 2;
      }
    } else if (arg == "-o" || arg == "--output") {
      const char* v = value("-o");
      if (v == nullptr) return 2;
      if (std::string_view(v) == "json") {
        json_output = true;
      } else if (std::string_view(v) == "text") {
        json_output = false;
      } else {
        std::fprintf(stderr, "preprocess: -o takes json or text, got '%s'\n", v);
        return 2;
      }
    } else if (arg == "--set") {
      const char* v = value("--set");
      if (v == nullptr) return 2;
      sets.emplace_back(v);
    } else if (arg.rfind("--set=", 0) == 0) {
      sets.emplace_back(arg.substr(6));
    } else if (!arg.empty() && arg[0] == '-') {
      std::fprintf(stderr, "preprocess: unknown option '%s'\n", argv[i]);
      PrintPreprocessUsage(stderr);
      return 2;
    } else if (config_path.empty()) {
      config_path = std::string(arg);
    } else {
      std::fprintf(stderr, "preprocess: unexpected argument '%s'\n", argv[i]);
      return 2;
    }
  }
  if (config_path.empty()) {
    std::fprintf(stderr, "preprocess: CONFIG is required\n");
    PrintPreprocessUsage(stderr);
    return 2;
  }

  auto loaded = LoadTrainConfigFile(config_path, sets);
  if (!loaded.ok()) {
    std::fprintf(stderr, "preprocess: %s\n", std::string(loaded.status().message()).c_str());
    return 2;
  }
  for (const std::string& key : loaded->ignored_keys) {
    std::fprintf(stderr, "preprocess: ignoring config key '%s' (not supported by this build)\n",
                 key.c_str());
  }
  for (const std::string& note : loaded->notes) {
    std::fprintf(stderr, "preprocess: note: %s\n", note.c_str());
  }
  const TrainConfig& config = loaded->config;
  auto tokenizer = Tokenizer::LoadFromDir(config.base_model);
  if (!tokenizer.ok()) {
    std::fprintf(stderr, "preprocess: base_model: %s\n",
                 std::string(tokenizer.status().message()).c_str());
    return 2;
  }
  DataBuildReport report;
  auto dataset = BuildDataset(config, **tokenizer, &report);
  if (!dataset.ok()) {
    std::fprintf(stderr, "preprocess: %s\n", std::string(dataset.status().message()).c_str());
    const absl::StatusCode code = dataset.status().code();
    const bool bad_input = code == absl::StatusCode::kInvalidArgument ||
                           code == absl::StatusCode::kNotFound ||
                           code == absl::StatusCode::kFailedPrecondition;
    return bad_input ? 2 : 1;
  }
  PrintSummary(report, *dataset);

  const bool color = !json_output && ::isatty(STDOUT_FILENO) && std::getenv("NO_COLOR") == nullptr;
  BatchCollator collator(dataset->train, dataset->train_rows, dataset->pad_id, dataset->packed);
  const int64_t rows = std::min<int64_t>(show, collator.num_rows());
  for (int64_t i = 0; i < rows; ++i) {
    const Batch b = collator.CollateRange(i, i + 1);
    const std::string out =
        json_output ? JsonRow(b, dataset->packed) : TextRow(b, **tokenizer, color, i);
    if (std::fwrite(out.data(), 1, out.size(), stdout) != out.size()) {
      std::fprintf(stderr, "preprocess: writing stdout: %s\n", std::strerror(errno));
      return 1;
    }
  }
  if (std::fflush(stdout) != 0) {
    std::fprintf(stderr, "preprocess: writing stdout: %s\n", std::strerror(errno));
    return 1;
  }
  return 0;
}

}  // namespace lorad
