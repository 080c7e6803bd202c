// Fuzzes the Axolotl-style training YAML loader (no path checks: the fuzzer
// must not depend on the file system).
#include <cstdint>
#include <string_view>

#include "worker/config/config_loader.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  lorad::ConfigLoadOptions options;
  options.check_paths = false;
  auto c = lorad::ParseTrainConfig(text, "/nonexistent-fuzz-dir", {}, options);
  (void)c;
  return 0;
}
