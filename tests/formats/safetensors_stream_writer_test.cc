// The streaming safetensors writer: the same bytes as the in-memory writer,
// and every misuse (order, size, missing tensors) an error.
#include "worker/formats/safetensors_stream_writer.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>

#include "worker/base/file_util.h"

namespace lorad {
namespace {

namespace fs = std::filesystem;

std::span<const uint8_t> Span(const std::vector<float>& v) {
  return {reinterpret_cast<const uint8_t*>(v.data()), v.size() * sizeof(float)};
}

class StreamWriterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("lorad_stw_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
  const std::vector<float> a_ = {1, 2, 3, 4, 5, 6}, b_ = {7}, c_ = {};
};

TEST_F(StreamWriterTest, WritesWhatSerializeSafetensorsWrites) {
  auto w =
      SafetensorsStreamWriter::Create(dir_ / "s.safetensors", {{"z.weight", DType::kF32, {2, 3}},
                                                               {"a.bias", DType::kF32, {1}},
                                                               {"m.empty", DType::kF32, {0}}});
  ASSERT_TRUE(w.ok()) << w.status();
  // Data goes in name order, whatever order the specs came in.
  ASSERT_EQ((*w)->order().size(), 3u);
  EXPECT_EQ((*w)->order()[0].name, "a.bias");
  EXPECT_EQ((*w)->order()[2].name, "z.weight");
  ASSERT_TRUE((*w)->Write("a.bias", Span(b_)).ok());
  ASSERT_TRUE((*w)->Write("m.empty", Span(c_)).ok());
  ASSERT_TRUE((*w)->Write("z.weight", Span(a_)).ok());
  ASSERT_TRUE((*w)->Finish().ok());

  const std::string expected = SerializeSafetensors({{"z.weight", DType::kF32, {2, 3}, Span(a_)},
                                                     {"a.bias", DType::kF32, {1}, Span(b_)},
                                                     {"m.empty", DType::kF32, {0}, Span(c_)}});
  auto written = ReadFileToString(dir_ / "s.safetensors");
  ASSERT_TRUE(written.ok());
  EXPECT_EQ(*written, expected);
  auto file = SafetensorsFile::Open(dir_ / "s.safetensors");
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ((*file)->header().metadata.at("format"), "pt");
  EXPECT_EQ(std::memcmp((*file)->Data(*(*file)->Find("z.weight")).data(), a_.data(), 24), 0);
  // Dropping a tensor's pages loses nothing: the bytes read back from the file.
  (*file)->ReleasePages(*(*file)->Find("z.weight"));
  EXPECT_EQ(std::memcmp((*file)->Data(*(*file)->Find("z.weight")).data(), a_.data(), 24), 0);
}

TEST_F(StreamWriterTest, RefusesMisuse) {
  EXPECT_FALSE(SafetensorsStreamWriter::Create(dir_ / "d",
                                               {{"x", DType::kF32, {1}}, {"x", DType::kF32, {1}}})
                   .ok());
  EXPECT_FALSE(SafetensorsStreamWriter::Create(dir_ / "n", {{"x", DType::kF32, {-1}}}).ok());
  EXPECT_FALSE(
      SafetensorsStreamWriter::Create(dir_ / "m", {{"__metadata__", DType::kF32, {1}}}).ok());
  EXPECT_EQ(SafetensorsStreamWriter::Create(dir_ / "no-dir" / "x", {}).status().code(),
            absl::StatusCode::kNotFound);

  auto w = SafetensorsStreamWriter::Create(dir_ / "w.safetensors",
                                           {{"a", DType::kF32, {1}}, {"b", DType::kF32, {6}}});
  ASSERT_TRUE(w.ok());
  auto order = (*w)->Write("b", Span(a_));
  EXPECT_EQ(order.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(order.message().find("out of order (expected 'a')"), std::string::npos) << order;
  auto size = (*w)->Write("a", Span(a_));
  EXPECT_EQ(size.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(size.message().find("24 bytes given, shape and dtype need 4"), std::string::npos)
      << size;
  ASSERT_TRUE((*w)->Write("a", Span(b_)).ok());
  auto early = (*w)->Finish();
  EXPECT_EQ(early.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(early.message().find("next 'b'"), std::string::npos) << early;
}

}  // namespace
}  // namespace lorad
