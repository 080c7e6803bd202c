#include "worker/base/process_memory.h"

#include <fstream>
#include <string>

namespace lorad {
namespace {

// "Key:   123 kB" lines (meminfo, status); 0 when the key is absent.
int64_t ReadKbField(const char* path, const std::string& key) {
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    if (line.compare(0, key.size(), key) != 0) continue;
    try {
      return std::stoll(line.substr(key.size())) * 1024;
    } catch (...) {
      return 0;
    }
  }
  return 0;
}

}  // namespace

ProcessMemory ReadProcessMemory() {
  ProcessMemory m;
  m.rss_bytes = ReadKbField("/proc/self/status", "VmRSS:");
  m.peak_rss_bytes = ReadKbField("/proc/self/status", "VmHWM:");
  m.available_bytes = ReadKbField("/proc/meminfo", "MemAvailable:");
  return m;
}

bool ResetPeakRss() {
  std::ofstream out("/proc/self/clear_refs");
  out << "5";
  out.flush();
  return static_cast<bool>(out);
}

}  // namespace lorad
