// safetensors writer: the whole file in memory, laid out by SafetensorsLayout
// (tensors sorted by name, header padded to a multiple of 8 bytes).
#include <algorithm>

#include "absl/strings/str_cat.h"
#include "worker/base/file_util.h"
#include "worker/formats/safetensors.h"
#include "worker/formats/safetensors_stream_writer.h"

namespace lorad {
namespace {

absl::StatusOr<SafetensorsLayout> LayoutFor(const std::vector<TensorBlob>& tensors,
                                            const std::map<std::string, std::string>& metadata) {
  std::vector<TensorSpec> specs;
  specs.reserve(tensors.size());
  for (const TensorBlob& t : tensors) specs.push_back({t.name, t.dtype, t.shape});
  auto layout = SafetensorsLayout::Make(std::move(specs), metadata);
  if (!layout.ok()) return layout.status();
  for (const TensorBlob& t : tensors) {
    const auto it = std::lower_bound(
        layout->order.begin(), layout->order.end(), t.name,
        [](const TensorSpec& s, const std::string& name) { return s.name < name; });
    const uint64_t want = layout->sizes[static_cast<size_t>(it - layout->order.begin())];
    if (t.data.size() != want) {
      return absl::InvalidArgumentError(absl::StrCat("tensor '", t.name, "': ", t.data.size(),
                                                     " bytes given, shape and dtype need ", want));
    }
  }
  return layout;
}

}  // namespace

std::string SerializeSafetensors(const std::vector<TensorBlob>& tensors,
                                 const std::map<std::string, std::string>& metadata) {
  auto layout = LayoutFor(tensors, metadata);
  if (!layout.ok()) return {};  // documented precondition; WriteSafetensors reports
  std::vector<const TensorBlob*> order;
  for (const TensorBlob& t : tensors) order.push_back(&t);
  std::sort(order.begin(), order.end(),
            [](const TensorBlob* a, const TensorBlob* b) { return a->name < b->name; });
  std::string out;
  out.reserve(layout->header.size() + layout->data_bytes);
  out += layout->header;
  for (const TensorBlob* t : order) {
    out.append(reinterpret_cast<const char*>(t->data.data()), t->data.size());
  }
  return out;
}

absl::Status WriteSafetensors(const std::filesystem::path& path,
                              const std::vector<TensorBlob>& tensors,
                              const std::map<std::string, std::string>& metadata) {
  if (auto layout = LayoutFor(tensors, metadata); !layout.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(path.string(), ": ", layout.status().message()));
  }
  return WriteFileDurably(path, SerializeSafetensors(tensors, metadata));
}

}  // namespace lorad
