#include "server/server_config.h"

#include <yaml-cpp/yaml.h>

#include <cstdlib>
#include <filesystem>
#include <set>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace lorad {
namespace {

template <typename T>
void Read(const YAML::Node& node, const std::string& key, T* out, std::vector<std::string>* errs) {
  try {
    *out = node.as<T>();
  } catch (const YAML::Exception& e) {
    errs->push_back(absl::StrCat(key, " (line ", node.Mark().line + 1, "): bad value: ", e.what()));
  }
}

}  // namespace

absl::StatusOr<ServerConfig> ParseServerConfig(const std::string& yaml, const std::string& source) {
  ServerConfig c;
  YAML::Node root;
  try {
    root = YAML::Load(yaml);
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": ", e.what()));
  }
  if (root.IsNull()) return c;
  if (!root.IsMap()) return absl::InvalidArgumentError(absl::StrCat(source, ": expected a mapping"));
  std::vector<std::string> errs;
  for (const auto& kv : root) {
    std::string key = kv.first.as<std::string>();
    const YAML::Node& v = kv.second;
    if (key == "state_dir") Read(v, key, &c.state_dir, &errs);
    else if (key == "listen") {
      if (v.IsScalar()) c.listen = {v.as<std::string>()};
      else Read(v, key, &c.listen, &errs);
    } else if (key == "metrics_address") Read(v, key, &c.metrics_address, &errs);
    else if (key == "workers") {
      if (v.IsSequence()) {
        std::vector<std::string> items;
        Read(v, key, &items, &errs);
        c.workers = absl::StrJoin(items, ",");
      } else {
        Read(v, key, &c.workers, &errs);
      }
    } else if (key == "worker_binary") Read(v, key, &c.worker_binary, &errs);
    else if (key == "worker_args") Read(v, key, &c.worker_args, &errs);
    else if (key == "allowed_roots") Read(v, key, &c.allowed_roots, &errs);
    else if (key == "max_queued_jobs") Read(v, key, &c.max_queued_jobs, &errs);
    else if (key == "default_max_attempts") Read(v, key, &c.default_max_attempts, &errs);
    else if (key == "heartbeat_interval_ms") Read(v, key, &c.heartbeat_interval_ms, &errs);
    else if (key == "heartbeat_timeout_ms") Read(v, key, &c.heartbeat_timeout_ms, &errs);
    else if (key == "worker_registration_timeout_ms") Read(v, key, &c.worker_registration_timeout_ms, &errs);
    else if (key == "event_retention_days") Read(v, key, &c.event_retention_days, &errs);
    else if (key == "shutdown_timeout_ms") Read(v, key, &c.shutdown_timeout_ms, &errs);
    else if (key == "socket_mode") Read(v, key, &c.socket_mode, &errs);
    else if (key == "token_file") Read(v, key, &c.token_file, &errs);
    else if (key == "worker_token_file") Read(v, key, &c.worker_token_file, &errs);
    else if (key == "insecure_tcp") Read(v, key, &c.insecure_tcp, &errs);
    else if (key == "log_level") Read(v, key, &c.log_level, &errs);
    else if (key == "tls") {
      if (!v.IsMap()) {
        errs.push_back("tls: expected a mapping");
        continue;
      }
      for (const auto& t : v) {
        std::string tk = t.first.as<std::string>();
        if (tk == "cert_file") Read(t.second, "tls." + tk, &c.tls.cert_file, &errs);
        else if (tk == "key_file") Read(t.second, "tls." + tk, &c.tls.key_file, &errs);
        else if (tk == "client_ca_file") Read(t.second, "tls." + tk, &c.tls.client_ca_file, &errs);
        else if (tk == "require_client_cert") Read(t.second, "tls." + tk, &c.tls.require_client_cert, &errs);
        else errs.push_back(absl::StrCat("tls.", tk, " (line ", t.first.Mark().line + 1, "): unknown key"));
      }
    } else {
      errs.push_back(absl::StrCat(key, " (line ", kv.first.Mark().line + 1, "): unknown key"));
    }
  }
  if (c.max_queued_jobs < 1) errs.push_back("max_queued_jobs: must be at least 1");
  if (c.default_max_attempts < 1) errs.push_back("default_max_attempts: must be at least 1");
  if (c.heartbeat_interval_ms < 100) errs.push_back("heartbeat_interval_ms: must be at least 100");
  if (c.heartbeat_timeout_ms < 2 * c.heartbeat_interval_ms) {
    errs.push_back("heartbeat_timeout_ms: must be at least twice heartbeat_interval_ms");
  }
  if (!errs.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(source, ":\n", absl::StrJoin(errs, "\n")));
  }
  return c;
}

