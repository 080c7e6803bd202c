// Fuzzes config.json parsing; an accepted config must survive ModelConfigToJson
// and parse back to the same JSON (what init-model and merge write is loadable).
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "worker/formats/model_config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto c = lorad::ParseModelConfig(text, "fuzz/config.json");
  if (!c.ok()) return 0;
  std::string json = lorad::ModelConfigToJson(*c);
  auto back = lorad::ParseModelConfig(json, "round-trip");
  if (!back.ok() || lorad::ModelConfigToJson(*back) != json) std::abort();
  return 0;
}
