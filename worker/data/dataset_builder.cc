#include "worker/data/dataset_builder.h"

#include <algorithm>
#include <atomic>
#include <system_error>
#include <thread>
#include <cmath>
#include <memory>

#include "absl/strings/str_cat.h"
#include "worker/base/status_macros.h"
#include "worker/data/data_fingerprint.h"
#include "worker/data/dataset_cache.h"
#include "worker/data/prompt_format.h"
#include "worker/data/record_reader.h"
#include "worker/data/seeded_shuffle.h"
#include "worker/data/sequence_packer.h"

namespace lorad {
namespace {

constexpr size_t kMaxBadLineExamples = 5;
// Stream of SeededPermutation reserved for the validation split (epochs use 0, 1, ...).
constexpr uint64_t kValSplitStream = 0x76616C5F73706C74ULL;  // "val_splt"

bool HasTrainedLabel(const Sample& s) {
  for (size_t t = 1; t < s.labels.size(); ++t) {
    if (s.labels[t] != kIgnoreIndex) return true;
  }
  return false;
}

// Records are read in chunks (bounded memory) and formatted by several
// threads (Tokenizer::Encode is thread-safe); results are consumed in file
// order, so samples and the first reported error do not depend on timing.
constexpr size_t kChunkRecords = 4096;

struct PendingRecord {
  nlohmann::json record;
  std::string where;
  absl::Status read_error;  // a bad line found by the reader
  absl::Status format_error;
  std::vector<Sample> samples;
};

int FormatThreads() {
  const unsigned n = std::thread::hardware_concurrency();
  return static_cast<int>(std::clamp<unsigned>(n, 1, 8));
}

void FormatChunk(const PromptFormat& format, std::vector<PendingRecord>* chunk) {
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t i; (i = next.fetch_add(1)) < chunk->size();) {
      PendingRecord& r = (*chunk)[i];
      if (r.read_error.ok()) r.format_error = format.Tokenize(r.record, &r.samples);
    }
  };
  std::vector<std::thread> pool;
  const int threads = chunk->size() < 256 ? 1 : FormatThreads();
  try {
    for (int t = 1; t < threads; ++t) pool.emplace_back(work);
  } catch (const std::system_error&) {
    // No more threads: the ones started and this one finish the chunk.
  }
  work();
  for (std::thread& t : pool) t.join();
}

