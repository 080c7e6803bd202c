#include "worker/data/record_reader.h"

#include <gtest/gtest.h>

#include <fstream>

#include "tests/data/temp_dir.h"

namespace lorad {
namespace {

using testing::TempDir;

std::vector<std::string> ReadAll(const std::filesystem::path& p, std::vector<std::string>* errors,
                                 RecordReaderOptions o = {}) {
  auto reader = RecordReader::Open(p, o);
  EXPECT_TRUE(reader.ok()) << reader.status();
  std::vector<std::string> out;
  nlohmann::json rec;
  while (true) {
    auto got = (*reader)->Next(&rec);
    if (!got.ok()) {
      errors->emplace_back(got.status().message());
      continue;
    }
    if (!*got) break;
    out.push_back(rec.dump());
  }
  return out;
}

TEST(RecordReader, JsonlBadLinesNamedWithFileAndLineAndSkippable) {
  TempDir dir;
  auto p = dir.Write("d.jsonl", "{\"text\":\"a\"}\n\n{\"text\": \n[1,2]\r\n{\"text\":\"b\"}");
  std::vector<std::string> errors;
  auto recs = ReadAll(p, &errors);
  EXPECT_EQ(recs, (std::vector<std::string>{"{\"text\":\"a\"}", "{\"text\":\"b\"}"}));
  ASSERT_EQ(errors.size(), 2u);
  EXPECT_EQ(errors[0].rfind(p.string() + ":3: invalid JSON", 0), 0u) << errors[0];
  EXPECT_EQ(errors[1], p.string() + ":4: record is not a JSON object");
}

TEST(RecordReader, OverlongLineIsABadLineAndReadingContinues) {
  TempDir dir;
  auto p = dir.Write("d.jsonl", "{\"t\":\"" + std::string(300, 'x') + "\"}\n{\"t\":1}\n");
  RecordReaderOptions o;
  o.max_record_bytes = 100;
  std::vector<std::string> errors;
  auto recs = ReadAll(p, &errors, o);
  EXPECT_EQ(recs, std::vector<std::string>{"{\"t\":1}"});
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0], p.string() + ":1: line longer than 100 bytes");
}

TEST(RecordReader, JsonArrayElementsCarryTheirLine) {
  TempDir dir;
  auto p = dir.Write("d.json", "[\n  {\"a\": \"x,]}\"},\n  {\"a\": tru},\n  {\"b\": [1, {\"c\": 2}]}\n]\n");
  std::vector<std::string> errors;
  auto recs = ReadAll(p, &errors);
  EXPECT_EQ(recs, (std::vector<std::string>{"{\"a\":\"x,]}\"}", "{\"b\":[1,{\"c\":2}]}"}));
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].rfind(p.string() + ":3: invalid JSON", 0), 0u) << errors[0];
}

TEST(RecordReader, JsonMustBeAnArray) {
  TempDir dir;
  auto r = RecordReader::Open(dir.Write("d.json", "{\"a\":1}"), {});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("top-level array"), std::string::npos) << r.status();
  r = RecordReader::Open(dir.Write("e.json", "[{\"a\":1},\n{\"a\":2}"), {});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("unterminated"), std::string::npos) << r.status();
}

TEST(RecordReader, TextLinesBecomeRecordsOfTheTextField) {
  TempDir dir;
  auto p = dir.Write("d.txt", "first line\r\nsecond \"quoted\"\n\nbad \xff byte\nlast");
  RecordReaderOptions o;
  o.text_field = "body";
  std::vector<std::string> errors;
  auto recs = ReadAll(p, &errors, o);
  EXPECT_EQ(recs, (std::vector<std::string>{"{\"body\":\"first line\"}",
                                            "{\"body\":\"second \\\"quoted\\\"\"}",
                                            "{\"body\":\"last\"}"}));
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0], p.string() + ":4: invalid UTF-8");
}

TEST(RecordReader, UnsupportedExtensionAndMissingFile) {
  TempDir dir;
  auto r = RecordReader::Open(dir.Write("d.csv", "a,b\n"), {});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find(".jsonl, .json"), std::string::npos);
  r = RecordReader::Open(dir.path() / "nope.jsonl", {});
  EXPECT_EQ(r.status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace lorad
