// Builds an expected Sample piece by piece: each piece trained or masked.
#pragma once

#include <string_view>
#include <vector>

#include "tests/data/fake_tokenizer.h"
#include "worker/data/sample.h"

namespace lorad::testing {

class ExpectedSample {
 public:
  ExpectedSample& Masked(std::string_view text) { return Ids(FakeTokenizer::Bytes(text), false); }
  ExpectedSample& Trained(std::string_view text) { return Ids(FakeTokenizer::Bytes(text), true); }
  ExpectedSample& Token(int32_t id, bool trained) { return Ids({id}, trained); }
  ExpectedSample& Ids(const std::vector<int32_t>& ids, bool trained) {
    for (int32_t id : ids) {
      s_.input_ids.push_back(id);
      s_.labels.push_back(trained ? id : kIgnoreIndex);
    }
    return *this;
  }
  const Sample& sample() const { return s_; }

 private:
  Sample s_;
};

}  // namespace lorad::testing
