#include "worker/data/seeded_shuffle.h"

#include <cstddef>
#include <numeric>
#include <utility>

namespace lorad {

uint64_t SplitMix64::Next() {
  uint64_t z = (state_ += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

uint64_t SplitMix64::Below(uint64_t n) {
  // Values below 2^64 mod n would make the low residues more likely: reject them.
  const uint64_t threshold = (0 - n) % n;
  while (true) {
    uint64_t x = Next();
    if (x >= threshold) return x % n;
  }
}

std::vector<int64_t> SeededPermutation(int64_t n, uint64_t seed, uint64_t stream) {
  std::vector<int64_t> perm(static_cast<size_t>(n > 0 ? n : 0));
  std::iota(perm.begin(), perm.end(), int64_t{0});
  // Mix the stream through its own SplitMix step so that (seed, stream) and
  // (seed + 1, stream - 1) do not collide.
  SplitMix64 stream_mix(stream);
  SplitMix64 rng(seed ^ stream_mix.Next());
  for (size_t i = perm.size(); i > 1; --i) {
    size_t j = static_cast<size_t>(rng.Below(i));
    std::swap(perm[i - 1], perm[j]);
  }
  return perm;
}

}  // namespace lorad
