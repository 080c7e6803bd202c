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

/// For a common Axolotl key that this build ignores, what to do instead
/// ("use save_steps ..."); nullptr when there is nothing useful to say.
const char* IgnoredKeyHint(const std::string& key);

}  // namespace lorad
