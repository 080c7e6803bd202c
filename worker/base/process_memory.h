// Memory figures of this process and host from /proc, for worker heartbeats:
// on a CPU worker the job's "device" memory is the process's resident set.
#pragma once

#include <cstdint>

namespace lorad {

struct ProcessMemory {
  int64_t rss_bytes = 0;        // VmRSS of this process
  int64_t peak_rss_bytes = 0;   // VmHWM: since start, or since ResetPeakRss()
  int64_t available_bytes = 0;  // MemAvailable of the host (or container)
};

/// Zeros for what /proc does not provide (not Linux, /proc unmounted).
ProcessMemory ReadProcessMemory();

/// Restarts VmHWM at the current RSS (Linux 4.0+: "5" to /proc/self/clear_refs),
/// so that a peak can be reported per job rather than per process.
bool ResetPeakRss();

}  // namespace lorad
