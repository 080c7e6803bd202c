#include "worker/formats/json_util.h"

#include <cmath>
#include <set>

#include "absl/strings/str_cat.h"

namespace lorad {
namespace {

using nlohmann::json;

// Thrown from the parser callback to stop parsing early (caught below).
struct JsonLimitError {
  std::string message;
};

}  // namespace

absl::StatusOr<json> ParseJsonObject(std::string_view text, std::string_view source,
                                     bool reject_duplicate_keys) {
  std::vector<std::set<std::string>> keys;  // one set per open object
  auto cb = [&](int depth, json::parse_event_t event, json& parsed) -> bool {
    switch (event) {
      case json::parse_event_t::object_start:
      case json::parse_event_t::array_start:
        if (depth >= kMaxJsonDepth) {
          throw JsonLimitError{absl::StrCat("JSON nested deeper than ", kMaxJsonDepth, " levels")};
        }
        if (event == json::parse_event_t::object_start) keys.emplace_back();
        break;
      case json::parse_event_t::object_end:
        if (!keys.empty()) keys.pop_back();
        break;
      case json::parse_event_t::key:
        if (reject_duplicate_keys && !keys.empty() &&
            !keys.back().insert(parsed.get<std::string>()).second) {
          throw JsonLimitError{absl::StrCat("duplicate key \"", parsed.get<std::string>(), "\"")};
        }
        break;
      default:
        break;
    }
    return true;
  };
  json root;
  try {
    root = json::parse(text.begin(), text.end(), cb, /*allow_exceptions=*/true,
                       /*ignore_comments=*/false);
  } catch (const JsonLimitError& e) {
    return absl::InvalidArgumentError(absl::StrCat(std::string(source), ": ", e.message));
  } catch (const json::exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat(std::string(source), ": invalid JSON: ", e.what()));
  }
  if (!root.is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat(std::string(source), ": expected a JSON object at the top level"));
  }
  return root;
}

std::string JsonSnippet(const json& v) {
  std::string s = v.dump(-1, ' ', false, json::error_handler_t::replace);
  if (s.size() > 80) s = s.substr(0, 77) + "...";
  return s;
}

bool JsonFields::Has(const std::string& key) const { return obj_.contains(key); }

bool JsonFields::HasValue(const std::string& key) const {
  auto it = obj_.find(key);
  return it != obj_.end() && !it->is_null();
}

absl::Status JsonFields::Error(const std::string& key, const std::string& msg) const {
  return absl::InvalidArgumentError(absl::StrCat(source_, ": key '", key, "': ", msg));
}

absl::StatusOr<std::optional<int64_t>> JsonFields::Int(const std::string& key) const {
  auto it = obj_.find(key);
  if (it == obj_.end() || it->is_null()) return std::nullopt;
  if (it->is_number_integer() && !it->is_number_unsigned()) return it->get<int64_t>();
  if (it->is_number_unsigned()) {
    uint64_t u = it->get<uint64_t>();
    if (u <= static_cast<uint64_t>(INT64_MAX)) return static_cast<int64_t>(u);
  }
  return Error(key, absl::StrCat("expected an integer, got ", JsonSnippet(*it)));
}

absl::StatusOr<std::optional<double>> JsonFields::Double(const std::string& key) const {
  auto it = obj_.find(key);
  if (it == obj_.end() || it->is_null()) return std::nullopt;
  if (it->is_number()) {
    double d = it->get<double>();
    if (std::isfinite(d)) return d;
  }
  return Error(key, absl::StrCat("expected a finite number, got ", JsonSnippet(*it)));
}

absl::StatusOr<std::optional<bool>> JsonFields::Bool(const std::string& key) const {
  auto it = obj_.find(key);
  if (it == obj_.end() || it->is_null()) return std::nullopt;
  if (it->is_boolean()) return it->get<bool>();
  return Error(key, absl::StrCat("expected true or false, got ", JsonSnippet(*it)));
}

absl::StatusOr<std::optional<std::string>> JsonFields::String(const std::string& key) const {
  auto it = obj_.find(key);
  if (it == obj_.end() || it->is_null()) return std::nullopt;
  if (it->is_string()) return it->get<std::string>();
  return Error(key, absl::StrCat("expected a string, got ", JsonSnippet(*it)));
}

absl::StatusOr<std::optional<std::vector<std::string>>> JsonFields::StringList(
    const std::string& key) const {
  auto it = obj_.find(key);
  if (it == obj_.end() || it->is_null()) return std::nullopt;
  if (!it->is_array()) return Error(key, absl::StrCat("expected a list, got ", JsonSnippet(*it)));
  std::vector<std::string> out;
  for (const json& v : *it) {
    if (!v.is_string()) {
      return Error(key, absl::StrCat("expected a list of strings, found ", JsonSnippet(v)));
    }
    out.push_back(v.get<std::string>());
  }
  return out;
}

absl::StatusOr<std::optional<std::vector<int64_t>>> JsonFields::IntList(
    const std::string& key) const {
  auto it = obj_.find(key);
  if (it == obj_.end() || it->is_null()) return std::nullopt;
  if (!it->is_array()) return Error(key, absl::StrCat("expected a list, got ", JsonSnippet(*it)));
  std::vector<int64_t> out;
  for (const json& v : *it) {
    if (!v.is_number_integer() ||
        (v.is_number_unsigned() && v.get<uint64_t>() > static_cast<uint64_t>(INT64_MAX))) {
      return Error(key, absl::StrCat("expected a list of integers, found ", JsonSnippet(v)));
    }
    out.push_back(v.get<int64_t>());
  }
  return out;
}

}  // namespace lorad
