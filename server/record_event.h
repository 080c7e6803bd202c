// Trainer records (the JSON objects `lorad-worker run` prints, forwarded by
// `lorad-worker serve`) → typed JobEvents.  Unknown record types keep their
// JSON in `record_json`, so new trainer records reach watchers unchanged.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "lorad/v1/lorad.pb.h"

namespace lorad {

/// Parses one record (bounded by the caller).  The event's time/seq/attempt
/// are left for the caller and the store.
absl::StatusOr<v1::JobEvent> EventFromRecordJson(const std::string& json);

}  // namespace lorad
