#include "worker/base/process_memory.h"

#include <gtest/gtest.h>
#include <sys/mman.h>

#include <cstring>

namespace lorad {
namespace {

TEST(ProcessMemoryTest, ResidentSetFollowsTouchedMemoryAndPeakResets) {
  const ProcessMemory before = ReadProcessMemory();
  ASSERT_GT(before.rss_bytes, 0);
  ASSERT_GT(before.available_bytes, 0);
  EXPECT_GE(before.peak_rss_bytes, before.rss_bytes);

  constexpr size_t kBytes = 64 << 20;
  {
    // mmap, not new: the block must go back to the kernel when freed, which
    // an allocator need not do (AddressSanitizer keeps freed memory in its
    // quarantine, resident).
    void* mapped = mmap(nullptr, kBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ASSERT_NE(mapped, MAP_FAILED);
    char* block = static_cast<char*>(mapped);
    std::memset(block, 1, kBytes);  // resident only once touched
    const ProcessMemory during = ReadProcessMemory();
    EXPECT_GE(during.rss_bytes, before.rss_bytes + static_cast<int64_t>(kBytes) * 9 / 10);
    EXPECT_GE(during.peak_rss_bytes, during.rss_bytes);
    volatile char sink = block[kBytes - 1];
    (void)sink;
    ASSERT_EQ(munmap(mapped, kBytes), 0);
  }
  // Unmapped, so no longer resident: the peak remembers it until reset.
  const ProcessMemory after = ReadProcessMemory();
  EXPECT_GE(after.peak_rss_bytes, before.rss_bytes + static_cast<int64_t>(kBytes) * 9 / 10);
  ASSERT_TRUE(ResetPeakRss());
  const ProcessMemory reset = ReadProcessMemory();
  EXPECT_LT(reset.peak_rss_bytes, after.peak_rss_bytes - static_cast<int64_t>(kBytes) / 2);
}

}  // namespace
}  // namespace lorad
