#include "server/job_id.h"

#include <algorithm>

namespace lorad {
namespace {

constexpr char kAlphabet[] = "0123456789abcdefghjkmnpqrstvwxyz";  // Crockford, lower case

std::string Encode(int64_t v, int width) {
  std::string out(width, '0');
  for (int i = width - 1; i >= 0; --i) {
    out[i] = kAlphabet[v & 31];
    v >>= 5;
  }
  return out;
}

int64_t Decode(const std::string& s) {
  int64_t v = 0;
  for (char c : s) {
    const char* p = std::find(kAlphabet, kAlphabet + 32, c);
    if (p == kAlphabet + 32) return -1;
    v = (v << 5) | (p - kAlphabet);
  }
  return v;
}

}  // namespace

JobIdGenerator::JobIdGenerator(const std::string& last_id) {
  if (last_id.size() == 12) {
    int64_t ms = Decode(last_id.substr(0, 10));
    int64_t n = Decode(last_id.substr(10));
    if (ms >= 0 && n >= 0) {
      last_ms_ = ms;
      counter_ = n;
    }
  }
}

std::string JobIdGenerator::Next(int64_t now_ms) {
  if (now_ms > last_ms_) {
    last_ms_ = now_ms;
    counter_ = 0;
  } else if (++counter_ >= 1024) {
    // 1024 ids within one millisecond: borrow the next millisecond.
    ++last_ms_;
    counter_ = 0;
  }
  return Encode(last_ms_, 10) + Encode(counter_, 2);
}

}  // namespace lorad
