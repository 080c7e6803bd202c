#include "worker/config/config_overrides.h"

#include <charconv>
#include <cstdint>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"

namespace lorad {

namespace {

// A path segment: a mapping key or a list index.  (A struct, not std::variant:
// GCC 12 -O2 reports a false maybe-uninitialized on variant<string, size_t>.)
struct Segment {
  bool is_index = false;
  std::string name;
  size_t index = 0;
};
Segment Key(std::string name) { return {false, std::move(name), 0}; }
Segment Index(size_t index) { return {true, "", index}; }

constexpr size_t kMaxIndex = 4096;  // an override never needs to build a huge list

bool ParseIndex(std::string_view s, size_t* out) {
  if (s.empty() || s.size() > 9) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  std::from_chars(s.data(), s.data() + s.size(), *out);
  return true;
}

absl::Status ParseKeyPath(std::string_view key, std::vector<Segment>* segments) {
  size_t i = 0;
  while (i < key.size()) {
    if (key[i] == '[') {
      const size_t close = key.find(']', i);
      size_t index = 0;
      if (close == std::string_view::npos || !ParseIndex(key.substr(i + 1, close - i - 1), &index)) {
        return absl::InvalidArgumentError("a '[' must hold a list index, as in datasets[0].path");
      }
      segments->push_back(Index(index));
      i = close + 1;
      if (i < key.size() && key[i] == '.') ++i;
      continue;
    }
    size_t end = key.find_first_of(".[", i);
    if (end == std::string_view::npos) end = key.size();
    const std::string_view part = key.substr(i, end - i);
    if (part.empty()) return absl::InvalidArgumentError("empty key segment");
    size_t index = 0;
    if (ParseIndex(part, &index)) {
      segments->push_back(Index(index));
    } else {
      segments->push_back(Key(std::string(part)));
    }
    i = end;
    if (i < key.size() && key[i] == '.') {
      ++i;
      if (i == key.size()) return absl::InvalidArgumentError("key ends with '.'");
    }
  }
  if (segments->empty()) return absl::InvalidArgumentError("empty key");
  if (segments->front().is_index) {
    return absl::InvalidArgumentError("the first segment must be a key name");
  }
  return absl::OkStatus();
}

std::string CanonicalPath(const std::vector<Segment>& segments) {
  std::string path;
  for (const Segment& s : segments) {
    if (!s.is_index) {
      if (!path.empty()) path += '.';
      path += s.name;
    } else {
      absl::StrAppend(&path, "[", s.index, "]");
    }
  }
  return path;
}

}  // namespace

absl::Status ApplySetOverride(YAML::Node& root, std::string_view assignment,
                              std::string* key_path) {
  const std::string shown = absl::StrCat("--set ", std::string(assignment));
  const size_t eq = assignment.find('=');
  if (eq == std::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrCat(shown, ": expected key=value"));
  }
  std::vector<Segment> segments;
  if (absl::Status s = ParseKeyPath(assignment.substr(0, eq), &segments); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(shown, ": bad key: ", s.message()));
  }
  const std::string value_text(assignment.substr(eq + 1));
  YAML::Node value;
  try {
    value = YAML::Load(value_text);
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat(shown, ": the value is not valid YAML: ", e.msg));
  }
  *key_path = CanonicalPath(segments);

  if (!root.IsDefined() || root.IsNull()) root = YAML::Node(YAML::NodeType::Map);
  // yaml-cpp Nodes are handles: reset() rebinds `cur`, while operator= would
  // overwrite the value it points to.
  YAML::Node cur;
  cur.reset(root);
  for (size_t i = 0; i < segments.size(); ++i) {
    const bool last = i + 1 == segments.size();
    YAML::Node next;
    if (!segments[i].is_index) {
      const std::string* name = &segments[i].name;
      if (cur.IsNull()) cur = YAML::Node(YAML::NodeType::Map);
      if (!cur.IsMap()) {
        return absl::InvalidArgumentError(absl::StrCat(
            shown, ": ", CanonicalPath({segments.begin(), segments.begin() + i}),
            " is not a mapping, so it has no key \"", *name, "\""));
      }
      if (last) {
        cur[*name] = value;
        return absl::OkStatus();
      }
      next.reset(cur[*name]);
      if (!next.IsDefined() || next.IsNull()) {
        cur[*name] = YAML::Node(YAML::NodeType::Null);
        next.reset(cur[*name]);
      }
    } else {
      const size_t index = segments[i].index;
      if (!cur.IsSequence()) {
        return absl::InvalidArgumentError(absl::StrCat(
            shown, ": ", CanonicalPath({segments.begin(), segments.begin() + i}),
            " is not a list, so it cannot be indexed"));
      }
      if (index > cur.size() || index >= kMaxIndex) {
        return absl::InvalidArgumentError(
            absl::StrCat(shown, ": index ", index, " is past the end of ",
                         CanonicalPath({segments.begin(), segments.begin() + i}), " (",
                         cur.size(), " entries; use ", cur.size(), " to append)"));
      }
      if (index == cur.size()) cur.push_back(YAML::Node(YAML::NodeType::Null));
      if (last) {
        cur[index] = value;
        return absl::OkStatus();
      }
      next.reset(cur[index]);
    }
    cur.reset(next);
  }
  return absl::OkStatus();
}

}  // namespace lorad
