// Prints protobuf messages as JSON (proto field names, defaults included) or
// YAML, one object or a stream of them (JSON Lines / YAML documents).
#pragma once

#include <ostream>
#include <string>

#include <google/protobuf/message.h>

#include "absl/status/statusor.h"
#include "client/command_line.h"

namespace lorad {

/// JSON with the proto's snake_case field names and every default value
/// (0, "", false, the zero enum) printed, per the proto3 JSON mapping (int64
/// as strings, Timestamps as RFC 3339).  One line unless `pretty`.
absl::StatusOr<std::string> MessageToJson(const google::protobuf::Message& message, bool pretty);

/// Converts a JSON object to a YAML block document, keeping key order.
/// Multi-line strings become literal blocks; strings that YAML would read as
/// numbers, booleans or null are quoted, so the types survive a round trip.
absl::StatusOr<std::string> JsonToYaml(const std::string& json);

class MessagePrinter {
 public:
  /// `format` must be kJson or kYaml.
  MessagePrinter(OutputFormat format, std::ostream& out) : format_(format), out_(out) {}

  /// A single result (get, version, health, submit --dry-run): indented JSON,
  /// or one YAML document.
  absl::Status PrintOne(const google::protobuf::Message& message);

  /// One element of a list or stream: a JSON line, or a YAML document
  /// introduced by "---".  Flushed, so `logs -f -o json | jq` sees it at once.
  absl::Status PrintItem(const google::protobuf::Message& message);

 private:
  OutputFormat format_;
  std::ostream& out_;
};

}  // namespace lorad
