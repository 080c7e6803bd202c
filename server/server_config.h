// lorad's own configuration (/etc/lorad/lorad.yaml, --config FILE): every key
// has a default, unknown keys are errors, flags override the file.  See
// deploy/lorad.yaml for the documented keys.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "server/worker_pool.h"

namespace lorad {

struct TlsConfig {
  std::string cert_file;
  std::string key_file;
  std::string client_ca_file;       // set: client certificates are verified
  bool require_client_cert = false;
};

struct ServerConfig {
  std::string state_dir;                 // "" = $STATE_DIRECTORY or ./.lorad
  std::vector<std::string> listen;       // "" = unix:$RUNTIME_DIRECTORY/lorad.sock or STATE_DIR/lorad.sock
  std::string metrics_address = "127.0.0.1:9464";  // "" = no metrics endpoint
  std::string workers = "auto";          // auto | cpu | none | N | comma list of GPU indices / cpu
  std::string worker_binary;             // "" = lorad-worker next to lorad
  std::vector<std::string> worker_args;  // extra arguments for `lorad-worker serve`
  std::vector<std::string> allowed_roots;
  int max_queued_jobs = 1000;
  int default_max_attempts = 3;
  int64_t heartbeat_interval_ms = 2'000;
  int64_t heartbeat_timeout_ms = 20'000;
  int64_t worker_registration_timeout_ms = 60'000;
  int64_t event_retention_days = 30;     // 0 = forever
  int64_t shutdown_timeout_ms = 60'000;
  std::string socket_mode = "0660";
  TlsConfig tls;
  std::string token_file;                // NAME TOKEN [admin] per line
  std::string worker_token_file;         // the token remote workers present
  bool insecure_tcp = false;             // plain TCP, loopback only
  std::string log_level = "info";
};

/// Parses YAML text (`source` names it in errors).  Every problem reported at once.
absl::StatusOr<ServerConfig> ParseServerConfig(const std::string& yaml, const std::string& source);

/// Applies command-line flags; returns the remaining positional args (none are allowed).
absl::Status ApplyServerFlags(int argc, char** argv, ServerConfig* config, std::string* config_file);

/// Fills defaults that depend on the environment (state dir, socket path).
void ResolveServerDefaults(ServerConfig* config);

/// `workers:` → local worker specs.  `gpu_count` is the number of visible GPUs.
absl::StatusOr<std::vector<LocalWorkerSpec>> ParseWorkers(const std::string& workers, int gpu_count);

/// GPUs visible to this host (NVIDIA driver's /proc entries), without CUDA.
int CountGpus();

}  // namespace lorad