absl::Status ApplyServerFlags(int argc, char** argv, ServerConfig* c, std::string* config_file) {
  std::vector<std::string> listen;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    std::string value;
    auto eq = a.find('=');
    bool has_inline = a.rfind("--", 0) == 0 && eq != std::string::npos;
    std::string name = has_inline ? a.substr(0, eq) : a;
    auto next = [&]() -> absl::StatusOr<std::string> {
      if (has_inline) return a.substr(eq + 1);
      if (i + 1 >= argc) return absl::InvalidArgumentError(absl::StrCat(name, ": needs a value"));
      return std::string(argv[++i]);
    };
    absl::StatusOr<std::string> v;
    if (name == "--config") { v = next(); if (v.ok()) *config_file = *v; }
    else if (name == "--state-dir") { v = next(); if (v.ok()) c->state_dir = *v; }
    else if (name == "--listen") { v = next(); if (v.ok()) listen.push_back(*v); }
    else if (name == "--metrics-address") { v = next(); if (v.ok()) c->metrics_address = *v; }
    else if (name == "--workers") { v = next(); if (v.ok()) c->workers = *v; }
    else if (name == "--worker-binary") { v = next(); if (v.ok()) c->worker_binary = *v; }
    else if (name == "--log-level") { v = next(); if (v.ok()) c->log_level = *v; }
    else return absl::InvalidArgumentError(absl::StrCat("unknown argument ", a, " (see lorad --help)"));
    if (!v.ok()) return v.status();
  }
  if (!listen.empty()) c->listen = listen;
  return absl::OkStatus();
}

void ResolveServerDefaults(ServerConfig* c) {
  if (c->state_dir.empty()) {
    const char* sd = std::getenv("STATE_DIRECTORY");  // systemd StateDirectory=
    c->state_dir = "./.lorad";
    if (sd && *sd) c->state_dir = std::string(*absl::StrSplit(sd, ':').begin());
  }
  c->state_dir = std::filesystem::absolute(c->state_dir).lexically_normal().string();
  if (c->listen.empty()) {
    const char* rd = std::getenv("RUNTIME_DIRECTORY");  // systemd RuntimeDirectory=
    std::string dir = rd && *rd ? std::string(*absl::StrSplit(rd, ':').begin()) : c->state_dir;
    c->listen = {"unix:" + dir + "/lorad.sock"};
  }
}

absl::StatusOr<std::vector<LocalWorkerSpec>> ParseWorkers(const std::string& workers,
                                                          int gpu_count) {
  std::vector<LocalWorkerSpec> out;
  auto add_cpu = [&] { out.push_back({absl::StrCat("local-", out.size()), ""}); };
  auto add_gpu = [&](int idx) {
    out.push_back({absl::StrCat("local-", out.size()), absl::StrCat(idx)});
  };
  if (workers == "none" || workers == "0") return out;
  if (workers == "auto") {
    if (gpu_count == 0) add_cpu();
    for (int i = 0; i < gpu_count; ++i) add_gpu(i);
    return out;
  }
  if (workers == "cpu") {
    add_cpu();
    return out;
  }
  int n = 0;
  if (absl::SimpleAtoi(workers, &n) && workers.find(',') == std::string::npos) {
    if (n < 0 || n > 256) return absl::InvalidArgumentError("workers: N must be 0..256");
    for (int i = 0; i < n; ++i) {
      if (gpu_count > 0) add_gpu(i % gpu_count);
      else add_cpu();
    }
    return out;
  }
  std::set<int> seen;
  for (absl::string_view item : absl::StrSplit(workers, ',', absl::SkipWhitespace())) {
    std::string s(item);
    s.erase(0, s.find_first_not_of(' '));
    s.erase(s.find_last_not_of(' ') + 1);
    int idx = 0;
    if (s == "cpu") {
      add_cpu();
    } else if (absl::SimpleAtoi(s, &idx) && idx >= 0) {
      if (idx >= gpu_count) {
        return absl::InvalidArgumentError(
            absl::StrCat("workers: GPU ", idx, " is not visible (", gpu_count, " GPUs found)"));
      }
      if (!seen.insert(idx).second) {
        return absl::InvalidArgumentError(absl::StrCat("workers: GPU ", idx, " listed twice"));
      }
      add_gpu(idx);
    } else {
      return absl::InvalidArgumentError(absl::StrCat(
          "workers: expected auto, cpu, none, a count, or a list of GPU indices / cpu; got \"",
          s, "\""));
    }
  }
  return out;
}

int CountGpus() {
  std::error_code ec;
  int n = 0;
  for (const auto& e : std::filesystem::directory_iterator("/proc/driver/nvidia/gpus", ec)) {
    (void)e;
    ++n;
  }
  return n;
}

}  // namespace lorad
