// Fuzzes adapter_config.json parsing; accepted configs must round-trip.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "worker/formats/adapter_config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto c = lorad::ParseAdapterConfig(text, "fuzz/adapter_config.json");
  if (!c.ok()) return 0;
  std::string json = lorad::AdapterConfigToJson(*c);
  auto back = lorad::ParseAdapterConfig(json, "round-trip");
  if (!back.ok() || lorad::AdapterConfigToJson(*back) != json) std::abort();
  return 0;
}
