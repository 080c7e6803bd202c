#include "client/message_printer.h"

#include <google/protobuf/util/json_util.h>
#include <yaml-cpp/yaml.h>

#include <nlohmann/json.hpp>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "worker/base/status_macros.h"

namespace lorad {
namespace {

using Json = nlohmann::ordered_json;

bool YamlWouldRetype(const std::string& s) {
  static const char* const kWords[] = {"true",  "false", "yes", "no", "on",  "off", "null",
                                       "True",  "False", "Yes", "No", "On",  "Off", "Null",
                                       "TRUE",  "FALSE", "YES", "NO", "ON",  "OFF", "NULL",
                                       "~",     ""};
  for (const char* w : kWords) {
    if (s == w) return true;
  }
  double d = 0;
  return absl::SimpleAtod(s, &d) || s == ".inf" || s == "-.inf" || s == ".nan";
}

void Emit(const Json& j, YAML::Emitter& e) {
  switch (j.type()) {
    case Json::value_t::object:
      e << YAML::BeginMap;
      for (auto it = j.begin(); it != j.end(); ++it) {
        e << YAML::Key << it.key() << YAML::Value;
        Emit(it.value(), e);
      }
      e << YAML::EndMap;
      break;
    case Json::value_t::array:
      e << YAML::BeginSeq;
      for (const Json& item : j) Emit(item, e);
      e << YAML::EndSeq;
      break;
    case Json::value_t::string: {
      const std::string& s = j.get_ref<const std::string&>();
      if (s.find('\n') != std::string::npos) {
        e << YAML::Literal << s;
      } else if (YamlWouldRetype(s)) {
        e << YAML::SingleQuoted << s;
      } else {
        e << s;
      }
      break;
    }
    case Json::value_t::boolean:
      e << j.get<bool>();
      break;
    case Json::value_t::number_integer:
      e << j.get<int64_t>();
      break;
    case Json::value_t::number_unsigned:
      e << j.get<uint64_t>();
      break;
    case Json::value_t::number_float:
      e << j.dump();  // JSON's shortest round-trip spelling
      break;
    default:
      e << YAML::Null;
  }
}

}  // namespace

absl::StatusOr<std::string> MessageToJson(const google::protobuf::Message& message, bool pretty) {
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  options.always_print_primitive_fields = true;
  options.add_whitespace = pretty;
  std::string out;
  const auto status = google::protobuf::util::MessageToJsonString(message, &out, options);
  if (!status.ok()) {
    return absl::InternalError(absl::StrCat("cannot print ", message.GetTypeName(),
                                            " as JSON: ", status.ToString()));
  }
  while (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

absl::StatusOr<std::string> JsonToYaml(const std::string& json) {
  Json parsed = Json::parse(json, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) return absl::InternalError("JsonToYaml: not valid JSON");
  YAML::Emitter e;
  e.SetIndent(2);
  Emit(parsed, e);
  if (!e.good()) return absl::InternalError(absl::StrCat("YAML emitter: ", e.GetLastError()));
  return std::string(e.c_str());
}

absl::Status MessagePrinter::PrintOne(const google::protobuf::Message& message) {
  LORAD_ASSIGN_OR_RETURN(std::string json, MessageToJson(message, format_ == OutputFormat::kJson));
  if (format_ == OutputFormat::kJson) {
    out_ << json << '\n';
  } else {
    LORAD_ASSIGN_OR_RETURN(std::string yaml, JsonToYaml(json));
    out_ << yaml << '\n';
  }
  out_.flush();
  return absl::OkStatus();
}

absl::Status MessagePrinter::PrintItem(const google::protobuf::Message& message) {
  LORAD_ASSIGN_OR_RETURN(std::string json, MessageToJson(message, /*pretty=*/false));
  if (format_ == OutputFormat::kJson) {
    out_ << json << '\n';
  } else {
    LORAD_ASSIGN_OR_RETURN(std::string yaml, JsonToYaml(json));
    out_ << "---\n" << yaml << '\n';
  }
  out_.flush();
  return absl::OkStatus();
}

}  // namespace lorad
