#include "worker/base/file_util.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

namespace lorad {
namespace {

namespace fs = std::filesystem;

class FileUtilTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("lorad_file_util_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

TEST_F(FileUtilTest, AtomicWriteReplacesAndLeavesNoTemp) {
  fs::path p = dir_ / "a.txt";
  ASSERT_TRUE(WriteFileAtomically(p, "one").ok());
  ASSERT_TRUE(WriteFileAtomically(p, "two").ok());
  auto got = ReadFileToString(p);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(*got, "two");
  int files = 0;
  for ([[maybe_unused]] auto& e : fs::directory_iterator(dir_)) ++files;
  EXPECT_EQ(files, 1);
}

TEST_F(FileUtilTest, ReadRefusesOversizedAndMissing) {
  fs::path p = dir_ / "big";
  ASSERT_TRUE(WriteFileDurably(p, std::string(100, 'x')).ok());
  auto r = ReadFileToString(p, 10);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("limit"), std::string_view::npos);
  EXPECT_EQ(ReadFileToString(dir_ / "nope").status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace lorad
