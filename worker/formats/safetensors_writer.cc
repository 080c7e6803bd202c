// safetensors writer: tensors sorted by name, data contiguous in that order,
// header padded with spaces to a multiple of 8 bytes as the reference writer
// does (so readers that map the file can view aligned data without copying).
#include <algorithm>
#include <set>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "worker/base/file_util.h"
#include "worker/formats/safetensors.h"

namespace lorad {
namespace {

absl::Status ValidateBlobs(const std::vector<TensorBlob>& tensors) {
  std::set<std::string_view> names;
  for (const TensorBlob& t : tensors) {
    if (t.name.empty() || t.name == "__metadata__") {
      return absl::InvalidArgumentError(absl::StrCat("invalid tensor name \"", t.name, "\""));
    }
    if (!names.insert(t.name).second) {
      return absl::InvalidArgumentError(absl::StrCat("tensor '", t.name, "' given twice"));
    }
    uint64_t n = 1;
    for (int64_t d : t.shape) {
      if (d < 0 || __builtin_mul_overflow(n, static_cast<uint64_t>(d), &n)) {
        return absl::InvalidArgumentError(absl::StrCat("tensor '", t.name, "': invalid shape"));
      }
    }
    uint64_t bytes = 0;
    if (__builtin_mul_overflow(n, DTypeSize(t.dtype), &bytes) || bytes != t.data.size()) {
      return absl::InvalidArgumentError(absl::StrCat("tensor '", t.name, "': ", t.data.size(),
                                                     " bytes given, shape and dtype need ", bytes));
    }
  }
  return absl::OkStatus();
}

}  // namespace

std::string SerializeSafetensors(const std::vector<TensorBlob>& tensors,
                                 const std::map<std::string, std::string>& metadata) {
  if (!ValidateBlobs(tensors).ok()) return {};  // documented precondition; WriteSafetensors reports
  std::vector<const TensorBlob*> order;
  for (const TensorBlob& t : tensors) order.push_back(&t);
  std::sort(order.begin(), order.end(),
            [](const TensorBlob* a, const TensorBlob* b) { return a->name < b->name; });

  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  nlohmann::ordered_json meta = nlohmann::ordered_json::object();
  if (metadata.empty()) {
    meta["format"] = "pt";
  } else {
    for (const auto& [k, v] : metadata) meta[k] = v;
  }
  header["__metadata__"] = std::move(meta);
  uint64_t offset = 0;
  for (const TensorBlob* t : order) {
    header[t->name] = {{"dtype", std::string(DTypeName(t->dtype))},
                       {"shape", t->shape},
                       {"data_offsets", {offset, offset + t->data.size()}}};
    offset += t->data.size();
  }
  std::string json = header.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
  json.append((8 - json.size() % 8) % 8, ' ');

  std::string out;
  out.reserve(8 + json.size() + offset);
  uint64_t n = json.size();
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((n >> (8 * i)) & 0xff));
  out += json;
  for (const TensorBlob* t : order) {
    out.append(reinterpret_cast<const char*>(t->data.data()), t->data.size());
  }
  return out;
}

absl::Status WriteSafetensors(const std::filesystem::path& path,
                              const std::vector<TensorBlob>& tensors,
                              const std::map<std::string, std::string>& metadata) {
  if (auto s = ValidateBlobs(tensors); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(path.string(), ": ", s.message()));
  }
  return WriteFileDurably(path, SerializeSafetensors(tensors, metadata));
}

}  // namespace lorad
