// Axolotl keys this build knows but does not implement, split by consequence:
// refused (setting them changes the training math in a way lorad cannot honour
// yet) or ignored (reported by name; results are unaffected).
#pragma once

#include <string>
#include <vector>

namespace lorad {

struct RefusedKey {
  const char* key;
  const char* reason;  // completes "KEY: <reason>"
};

/// Top-level keys refused when set to anything truthy (not null/false/0/empty).
const std::vector<RefusedKey>& RefusedTopLevelKeys();
/// Same for keys of a datasets[] entry.
const std::vector<RefusedKey>& RefusedDatasetKeys();

}  // namespace lorad
