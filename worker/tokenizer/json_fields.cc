#include "worker/tokenizer/json_fields.h"

#include "absl/strings/str_cat.h"
#include "worker/tokenizer/utf8_util.h"

namespace lorad {

JsonPath JsonPath::Key(const std::string& key) const {
  return JsonPath(source_, path_.empty() ? key : absl::StrCat(path_, ".", key));
}

JsonPath JsonPath::Index(size_t i) const {
  return JsonPath(source_, absl::StrCat(path_, "[", i, "]"));
}

std::string JsonPath::ToString() const {
  return path_.empty() ? source_ : absl::StrCat(source_, ": ", path_);
}

absl::Status JsonPath::Error(const std::string& message) const {
  return absl::InvalidArgumentError(absl::StrCat(ToString(), ": ", message));
}

absl::StatusOr<std::string> JsonString(const nlohmann::json& j, const std::string& key,
                                       const JsonPath& at, bool required,
                                       const std::string& fallback) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) {
    if (required) return at.Key(key).Error("required string is missing");
    return fallback;
  }
  if (!it->is_string()) return at.Key(key).Error("must be a string");
  const std::string& s = it->get_ref<const std::string&>();
  if (s.size() > kMaxTokenBytes) {
    return at.Key(key).Error(
        absl::StrCat("string of ", s.size(), " bytes exceeds the limit of ", kMaxTokenBytes));
  }
  return s;
}

absl::StatusOr<bool> JsonBool(const nlohmann::json& j, const std::string& key, const JsonPath& at,
                              bool fallback) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return fallback;
  if (!it->is_boolean()) return at.Key(key).Error("must be true or false");
  return it->get<bool>();
}

absl::StatusOr<int64_t> JsonInt(const nlohmann::json& j, const std::string& key, const JsonPath& at,
                                int64_t min, int64_t max, int64_t fallback) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return fallback;
  if (!it->is_number_integer()) return at.Key(key).Error("must be an integer");
  const int64_t v = it->get<int64_t>();
  if (v < min || v > max) {
    return at.Key(key).Error(absl::StrCat(v, " is outside [", min, ", ", max, "]"));
  }
  return v;
}

absl::StatusOr<std::string> JsonType(const nlohmann::json& j, const JsonPath& at) {
  if (!j.is_object()) return at.Error("must be an object");
  return JsonString(j, "type", at, /*required=*/true);
}

absl::StatusOr<std::string> JsonPattern(const nlohmann::json& j, const JsonPath& at,
                                        bool* is_regex) {
  if (!j.is_object() || j.size() != 1) {
    return at.Error(R"(must be {"String": ...} or {"Regex": ...})");
  }
  if (j.contains("String")) {
    *is_regex = false;
    return JsonString(j, "String", at, true);
  }
  if (j.contains("Regex")) {
    *is_regex = true;
    return JsonString(j, "Regex", at, true);
  }
  return at.Error(R"(must be {"String": ...} or {"Regex": ...})");
}

}  // namespace lorad
