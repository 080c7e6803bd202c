// Fuzzes manifest.json parsing: accepted manifests only name safe relative
// paths and round-trip through CheckpointManifestToJson.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "worker/checkpoint/checkpoint_manifest.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto m = lorad::ParseCheckpointManifest(text, "fuzz/manifest.json");
  if (!m.ok()) return 0;
  for (const auto& f : m->files) {
    if (f.name.empty() || f.name[0] == '/' || f.name.find("..") == 0) std::abort();
  }
  auto back = lorad::ParseCheckpointManifest(lorad::CheckpointManifestToJson(*m), "round-trip");
  if (!back.ok() || back->files.size() != m->files.size()) std::abort();
  return 0;
}