absl::Status ReadAndFormat(const TrainConfig& config, const DatasetSpec& spec,
                           const PromptFormat& format, std::vector<Sample>* samples,
                           DataBuildReport* report) {
  RecordReaderOptions options;
  options.text_field = spec.type == "completion" ? spec.field : "text";
  LORAD_ASSIGN_OR_RETURN(std::unique_ptr<RecordReader> reader,
                         RecordReader::Open(spec.path, options));
  auto bad = [&](const absl::Status& status) -> absl::Status {
    if (!config.skip_bad_lines) return status;
    ++report->bad_lines_skipped;
    if (report->bad_line_examples.size() < kMaxBadLineExamples) {
      report->bad_line_examples.emplace_back(status.message());
    }
    return absl::OkStatus();
  };
  bool done = false;
  std::vector<PendingRecord> chunk;
  while (!done) {
    chunk.clear();
    while (chunk.size() < kChunkRecords) {
      PendingRecord r;
      absl::StatusOr<bool> got = reader->Next(&r.record);
      if (got.ok() && !*got) {
        done = true;
        break;
      }
      r.where = reader->Where();
      if (!got.ok()) r.read_error = got.status();
      const bool fatal = !got.ok() && got.status().code() != absl::StatusCode::kInvalidArgument;
      chunk.push_back(std::move(r));
      if (fatal) {
        done = true;
        break;
      }
    }
    FormatChunk(format, &chunk);
    for (PendingRecord& r : chunk) {
      if (!r.read_error.ok()) {
        // I/O errors are not "bad lines": only INVALID_ARGUMENT is skippable.
        if (r.read_error.code() != absl::StatusCode::kInvalidArgument) return r.read_error;
        LORAD_RETURN_IF_ERROR(bad(r.read_error));
        continue;
      }
      if (!r.format_error.ok()) {
        LORAD_RETURN_IF_ERROR(
            bad(absl::InvalidArgumentError(absl::StrCat(r.where, ": ", r.format_error.message()))));
        continue;
      }
      for (Sample& s : r.samples) samples->push_back(std::move(s));
      ++report->records;
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<CachedData> Tokenize(const TrainConfig& config,
                                    const std::vector<std::unique_ptr<PromptFormat>>& formats) {
  CachedData data;
  DataBuildReport& c = data.counters;
  std::vector<Sample> all;
  for (size_t i = 0; i < config.datasets.size(); ++i) {
    LORAD_RETURN_IF_ERROR(ReadAndFormat(config, config.datasets[i], *formats[i], &all, &c));
  }
  c.samples = static_cast<int64_t>(all.size());
  std::vector<Sample> kept;
  kept.reserve(all.size());
  const size_t max_len = static_cast<size_t>(config.sequence_len);
  for (Sample& s : all) {
    if (s.input_ids.size() > max_len) {
      s.input_ids.resize(max_len);
      s.labels.resize(max_len);
      ++c.truncated;
    }
    if (s.input_ids.size() < 2) {
      ++c.dropped_short;
    } else if (!HasTrainedLabel(s)) {
      ++c.dropped_untrainable;
    } else {
      kept.push_back(std::move(s));
    }
  }
  if (kept.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the datasets hold no trainable sample (", c.samples, " samples: ", c.dropped_short,
        " shorter than 2 tokens, ", c.dropped_untrainable, " with every label masked)"));
  }
  // Validation hold-out.
  const int64_t n = static_cast<int64_t>(kept.size());
  int64_t n_val = 0;
  if (config.val_set_size.set()) {
    n_val = config.val_set_size.is_fraction
                ? static_cast<int64_t>(std::ceil(config.val_set_size.value * static_cast<double>(n)))
                : static_cast<int64_t>(config.val_set_size.value);
    if (n_val >= n) {
      return absl::InvalidArgumentError(absl::StrCat(
          "val_set_size: holding out ", n_val, " of ", n, " samples leaves nothing to train on"));
    }
  }
  std::vector<bool> is_val(static_cast<size_t>(n), false);
  if (n_val > 0) {
    std::vector<int64_t> perm =
        SeededPermutation(n, static_cast<uint64_t>(config.seed), kValSplitStream);
    for (int64_t i = 0; i < n_val; ++i) is_val[static_cast<size_t>(perm[static_cast<size_t>(i)])] = true;
  }
  for (int64_t i = 0; i < n; ++i) {
    (is_val[static_cast<size_t>(i)] ? data.eval : data.train).push_back(std::move(kept[static_cast<size_t>(i)]));
  }
  return data;
}

std::vector<std::vector<int64_t>> LayoutRows(const std::vector<Sample>& samples, bool packed,
                                             int64_t sequence_len) {
  if (!packed) return OneSamplePerRow(static_cast<int64_t>(samples.size()));
  std::vector<int64_t> lengths;
  lengths.reserve(samples.size());
  for (const Sample& s : samples) lengths.push_back(static_cast<int64_t>(s.input_ids.size()));
  return PackFirstFitDecreasing(lengths, sequence_len);
}

}  // namespace

std::filesystem::path DataCacheDir(const TrainConfig& config) {
  if (!config.dataset_prepared_path.empty()) return config.dataset_prepared_path;
  std::filesystem::path out = std::filesystem::path(config.output_dir).lexically_normal();
  if (!out.has_filename()) out = out.parent_path();  // "dir/" → "dir"
  return out.parent_path() / ".lorad-cache";
}

absl::StatusOr<TokenizedDataset> BuildDataset(const TrainConfig& config, const Tokenizer& tokenizer,
                                              DataBuildReport* report) {
  DataBuildReport local;
  if (report == nullptr) report = &local;
  *report = DataBuildReport();
  if (config.datasets.empty()) return absl::InvalidArgumentError("datasets: no dataset configured");
  if (config.sequence_len < 2) {
    return absl::InvalidArgumentError(
        absl::StrCat("sequence_len: ", config.sequence_len, " (must be at least 2)"));
  }
  std::vector<std::unique_ptr<PromptFormat>> formats;
  std::vector<std::string> descriptions;
  for (const DatasetSpec& spec : config.datasets) {
    LORAD_ASSIGN_OR_RETURN(std::unique_ptr<PromptFormat> f,
                           MakePromptFormat(spec, config, tokenizer));
    descriptions.push_back(f->Describe());
    formats.push_back(std::move(f));
  }
  for (const DatasetSpec& spec : config.datasets) {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(spec.path, ec)) {
      return absl::NotFoundError(absl::StrCat("datasets: file not found: ", spec.path));
    }
  }
  LORAD_ASSIGN_OR_RETURN(std::string fingerprint,
                         ComputeDataFingerprint(config, tokenizer, descriptions));

  DatasetCache cache(DataCacheDir(config));
  CachedData data;
  absl::StatusOr<CachedData> cached = cache.Load(fingerprint, config.sequence_len);
  if (cached.ok()) {
    data = std::move(*cached);
    report->cache_hit = true;
  } else {
    if (cached.status().code() != absl::StatusCode::kNotFound) {
      report->warnings.push_back(absl::StrCat(cached.status().message(), " (",
                                              cache.PathFor(fingerprint).string(), "); rebuilt"));
    }
    LORAD_ASSIGN_OR_RETURN(data, Tokenize(config, formats));
    absl::Status stored = cache.Store(fingerprint, data);
    if (!stored.ok()) {
      report->warnings.push_back(
          absl::StrCat("could not write the tokenized-data cache: ", stored.message()));
    }
  }
  report->cache_path = cache.PathFor(fingerprint).string();
  const DataBuildReport& c = data.counters;
  report->records = c.records;
  report->bad_lines_skipped = c.bad_lines_skipped;
  report->bad_line_examples = c.bad_line_examples;
  report->samples = c.samples;
  report->truncated = c.truncated;
  report->dropped_short = c.dropped_short;
  report->dropped_untrainable = c.dropped_untrainable;
  report->fingerprint = fingerprint;

  TokenizedDataset ds;
  ds.sequence_len = config.sequence_len;
  ds.packed = config.sample_packing;
  ds.pad_id = tokenizer.pad_id().value_or(tokenizer.eos_id().value_or(0));
  ds.fingerprint = fingerprint;
  ds.train = std::move(data.train);
  ds.eval = std::move(data.eval);
  ds.train_rows = LayoutRows(ds.train, ds.packed, ds.sequence_len);
  ds.eval_rows = LayoutRows(ds.eval, ds.packed, ds.sequence_len);
  report->train_samples = static_cast<int64_t>(ds.train.size());
  report->eval_samples = static_cast<int64_t>(ds.eval.size());
  report->train_rows = static_cast<int64_t>(ds.train_rows.size());
  report->eval_rows = static_cast<int64_t>(ds.eval_rows.size());
  for (const Sample& s : ds.train) {
    report->train_tokens += static_cast<int64_t>(s.input_ids.size());
    for (size_t t = 1; t < s.labels.size(); ++t) report->train_trained_tokens += s.labels[t] != kIgnoreIndex;
  }
  return ds;
}

}  // namespace lorad
