// Fuzzes the safetensors header parser on whole-file bytes.  Beyond "no crash":
// whatever it accepts must describe tensors that lie inside the input, so a
// hostile header (e.g. one claiming a 1 TB tensor) can never make a reader
// touch memory outside the file or allocate by its claims.
#include <cstdint>
#include <cstdlib>
#include <span>

#include "worker/formats/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto h = lorad::ParseSafetensorsHeader(std::span<const uint8_t>(data, size), "fuzz");
  if (!h.ok()) return 0;
  if (h->data_offset > size) std::abort();
  uint64_t pos = 0;
  for (const lorad::TensorInfo& t : h->tensors) {
    if (t.begin != pos || t.end < t.begin || h->data_offset + t.end > size) std::abort();
    if (static_cast<uint64_t>(t.numel()) * lorad::DTypeSize(t.dtype) != t.end - t.begin) {
      std::abort();
    }
    pos = t.end;
  }
  if (h->data_offset + pos != size) std::abort();
  return 0;
}
