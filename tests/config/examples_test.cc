// The example configs in examples/ stay valid, use only keys this build
// honours, and their data files hold what their dataset type needs.
#include <fstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/config/config_test_util.h"
#include "worker/config/config_loader.h"

namespace lorad {
namespace {

using ::testing::IsEmpty;

const std::filesystem::path kExamples = std::filesystem::path(LORAD_SOURCE_DIR) / "examples";

class ExamplesTest : public ::testing::TestWithParam<const char*> {};

TEST_P(ExamplesTest, ParsesWithoutIgnoredKeysAndDataMatchesItsType) {
  testing::TempDir model;  // stands in for models/tiny, which init-model creates
  auto r = LoadTrainConfigFile(kExamples / GetParam(), {"base_model=" + model.path().string()});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_THAT(r->ignored_keys, IsEmpty());
  // Written relative to examples/: the output lands in the repository's out/.
  EXPECT_EQ(std::filesystem::path(r->config.output_dir).parent_path(),
            (std::filesystem::path(LORAD_SOURCE_DIR) / "out").lexically_normal());
  for (const DatasetSpec& d : r->config.datasets) {
    std::ifstream in(d.path);
    ASSERT_TRUE(in) << d.path;
    std::string line;
    int lines = 0;
    while (std::getline(in, line)) {
      ++lines;
      const auto j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
      ASSERT_TRUE(j.is_object()) << d.path << ":" << lines;
      if (d.type == "completion") {
        EXPECT_TRUE(j.contains(d.field) && j[d.field].is_string()) << d.path << ":" << lines;
      } else if (d.type == "alpaca") {
        EXPECT_TRUE(j.contains("instruction") && j.contains("output")) << d.path << ":" << lines;
      } else {
        ASSERT_TRUE(j.contains(d.field_messages) && j[d.field_messages].is_array())
            << d.path << ":" << lines;
        for (const auto& m : j[d.field_messages]) {
          EXPECT_TRUE(m.contains("role") && m.contains("content")) << d.path << ":" << lines;
        }
      }
    }
    EXPECT_GE(lines, 10) << d.path;
    // Examples stay small (a few KB) so they live in git and run in seconds.
    EXPECT_LT(std::filesystem::file_size(d.path), 8192u) << d.path;
  }
}

INSTANTIATE_TEST_SUITE_P(All, ExamplesTest,
                         ::testing::Values("tiny-lora.yaml", "alpaca-lora.yaml",
                                           "chat-lora.yaml"));

}  // namespace
}  // namespace lorad
