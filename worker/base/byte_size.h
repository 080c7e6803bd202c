// Human byte sizes ("2GB", "512MiB") as transformers' max_shard_size spells
// them.  Torch-free: lorad validates a merge's --max-shard-size at submit.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"

namespace lorad {

/// "2GB" (10^9, as transformers), "500MB", "512MiB", "100KB", "4096" (bytes);
/// case-insensitive.  Zero and garbage are errors.
absl::StatusOr<uint64_t> ParseByteSize(const std::string& text);

}  // namespace lorad
