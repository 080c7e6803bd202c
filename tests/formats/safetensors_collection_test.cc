#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>

#include "worker/base/file_util.h"
#include "worker/formats/safetensors.h"

namespace lorad {
namespace {

namespace fs = std::filesystem;

class SafetensorsCollectionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("lorad_stc_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // One F32 tensor per name, filled with `value`.
  void WriteShard(const std::string& file, const std::vector<std::string>& names, float value) {
    std::vector<std::vector<float>> storage;
    std::vector<TensorBlob> blobs;
    storage.reserve(names.size());
    for (const auto& n : names) {
      storage.push_back(std::vector<float>(4, value));
      blobs.push_back(
          {n, DType::kF32, {2, 2}, {reinterpret_cast<const uint8_t*>(storage.back().data()), 16}});
    }
    ASSERT_TRUE(WriteSafetensors(dir_ / file, blobs).ok());
  }
  void WriteIndex(const std::string& weight_map_json) {
    ASSERT_TRUE(
        WriteFileDurably(dir_ / "model.safetensors.index.json",
                         R"({"metadata":{"total_size":64},"weight_map":)" + weight_map_json + "}")
            .ok());
  }
  std::string Message(const absl::Status& s) { return std::string(s.message()); }
  fs::path dir_;
};

TEST_F(SafetensorsCollectionTest, OpensSingleFile) {
  WriteShard("model.safetensors", {"a", "b"}, 1.0f);
  auto c = SafetensorsCollection::OpenModelDir(dir_);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ((*c)->Names(), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ((*c)->TotalBytes(), 32u);
  auto e = (*c)->Find("b");
  ASSERT_NE(e.file, nullptr);
  EXPECT_EQ(e.info->name, "b");
  EXPECT_EQ((*c)->Find("zz").file, nullptr);
}

TEST_F(SafetensorsCollectionTest, OpensShardsThroughIndex) {
  WriteShard("model-00001-of-00002.safetensors", {"a", "b"}, 1.0f);
  WriteShard("model-00002-of-00002.safetensors", {"c"}, 2.0f);
  WriteIndex(R"({"a":"model-00001-of-00002.safetensors","b":"model-00001-of-00002.safetensors",)"
             R"("c":"model-00002-of-00002.safetensors"})");
  auto c = SafetensorsCollection::OpenModelDir(dir_);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ((*c)->Names().size(), 3u);
  auto e = (*c)->Find("c");
  ASSERT_NE(e.file, nullptr);
  EXPECT_EQ(e.file->path().filename(), "model-00002-of-00002.safetensors");
  float v;
  std::memcpy(&v, e.file->Data(*e.info).data(), 4);
  EXPECT_EQ(v, 2.0f);
  EXPECT_EQ((*c)->TotalBytes(), 48u);
}

TEST_F(SafetensorsCollectionTest, RefusesInconsistentIndexes) {
  WriteShard("s1.safetensors", {"a", "b"}, 1.0f);
  WriteShard("s2.safetensors", {"b"}, 2.0f);

  WriteIndex(R"({"a":"s1.safetensors","b":"missing.safetensors"})");
  auto missing = SafetensorsCollection::OpenModelDir(dir_);
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(Message(missing.status()).find("missing.safetensors"), std::string::npos);

  WriteIndex(R"({"a":"s1.safetensors","b":"s2.safetensors"})");
  auto twice = SafetensorsCollection::OpenModelDir(dir_);
  ASSERT_FALSE(twice.ok());
  EXPECT_NE(Message(twice.status()).find("tensor 'b' is stored in two shards"), std::string::npos)
      << twice.status();

  WriteIndex(R"({"a":"s2.safetensors"})");
  auto wrong = SafetensorsCollection::OpenModelDir(dir_);
  ASSERT_FALSE(wrong.ok());
  EXPECT_NE(Message(wrong.status()).find("tensor 'a' is listed in shard s2.safetensors"),
            std::string::npos)
      << wrong.status();

  WriteIndex(R"({"a":"../s1.safetensors"})");
  auto escape = SafetensorsCollection::OpenModelDir(dir_);
  ASSERT_FALSE(escape.ok());
  EXPECT_NE(Message(escape.status()).find("must be a file name"), std::string::npos);

  WriteIndex(R"({})");
  EXPECT_FALSE(SafetensorsCollection::OpenModelDir(dir_).ok());
}

TEST_F(SafetensorsCollectionTest, RefusesPickleOnlyDirectory) {
  // Bytes that would be a pickle; they must never be read.
  ASSERT_TRUE(WriteFileDurably(dir_ / "pytorch_model.bin", "\x80\x02}q\x00.").ok());
  ASSERT_TRUE(WriteFileDurably(dir_ / "extra.pt", "x").ok());
  auto c = SafetensorsCollection::OpenModelDir(dir_);
  EXPECT_EQ(c.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(Message(c.status()).find("pickle weights are not loaded; convert to safetensors"),
            std::string::npos)
      << c.status();
  EXPECT_NE(Message(c.status()).find("pytorch_model.bin"), std::string::npos);
}

TEST_F(SafetensorsCollectionTest, EmptyOrMissingDirectoryIsNotFound) {
  EXPECT_EQ(SafetensorsCollection::OpenModelDir(dir_).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(SafetensorsCollection::OpenModelDir(dir_ / "nope").status().code(),
            absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace lorad
