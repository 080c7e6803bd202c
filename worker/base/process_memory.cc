#include "worker/base/process_memory.h"

#include <fstream>
#include <initializer_list>
#include <utility>
#include <string>

namespace lorad {
namespace {

// The "Key:   123 kB" lines of a /proc file, in bytes, for the keys asked;
// one pass over the file whatever the number of keys (0 for absent keys).
void ReadKbFields(const char* path, std::initializer_list<std::pair<const char*, int64_t*>> keys) {
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    for (const auto& [key, out] : keys) {
      const size_t n = std::char_traits<char>::length(key);
      if (line.compare(0, n, key) != 0) continue;
      try {
        *out = std::stoll(line.substr(n)) * 1024;
      } catch (...) {
        *out = 0;
      }
    }
  }
}

}  // namespace

ProcessMemory ReadProcessMemory() {
  ProcessMemory m;
  ReadKbFields("/proc/self/status", {{"VmRSS:", &m.rss_bytes}, {"VmHWM:", &m.peak_rss_bytes}});
  ReadKbFields("/proc/meminfo", {{"MemAvailable:", &m.available_bytes}});
  return m;
}

bool ResetPeakRss() {
  std::ofstream out("/proc/self/clear_refs");
  out << "5";
  out.flush();
  return static_cast<bool>(out);
}

}  // namespace lorad
