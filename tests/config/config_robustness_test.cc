// Hostile or broken YAML never crashes the parser: seeded random mutations of
// real configs, alias fan-out, deep nesting and huge declared sizes all end in
// OK or INVALID_ARGUMENT, quickly.
#include <chrono>
#include <random>
#include <string>

#include "gtest/gtest.h"
#include "tests/config/config_test_util.h"
#include "worker/config/config_loader.h"

namespace lorad {
namespace {

class ConfigRobustnessTest : public testing::ConfigFixture {
 protected:
  void ExpectOkOrInvalid(const std::string& yaml, const std::vector<std::string>& sets = {}) {
    auto r = ParseTrainConfig(yaml, dir_.path(), sets);
    if (!r.ok()) {
      EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << r.status() << "\n"
                                                                        << yaml;
      EXPECT_FALSE(r.status().message().empty());
    }
  }
};

TEST_F(ConfigRobustnessTest, RandomMutationsOfAValidConfigNeverCrash) {
  const std::string base = Minimal(
      "lora_target_modules: [q_proj, v_proj]\nval_set_size: 0.1\neval_steps: 5\n"
      "save_steps: 10\nbf16: auto\nwarmup_ratio: 0.1\neval_prompts: [\"a\", \"b\"]\n");
  const std::string alphabet = " :-[]{}\n\t'\"#&*!|>%@`,?0123456789.eE+-_abcxyz\\\xC3\xA9";
  std::mt19937 rng(1234);  // fixed: a failure reproduces
  int parsed_ok = 0;
  for (int i = 0; i < 3000; ++i) {
    std::string y = base;
    const int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits; ++e) {
      const size_t pos = rng() % (y.size() + 1);
      switch (rng() % 3) {
        case 0:
          y.insert(pos, 1, alphabet[rng() % alphabet.size()]);
          break;
        case 1:
          if (pos < y.size()) y.erase(pos, 1 + rng() % 8);
          break;
        default:
          if (pos < y.size()) y[pos] = alphabet[rng() % alphabet.size()];
      }
    }
    auto r = ParseTrainConfig(y, dir_.path(), {});
    if (r.ok()) {
      ++parsed_ok;
    } else {
      ASSERT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << r.status() << "\n" << y;
    }
  }
  // Some mutations (inside comments-free values) still parse: the loop reaches
  // the validators, not only the YAML scanner.
  EXPECT_GT(parsed_ok, 0);
  EXPECT_LT(parsed_ok, 3000);
}

TEST_F(ConfigRobustnessTest, AliasFanOutStaysBounded) {
  // Each level references the previous one ten times: 10^8 nodes if expanded.
  std::string y = Minimal("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
  for (int i = 1; i <= 8; ++i) {
    y += "a" + std::to_string(i) + ": &a" + std::to_string(i) + " [";
    for (int k = 0; k < 10; ++k) y += (k ? ", *a" : "*a") + std::to_string(i - 1);
    y += "]\n";
  }
  y += "eval_prompts: *a8\nlora_target_modules: *a8\n";
  const auto start = std::chrono::steady_clock::now();
  ExpectOkOrInvalid(y);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
}

TEST_F(ConfigRobustnessTest, DeepNestingAndHugeNumbers) {
  ExpectOkOrInvalid(Minimal("deep: " + std::string(5000, '[') + std::string(5000, ']') + "\n"));
  ExpectOkOrInvalid(Minimal("deep: " + std::string(5000, '{')));
  ExpectOkOrInvalid(Minimal("sequence_len: 99999999999999999999999999\n"));
  ExpectOkOrInvalid(Minimal("lora_r: 1e400\n"));
  ExpectOkOrInvalid(Minimal("num_epochs: .nan\n"));
  ExpectOkOrInvalid(Minimal("micro_batch_size: -9223372036854775808\n"));
  ExpectOkOrInvalid(Minimal(), {"datasets.999999999.path=x"});
  ExpectOkOrInvalid(Minimal(), {"datasets.4000=x"});
  ExpectOkOrInvalid(std::string("\0\0\0", 3));
  ExpectOkOrInvalid("%YAML 1.2\n---\n- a\n---\n- b\n");
  ExpectOkOrInvalid("? [complex, key]\n: value\n");
  ExpectOkOrInvalid("*undefined_alias\n");
}

}  // namespace
}  // namespace lorad
