// Short job ids that sort by submit time: 10 Crockford base32 characters of
// the submit time in milliseconds + 2 of a per-millisecond counter, e.g.
// "01jdq3m8xk00".  Monotonic even if the clock steps back.
#pragma once

#include <cstdint>
#include <string>

namespace lorad {

class JobIdGenerator {
 public:
  /// `last_id`: the greatest id already stored ("" if none), so ids stay
  /// increasing across restarts.
  explicit JobIdGenerator(const std::string& last_id = "");
  std::string Next(int64_t now_ms);

 private:
  int64_t last_ms_ = 0;
  int64_t counter_ = 0;
};

}  // namespace lorad
