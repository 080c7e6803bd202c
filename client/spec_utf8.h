// A check of every string field of a request before it is sent.  Protobuf
// refuses a string field that is not UTF-8 while parsing the request on the
// server, and Debian's gRPC 1.51 then answers UNIMPLEMENTED with an empty
// message — so loractl checks first and names the field itself.
#pragma once

#include <string>

#include <google/protobuf/message.h>

#include "absl/status/status.h"

namespace lorad {

/// OK when every string field of `message` (nested messages and repeated
/// fields included; `bytes` fields are not text) is well-formed UTF-8.
/// Otherwise INVALID_ARGUMENT naming the first bad field by its path in
/// `message` (e.g. `name`, `set_overrides[1]`, `merge.out_dir`) and the offset
/// of its first bad byte; `what` says what the message is ("the job spec").
absl::Status CheckStringFieldsAreUtf8(const google::protobuf::Message& message,
                                      const std::string& what);

}  // namespace lorad
