#include "worker/config/yaml_field_reader.h"

#include <charconv>
#include <cmath>
#include <map>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace lorad {

namespace {

std::string Quote(const std::string& s) {
  // Values are echoed into error messages: keep them short and on one line.
  std::string shown = s.size() > 80 ? s.substr(0, 77) + "..." : s;
  for (char& c : shown) {
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
  }
  return absl::StrCat("\"", shown, "\"");
}

const char* KindName(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Map:
      return "a mapping";
    case YAML::NodeType::Null:
      return "null";
    default:
      return "a scalar";
  }
}

}  // namespace

bool ParseYamlDouble(const std::string& text, double* out) {
  std::string t = text;
  if (!t.empty() && t.front() == '+') t.erase(0, 1);
  if (t.empty()) return false;
  double v = 0;
  const char* end = t.data() + t.size();
  auto [ptr, ec] = std::from_chars(t.data(), end, v);
  if (ec != std::errc() || ptr != end || !std::isfinite(v)) return false;
  *out = v;
  return true;
}

bool ParseYamlInt(const std::string& text, int64_t* out) {
  std::string t = text;
  if (!t.empty() && t.front() == '+') t.erase(0, 1);
  if (t.empty()) return false;
  int64_t v = 0;
  const char* end = t.data() + t.size();
  auto [ptr, ec] = std::from_chars(t.data(), end, v);
  if (ec == std::errc() && ptr == end) {
    *out = v;
    return true;
  }
  double d = 0;
  if (!ParseYamlDouble(t, &d) || d != std::floor(d) || std::fabs(d) > 9.0e18) return false;
  *out = static_cast<int64_t>(d);
  return true;
}

bool ParseYamlBool(const std::string& text, bool* out) {
  static const std::map<std::string, bool> kWords = {
      {"true", true},   {"True", true},   {"TRUE", true},   {"yes", true},  {"Yes", true},
      {"YES", true},    {"on", true},     {"On", true},     {"ON", true},   {"y", true},
      {"Y", true},      {"false", false}, {"False", false}, {"FALSE", false}, {"no", false},
      {"No", false},    {"NO", false},    {"off", false},   {"Off", false}, {"OFF", false},
      {"n", false},     {"N", false}};
  auto it = kWords.find(text);
  if (it == kWords.end()) return false;
  *out = it->second;
  return true;
}

bool YamlTruthy(const YAML::Node& node) {
  if (!node.IsDefined() || node.IsNull()) return false;
  if (node.IsSequence() || node.IsMap()) return node.size() > 0;
  const std::string& s = node.Scalar();
  if (s.empty()) return false;
  bool b = false;
  if (ParseYamlBool(s, &b)) return b;
  double d = 0;
  if (ParseYamlDouble(s, &d)) return d != 0;
  return true;
}

YamlFieldReader::YamlFieldReader(const YAML::Node& map, std::string prefix,
                                 ConfigProblems* problems,
                                 const std::set<std::string>* overridden)
    : map_(map), prefix_(std::move(prefix)), problems_(problems), overridden_(overridden) {}

std::string YamlFieldReader::PathOf(const std::string& key) const {
  return prefix_.empty() ? key : absl::StrCat(prefix_, ".", key);
}

std::string YamlFieldReader::Where(const std::string& key, const YAML::Node& node) const {
  if (overridden_ != nullptr) {
    // The key itself, or a list/mapping above it (`--set datasets.0={path: x}`).
    const std::string path = PathOf(key);
    for (const std::string& o : *overridden_) {
      if (path.rfind(o, 0) == 0 &&
          (path.size() == o.size() || path[o.size()] == '.' || path[o.size()] == '[')) {
        return " (from --set)";
      }
    }
  }
  if (node.IsDefined()) {
    const YAML::Mark mark = node.Mark();
    if (mark.line >= 0) return absl::StrCat(" (line ", mark.line + 1, ")");
  }
  return "";
}

void YamlFieldReader::Problem(const std::string& key, const std::string& message) {
  const YAML::Node& map = map_;  // const: a non-const lookup would insert the key
  const YAML::Node node = map[key];
  problems_->Add(PathOf(key), message + Where(key, node));
}

YAML::Node YamlFieldReader::Take(const std::string& key) {
  taken_.insert(key);
  const YAML::Node& map = map_;
  return map[key];
}

bool YamlFieldReader::Has(const std::string& key) const {
  const YAML::Node& map = map_;
  const YAML::Node node = map[key];
  return node.IsDefined() && !node.IsNull();
}

bool YamlFieldReader::ScalarText(const std::string& key, const YAML::Node& node,
                                 std::string* text) {
  if (!node.IsScalar()) {
    Problem(key, absl::StrCat("must be a single value, got ", KindName(node)));
    return false;
  }
  *text = node.Scalar();
  return true;
}

