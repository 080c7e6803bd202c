// What building the data set did: counts for the log and `preprocess`.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "nlohmann/json.hpp"

namespace lorad {

struct DataBuildReport {
  bool cache_hit = false;
  std::string cache_path;          // the cache file used or written ("" if none)
  std::string fingerprint;
  int64_t records = 0;             // records read (good ones)
  int64_t bad_lines_skipped = 0;   // with skip_bad_lines
  std::vector<std::string> bad_line_examples;  // the first few "file:line: reason"
  int64_t samples = 0;             // produced by the formats (completion chunks count)
  int64_t truncated = 0;           // cut to sequence_len
  int64_t dropped_short = 0;       // fewer than 2 tokens: nothing to predict
  int64_t dropped_untrainable = 0; // no label left to train after the shift
  int64_t train_samples = 0;
  int64_t eval_samples = 0;
  int64_t train_rows = 0;
  int64_t eval_rows = 0;
  int64_t train_tokens = 0;
  int64_t train_trained_tokens = 0;
  std::vector<std::string> warnings;  // e.g. the cache could not be written

  nlohmann::json ToJson() const {
    return {{"cache_hit", cache_hit},
            {"cache_path", cache_path},
            {"fingerprint", fingerprint},
            {"records", records},
            {"bad_lines_skipped", bad_lines_skipped},
            {"bad_line_examples", bad_line_examples},
            {"samples", samples},
            {"truncated", truncated},
            {"dropped_short", dropped_short},
            {"dropped_untrainable", dropped_untrainable},
            {"train_samples", train_samples},
            {"eval_samples", eval_samples},
            {"train_rows", train_rows},
            {"eval_rows", eval_rows},
            {"train_tokens", train_tokens},
            {"train_trained_tokens", train_trained_tokens},
            {"warnings", warnings}};
  }
};

}  // namespace lorad
