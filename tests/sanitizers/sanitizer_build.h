// Whether this test binary (and the binaries of its build) run under
// AddressSanitizer: some cases cannot apply there (ASan reserves terabytes of
// virtual address space for its shadow, so a `ulimit -v` limit kills the
// process at start-up) and run in the normal build only.
#pragma once

namespace lorad::testing {

#if defined(__SANITIZE_ADDRESS__)
inline constexpr bool kAddressSanitizer = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
inline constexpr bool kAddressSanitizer = true;
#else
inline constexpr bool kAddressSanitizer = false;
#endif
#else
inline constexpr bool kAddressSanitizer = false;
#endif

inline constexpr const char* kNoAddressLimitUnderAsan =
    "ASan reserves terabytes of virtual address space for its shadow memory, so `ulimit -v` "
    "cannot apply; this case runs in the normal build";

}  // namespace lorad::testing
