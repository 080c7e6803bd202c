// Deterministic pseudo-random order, identical on every standard library and
// platform (std::shuffle / std::uniform_int_distribution are not: their
// algorithms are implementation-defined, which would break exact resume
// across machines).
#pragma once

#include <cstdint>
#include <vector>

namespace lorad {

/// SplitMix64 (Steele, Lea, Flood 2014): tiny, fast, well-mixed 64-bit outputs.
class SplitMix64 {
 public:
  explicit SplitMix64(uint64_t state) : state_(state) {}
  uint64_t Next();
  /// Uniform in [0, n) without modulo bias (rejection sampling); n > 0.
  uint64_t Below(uint64_t n);

 private:
  uint64_t state_;
};

/// A permutation of 0..n-1 by Fisher–Yates, seeded by (seed, stream); e.g.
/// stream = epoch gives an independent order per epoch.
std::vector<int64_t> SeededPermutation(int64_t n, uint64_t seed, uint64_t stream);

}  // namespace lorad
