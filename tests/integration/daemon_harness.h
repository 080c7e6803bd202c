// Starts the real `lorad` binary on a temporary state dir and Unix socket,
// and talks to it with the generated gRPC stubs.  Used by the daemon's
// integration tests; waits are conditions with deadlines, never bare sleeps.
#pragma once

#include <grpcpp/grpcpp.h>
#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <string>
#include <vector>

#include "lorad/v1/lorad.grpc.pb.h"

namespace lorad::testing {

/// Polls `cond` until true or `timeout` passes; returns the last result.
bool WaitFor(const std::function<bool()>& cond, std::chrono::milliseconds timeout);

class Daemon {
 public:
  /// `dir`: the test's temp dir; the state dir is dir/state.
  Daemon(std::filesystem::path dir, std::string config_yaml, std::vector<std::string> extra_args);
  ~Daemon();  // SIGKILL if still running

  /// Starts lorad and waits until STATE_DIR/lorad.addr names its addresses.
  void Start();
  /// Environment for the next Start() (e.g. NOTIFY_SOCKET).
  void SetEnv(const std::string& key, const std::string& value) { env_[key] = value; }
  void Kill9();
  /// SIGTERM and wait for exit; returns the exit status (waitpid form).
  int Terminate(std::chrono::milliseconds timeout);
  bool Running() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }

  std::string socket_address() const { return "unix:" + (dir_ / "lorad.sock").string(); }
  std::string metrics_address() const { return metrics_; }
  /// First bound TCP address (from lorad.addr), "" if none.
  std::string tcp_address() const { return tcp_; }
  /// Runs lorad to completion with these extra args; returns its exit code.
  int RunToExit(const std::vector<std::string>& args);
  std::filesystem::path state_dir() const { return dir_ / "state"; }
  std::unique_ptr<v1::JobService::Stub> JobStub() const;
  std::unique_ptr<v1::WorkerService::Stub> WorkerStub() const;

 private:
  std::filesystem::path dir_;
  std::string config_yaml_;
  std::vector<std::string> extra_args_;
  pid_t pid_ = -1;
  std::string metrics_;
  std::string tcp_;
  std::map<std::string, std::string> env_;
};

/// A channel with its own subchannel pool (no connection reuse across restarts).
std::shared_ptr<grpc::Channel> FreshChannel(const std::string& target);

/// HTTP GET of a path on HOST:PORT; returns the body ("" on failure).
std::string HttpGet(const std::string& host_port, const std::string& path);

/// GetJob; an empty Job when the call fails (its status in `status`).
v1::Job GetJob(v1::JobService::Stub& stub, const std::string& id, grpc::Status* status = nullptr);
/// SubmitJob of `spec`; the job id in `id` when given.
grpc::Status SubmitSpec(v1::JobService::Stub& stub, const v1::JobSpec& spec, std::string* id = nullptr);
/// How many jobs lorad stores (ListJobs, up to 1000); -1 when the call fails.
int StoredJobCount(v1::JobService::Stub& stub);

/// A fresh DIR (removed first) holding what a job for the fake trainer needs:
/// model/config.json, data.jsonl, and worker.token holding `worker_token`.
void WriteStubJobDir(const std::filesystem::path& dir, const std::string& worker_token);

/// The whole file as bytes ("" when missing).
std::string ReadFileBytes(const std::filesystem::path& p);

/// The built real lorad-worker binary, "" when this build has none.
std::string RealWorkerBinary();

/// The built fake-lorad-worker (real `serve` code, fast fake trainer).
std::string FakeWorkerBinary();

/// A watcher on its own thread collecting every event until the stream ends.
class Watcher {
 public:
  Watcher(v1::JobService::Stub& stub, const std::string& job_id, int64_t after_seq);
  ~Watcher();
  /// Waits for the stream to end; returns its status.
  grpc::Status Wait(std::chrono::milliseconds timeout);
  std::vector<v1::JobEvent> events();
  void Cancel() { ctx_.TryCancel(); }

 private:
  grpc::ClientContext ctx_;
  std::mutex mu_;
  std::vector<v1::JobEvent> events_;
  std::optional<grpc::Status> status_;
  std::thread thread_;
};

}  // namespace lorad::testing
