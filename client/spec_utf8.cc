#include "client/spec_utf8.h"

#include <string_view>
#include <vector>

#include <google/protobuf/descriptor.h>

#include "absl/strings/str_cat.h"
#include "worker/base/status_macros.h"
#include "worker/config/config_path_policy.h"

namespace lorad {
namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

absl::Status BadField(const std::string& what, const std::string& path, std::string_view value,
                      size_t offset) {
  return absl::InvalidArgumentError(absl::StrCat(
      what, ": ", path, " is not valid UTF-8 (bad byte at offset ", offset, " of ", value.size(),
      "); lorad accepts only UTF-8 text in a job spec (a path or name in another encoding "
      "must be renamed or converted first)"));
}

absl::Status CheckMessage(const Message& message, const std::string& prefix,
                          const std::string& what) {
  const Reflection* reflection = message.GetReflection();
  std::vector<const FieldDescriptor*> fields;
  reflection->ListFields(message, &fields);  // only the set ones: unset strings are ""
  for (const FieldDescriptor* field : fields) {
    const std::string path = prefix.empty() ? field->name() : absl::StrCat(prefix, ".", field->name());
    if (field->type() == FieldDescriptor::TYPE_STRING) {
      if (field->is_repeated()) {
        const int n = reflection->FieldSize(message, field);
        for (int i = 0; i < n; ++i) {
          std::string scratch;
          const std::string& value = reflection->GetRepeatedStringReference(message, field, i, &scratch);
          if (size_t ok = ValidUtf8PrefixLength(value); ok != value.size()) {
            return BadField(what, absl::StrCat(path, "[", i, "]"), value, ok);
          }
        }
      } else {
        std::string scratch;
        const std::string& value = reflection->GetStringReference(message, field, &scratch);
        if (size_t ok = ValidUtf8PrefixLength(value); ok != value.size()) {
          return BadField(what, path, value, ok);
        }
      }
    } else if (field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
      if (field->is_repeated()) {
        const int n = reflection->FieldSize(message, field);
        for (int i = 0; i < n; ++i) {
          LORAD_RETURN_IF_ERROR(CheckMessage(reflection->GetRepeatedMessage(message, field, i),
                                             absl::StrCat(path, "[", i, "]"), what));
        }
      } else {
        LORAD_RETURN_IF_ERROR(CheckMessage(reflection->GetMessage(message, field), path, what));
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status CheckStringFieldsAreUtf8(const Message& message, const std::string& what) {
  return CheckMessage(message, "", what);
}

}  // namespace lorad