bool YamlFieldReader::ReadBool(const std::string& key, bool* out) {
  const YAML::Node node = Take(key);
  if (!node.IsDefined() || node.IsNull()) return false;
  std::string text;
  if (!ScalarText(key, node, &text)) return false;
  if (!ParseYamlBool(text, out)) {
    Problem(key, absl::StrCat("must be true or false, got ", Quote(text)));
    return false;
  }
  return true;
}

bool YamlFieldReader::ReadInt(const std::string& key, int64_t* out, int64_t min, int64_t max) {
  const YAML::Node node = Take(key);
  if (!node.IsDefined() || node.IsNull()) return false;
  std::string text;
  if (!ScalarText(key, node, &text)) return false;
  int64_t v = 0;
  const bool parsed = ParseYamlInt(text, &v);
  if (parsed && v >= min && v <= max) {
    *out = v;
    return true;
  }
  std::string expected;
  if (min == 1) {
    expected = "a positive integer";
  } else if (min == 0) {
    expected = "a non-negative integer";
  } else {
    expected = absl::StrCat("an integer >= ", min);
  }
  if (parsed && v > max) absl::StrAppend(&expected, " <= ", max);
  Problem(key, absl::StrCat("must be ", expected, ", got ", parsed ? text : Quote(text)));
  return false;
}

bool YamlFieldReader::ReadDouble(const std::string& key, double* out,
                                 const std::function<bool(double)>& ok,
                                 const std::string& expected) {
  const YAML::Node node = Take(key);
  if (!node.IsDefined() || node.IsNull()) return false;
  std::string text;
  if (!ScalarText(key, node, &text)) return false;
  double v = 0;
  const bool parsed = ParseYamlDouble(text, &v);
  if (parsed && ok(v)) {
    *out = v;
    return true;
  }
  Problem(key, absl::StrCat("must be ", expected, ", got ", parsed ? text : Quote(text)));
  return false;
}

bool YamlFieldReader::ReadString(const std::string& key, std::string* out, bool allow_empty) {
  const YAML::Node node = Take(key);
  if (!node.IsDefined() || node.IsNull()) return false;
  std::string text;
  if (!ScalarText(key, node, &text)) return false;
  if (text.empty() && !allow_empty) {
    Problem(key, "must not be empty");
    return false;
  }
  *out = text;
  return true;
}

bool YamlFieldReader::ReadEnum(const std::string& key, std::string* out,
                               const std::vector<std::string>& allowed, const std::string& what) {
  std::string text;
  if (!ReadString(key, &text, /*allow_empty=*/true)) return false;
  for (const std::string& a : allowed) {
    if (a == text) {
      *out = text;
      return true;
    }
  }
  Problem(key, absl::StrCat("unknown ", what, " ", Quote(text), " (supported: ",
                            absl::StrJoin(allowed, ", "), ")"));
  return false;
}

bool YamlFieldReader::ReadStringList(const std::string& key, std::vector<std::string>* out,
                                     size_t max_items) {
  const YAML::Node node = Take(key);
  if (!node.IsDefined() || node.IsNull()) return false;
  if (!node.IsSequence()) {
    Problem(key, absl::StrCat("must be a list of strings, got ", KindName(node)));
    return false;
  }
  if (node.size() > max_items) {
    Problem(key, absl::StrCat("has ", node.size(), " entries; at most ", max_items, " allowed"));
    return false;
  }
  std::vector<std::string> items;
  for (size_t i = 0; i < node.size(); ++i) {
    const YAML::Node item = node[i];
    if (!item.IsScalar() || item.Scalar().empty()) {
      problems_->Add(absl::StrCat(PathOf(key), "[", i, "]"),
                     absl::StrCat("must be a non-empty string, got ",
                                  item.IsScalar() ? "\"\"" : KindName(item), Where(key, item)));
      return false;
    }
    items.push_back(item.Scalar());
  }
  *out = std::move(items);
  return true;
}

std::vector<std::string> YamlFieldReader::UntakenKeys() const {
  std::vector<std::string> keys;
  std::set<std::string> seen;
  for (const auto& kv : map_) {
    if (!kv.first.IsScalar()) continue;  // reported by CheckDuplicateKeys
    const std::string& k = kv.first.Scalar();
    if (taken_.count(k) == 0 && seen.insert(k).second) keys.push_back(k);
  }
  return keys;
}

void YamlFieldReader::CheckDuplicateKeys() {
  std::set<std::string> seen;
  for (const auto& kv : map_) {
    if (!kv.first.IsScalar()) {
      problems_->Add(prefix_.empty() ? "(top level)" : prefix_,
                     absl::StrCat("keys must be plain names, got ", KindName(kv.first),
                                  Where("", kv.first)));
      continue;
    }
    const std::string& k = kv.first.Scalar();
    if (!seen.insert(k).second) {
      problems_->Add(PathOf(k), absl::StrCat("duplicate key (line ", kv.first.Mark().line + 1,
                                             "): each key may appear once"));
    }
  }
}

}  // namespace lorad
