// `--set key=value` overrides applied to the parsed YAML before validation.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "yaml-cpp/yaml.h"

namespace lorad {

/// Applies one "key=value" to `root` (a mapping, or null which becomes one).
/// The key is a dotted path; a numeric segment (`datasets.0.path`) or a bracket
/// (`datasets[0].path`) indexes a list, and the index one past the end appends.
/// The value is parsed as YAML (`1e-4`, `[q_proj, v_proj]`, `{path: x}`; empty → null).
/// On success `*key_path` is the canonical path ("datasets[0].path").
/// INVALID_ARGUMENT naming the override when malformed or when it walks into a
/// value of the wrong kind.
absl::Status ApplySetOverride(YAML::Node& root, std::string_view assignment,
                              std::string* key_path);

}  // namespace lorad
