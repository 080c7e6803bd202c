// BuildDataset end to end with the fake tokenizer: mixing, truncation, bad
// lines, validation split, cache hit/miss/corruption, fingerprints.
#include "worker/data/dataset_builder.h"

#include <gtest/gtest.h>

#include <fstream>

#include "tests/data/fake_tokenizer.h"
#include "tests/data/temp_dir.h"
#include "worker/data/dataset_cache.h"
#include "worker/data/probe_batch.h"

namespace lorad {
namespace {

using testing::FakeTokenizer;
using testing::TempDir;

std::string Lines(int n, const std::string& prefix) {
  std::string out;
  for (int i = 0; i < n; ++i) out += "{\"text\": \"" + prefix + std::to_string(i) + "\"}\n";
  return out;
}

class BuildDatasetTest : public ::testing::Test {
 protected:
  TrainConfig Config() {
    TrainConfig c;
    c.sequence_len = 16;
    c.output_dir = (dir_.path() / "out").string();
    return c;
  }
  DatasetSpec Spec(const std::filesystem::path& p, const std::string& type = "completion") {
    DatasetSpec s;
    s.path = p.string();
    s.type = type;
    return s;
  }
  TempDir dir_;
  FakeTokenizer tok_;
};

TEST_F(BuildDatasetTest, MixesDatasetsInOrderTruncatesAndCounts) {
  TrainConfig c = Config();
  c.sequence_len = 8;
  c.datasets.push_back(Spec(dir_.Write("a.jsonl", "{\"text\":\"ab\"}\n{\"text\":\"\"}\n")));
  c.datasets.push_back(Spec(
      dir_.Write("b.jsonl", "{\"instruction\":\"i\",\"output\":\"o\"}\n"), "alpaca"));
  DataBuildReport report;
  auto ds = BuildDataset(c, tok_, &report);
  ASSERT_TRUE(ds.ok()) << ds.status();
  ASSERT_EQ(ds->train.size(), 1u);
  EXPECT_EQ(ds->train[0].input_ids,
            (std::vector<int32_t>{FakeTokenizer::kBos, 'a', 'b', FakeTokenizer::kEos}));
  // The alpaca prompt is far longer than 8 tokens: truncated, and its only
  // trainable tokens are gone... so it is dropped as untrainable.
  EXPECT_EQ(report.records, 3);
  EXPECT_EQ(report.samples, 2);  // the empty text yields no tokens at all
  EXPECT_EQ(report.truncated, 1);
  EXPECT_EQ(report.dropped_untrainable, 1);
  EXPECT_EQ(ds->pad_id, FakeTokenizer::kPad);
  EXPECT_EQ(ds->fingerprint.size(), 64u);
}

TEST_F(BuildDatasetTest, BadLinesFailWithFileAndLineUnlessSkipped) {
  TrainConfig c = Config();
  auto p = dir_.Write("d.jsonl", "{\"text\":\"ok\"}\n{\"text\": 5}\nnot json\n{\"text\":\"ok2\"}\n");
  c.datasets.push_back(Spec(p));
  auto ds = BuildDataset(c, tok_, nullptr);
  ASSERT_FALSE(ds.ok());
  EXPECT_EQ(ds.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(std::string(ds.status().message()),
            p.string() + ":2: field 'text' must be a string, got number");

  c.skip_bad_lines = true;
  DataBuildReport report;
  ds = BuildDataset(c, tok_, &report);
  ASSERT_TRUE(ds.ok()) << ds.status();
  EXPECT_EQ(report.bad_lines_skipped, 2);
  ASSERT_EQ(report.bad_line_examples.size(), 2u);
  EXPECT_EQ(report.bad_line_examples[1].rfind(p.string() + ":3: invalid JSON", 0), 0u);
  EXPECT_EQ(ds->train.size(), 2u);
}

TEST_F(BuildDatasetTest, ManyRecordsKeepFileOrderAndTheFirstBadLineIsReported) {
  // More records than one formatting chunk, formatted by several threads.
  TrainConfig c = Config();
  std::string text = Lines(9000, "r");
  text += "{\"text\": 1}\n";             // line 9001
  text += Lines(10, "t") + "oops\n";       // line 9012
  auto p = dir_.Write("big.jsonl", text);
  c.datasets.push_back(Spec(p));
  auto ds = BuildDataset(c, tok_, nullptr);
  ASSERT_FALSE(ds.ok());
  EXPECT_EQ(std::string(ds.status().message()).rfind(p.string() + ":9001: ", 0), 0u) << ds.status();
  c.skip_bad_lines = true;
  DataBuildReport report;
  ds = BuildDataset(c, tok_, &report);
  ASSERT_TRUE(ds.ok()) << ds.status();
  EXPECT_EQ(report.bad_lines_skipped, 2);
  ASSERT_EQ(ds->train.size(), 9010u);
  for (size_t i = 0; i < ds->train.size(); ++i) {
    const std::string want = i < 9000 ? "r" + std::to_string(i) : "t" + std::to_string(i - 9000);
    std::vector<int32_t> ids = {FakeTokenizer::kBos};
    for (int32_t b : FakeTokenizer::Bytes(want)) ids.push_back(b);
    ids.push_back(FakeTokenizer::kEos);
    ASSERT_EQ(ds->train[i].input_ids, ids) << "sample " << i;
  }
}

TEST_F(BuildDatasetTest, ValidationSplitIsSeededAndDeterministic) {
  TrainConfig c = Config();
  c.datasets.push_back(Spec(dir_.Write("d.jsonl", Lines(40, "s"))));
  c.val_set_size = {true, 0.1};
  c.dataset_prepared_path = (dir_.path() / "cache1").string();
  auto a = BuildDataset(c, tok_, nullptr);
  c.dataset_prepared_path = (dir_.path() / "cache2").string();  // no cache: recomputed
  auto b = BuildDataset(c, tok_, nullptr);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->eval.size(), 4u);  // ceil(0.1 × 40)
  EXPECT_EQ(a->train.size(), 36u);
  EXPECT_EQ(a->eval, b->eval);
  EXPECT_EQ(a->train, b->train);
  c.seed = 43;
  auto d = BuildDataset(c, tok_, nullptr);
  ASSERT_TRUE(d.ok());
  EXPECT_NE(a->eval, d->eval);
  EXPECT_NE(a->fingerprint, d->fingerprint);
  c.val_set_size = {false, 40};
  EXPECT_FALSE(BuildDataset(c, tok_, nullptr).ok());
  c.val_set_size = {false, 3};
  auto e = BuildDataset(c, tok_, nullptr);
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->eval.size(), 3u);
}

TEST_F(BuildDatasetTest, CacheHitMissAndCorruption) {
  TrainConfig c = Config();
  c.datasets.push_back(Spec(dir_.Write("d.jsonl", Lines(5, "x"))));
  DataBuildReport r1, r2, r3;
  auto a = BuildDataset(c, tok_, &r1);
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_FALSE(r1.cache_hit);
  EXPECT_EQ(std::filesystem::path(r1.cache_path).parent_path(), dir_.path() / ".lorad-cache");
  ASSERT_TRUE(std::filesystem::exists(r1.cache_path));
  auto b = BuildDataset(c, tok_, &r2);
  ASSERT_TRUE(b.ok());
  EXPECT_TRUE(r2.cache_hit);
  EXPECT_EQ(a->train, b->train);
  EXPECT_EQ(r2.records, 5);

  // Flip one byte in the middle of the payload: checksum fails, rebuilt.
  {
    std::fstream f(r1.cache_path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(120);
    f.put('\x7f');
  }
  auto d = BuildDataset(c, tok_, &r3);
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_FALSE(r3.cache_hit);
  ASSERT_EQ(r3.warnings.size(), 1u);
  EXPECT_NE(r3.warnings[0].find("checksum"), std::string::npos) << r3.warnings[0];
  EXPECT_EQ(d->train, a->train);
  DataBuildReport r4;
  ASSERT_TRUE(BuildDataset(c, tok_, &r4).ok());
  EXPECT_TRUE(r4.cache_hit);  // the rebuilt file verifies again
}

TEST_F(BuildDatasetTest, CacheDecodeRejectsTruncationAndForeignFingerprint) {
  CachedData data;
  data.train.push_back({{1, 2, 3}, {-100, 2, 3}});
  data.counters.records = 1;
  const std::string fp(64, 'a');
  std::string bytes = DatasetCache::Encode(fp, data);
  auto ok = DatasetCache::Decode(bytes, fp, 16);
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->train, data.train);
  EXPECT_EQ(DatasetCache::Decode(bytes.substr(0, bytes.size() - 1), fp, 16).status().code(),
            absl::StatusCode::kDataLoss);
  EXPECT_EQ(DatasetCache::Decode(bytes, std::string(64, 'b'), 16).status().code(),
            absl::StatusCode::kDataLoss);
  EXPECT_EQ(DatasetCache::Decode(bytes, fp, 2).status().code(), absl::StatusCode::kDataLoss);
}

TEST_F(BuildDatasetTest, FingerprintFollowsDataTokenizerAndSettings) {
  TrainConfig c = Config();
  auto p = dir_.Write("d.jsonl", Lines(3, "y"));
  c.datasets.push_back(Spec(p));
  auto base = BuildDataset(c, tok_, nullptr);
  ASSERT_TRUE(base.ok());
  auto fp = [&](const TrainConfig& cfg, const Tokenizer& tok) {
    auto ds = BuildDataset(cfg, tok, nullptr);
    EXPECT_TRUE(ds.ok()) << ds.status();
    return ds.ok() ? ds->fingerprint : std::string();
  };
  EXPECT_EQ(fp(c, tok_), base->fingerprint);
  // Same content elsewhere: same fingerprint.
  TrainConfig moved = c;
  moved.datasets[0].path = dir_.Write("sub/copy.jsonl", Lines(3, "y")).string();
  EXPECT_EQ(fp(moved, tok_), base->fingerprint);
  // One changed byte of data.
  TrainConfig changed = c;
  changed.datasets[0].path = dir_.Write("changed.jsonl", Lines(3, "z")).string();
  EXPECT_NE(fp(changed, tok_), base->fingerprint);
  TrainConfig longer = c;
  longer.sequence_len = 32;
  EXPECT_NE(fp(longer, tok_), base->fingerprint);
  TrainConfig packed = c;
  packed.sample_packing = true;
  EXPECT_NE(fp(packed, tok_), base->fingerprint);
  FakeTokenizer::Options o;
  o.salt = "other";
  FakeTokenizer other(o);
  EXPECT_NE(fp(c, other), base->fingerprint);
}

TEST_F(BuildDatasetTest, PackedRowsAndProbeBatch) {
  TrainConfig c = Config();
  c.sample_packing = true;
  c.datasets.push_back(Spec(dir_.Write("d.jsonl", Lines(12, "p"))));  // 4 or 5 tokens each
  auto ds = BuildDataset(c, tok_, nullptr);
  ASSERT_TRUE(ds.ok()) << ds.status();
  EXPECT_TRUE(ds->packed);
  EXPECT_LT(ds->train_rows.size(), ds->train.size());
  ProbeBatch probe = MakeProbeBatch(*ds, 2);
  EXPECT_EQ(probe.batch.rows, 2);
  EXPECT_EQ(probe.fingerprint, MakeProbeBatch(*ds, 2).fingerprint);
  EXPECT_NE(probe.fingerprint, MakeProbeBatch(*ds, 1).fingerprint);
  EXPECT_EQ(probe.fingerprint.size(), 64u);
}

TEST_F(BuildDatasetTest, DefaultCacheDirIsNextToOutputDir) {
  TrainConfig c;
  c.output_dir = "/runs/job1/";
  EXPECT_EQ(DataCacheDir(c), std::filesystem::path("/runs/.lorad-cache"));
  c.dataset_prepared_path = "/cache";
  EXPECT_EQ(DataCacheDir(c), std::filesystem::path("/cache"));
}

}  // namespace
}  // namespace lorad
