#include "daemon_harness.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>

namespace lorad::testing {

bool WaitFor(const std::function<bool()>& cond, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (cond()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // polling interval, not a sync
  }
  return cond();
}

Daemon::Daemon(std::filesystem::path dir, std::string config_yaml,
               std::vector<std::string> extra_args)
    : dir_(std::move(dir)), config_yaml_(std::move(config_yaml)), extra_args_(std::move(extra_args)) {}

Daemon::~Daemon() {
  if (pid_ > 0) Kill9();
}

void Daemon::Start() {
  std::filesystem::create_directories(dir_);
  std::ofstream(dir_ / "lorad.yaml") << config_yaml_;
  std::filesystem::remove(state_dir() / "lorad.addr");
  std::vector<std::string> args = {std::string(LORAD_BINARY_DIR) + "/server/lorad",
                                   "--config", (dir_ / "lorad.yaml").string(),
                                   "--state-dir", state_dir().string(),
                                   "--listen", socket_address(),
                                   "--metrics-address", "127.0.0.1:0"};
  args.insert(args.end(), extra_args_.begin(), extra_args_.end());
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::string log = (dir_ / "lorad.log").string();
  pid_ = fork();
  ASSERT_GE(pid_, 0);
  if (pid_ == 0) {
    FILE* f = std::freopen(log.c_str(), "a", stderr);
    (void)f;
    for (const auto& [k, v] : env_) setenv(k.c_str(), v.c_str(), 1);
    execv(argv[0], argv.data());
    _exit(127);
  }
  std::string addr_file = (state_dir() / "lorad.addr").string();
  bool up = WaitFor([&] { return std::filesystem::exists(addr_file); }, std::chrono::seconds(30));
  ASSERT_TRUE(up) << "lorad did not start; see " << log;
  std::ifstream in(addr_file);
  std::string kind, addr;
  while (in >> kind >> addr) {
    if (kind == "metrics") metrics_ = addr;
    if (kind == "grpc" && addr.rfind("unix:", 0) != 0 && tcp_.empty()) tcp_ = addr;
  }
}

int Daemon::RunToExit(const std::vector<std::string>& extra) {
  std::filesystem::create_directories(dir_);
  std::ofstream(dir_ / "lorad.yaml") << config_yaml_;
  std::vector<std::string> args = {std::string(LORAD_BINARY_DIR) + "/server/lorad", "--config",
                                   (dir_ / "lorad.yaml").string(), "--state-dir",
                                   state_dir().string(), "--metrics-address", ""};
  args.insert(args.end(), extra.begin(), extra.end());
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::string log = (dir_ / "lorad-exit.log").string();
  pid_t pid = fork();
  if (pid == 0) {
    FILE* f = std::freopen(log.c_str(), "a", stderr);
    (void)f;
    execv(argv[0], argv.data());
    _exit(127);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

void Daemon::Kill9() {
  if (pid_ <= 0) return;
  kill(pid_, SIGKILL);
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = -1;
}

int Daemon::Terminate(std::chrono::milliseconds timeout) {
  if (pid_ <= 0) return -1;
  kill(pid_, SIGTERM);
  int status = -1;
  bool exited = WaitFor([&] { return waitpid(pid_, &status, WNOHANG) == pid_; }, timeout);
  if (!exited) {
    Kill9();
    return -1;
  }
  pid_ = -1;
  return status;
}

std::shared_ptr<grpc::Channel> FreshChannel(const std::string& target) {
  // Own subchannel pool: after a lorad restart a new channel must not reuse a
  // connection to the dead process from gRPC's global pool.
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  return grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args);
}

std::unique_ptr<v1::JobService::Stub> Daemon::JobStub() const {
  return v1::JobService::NewStub(FreshChannel(socket_address()));
}

std::unique_ptr<v1::WorkerService::Stub> Daemon::WorkerStub() const {
  return v1::WorkerService::NewStub(FreshChannel(socket_address()));
}

std::string HttpGet(const std::string& host_port, const std::string& path) {
  auto colon = host_port.rfind(':');
  std::string host = host_port.substr(0, colon);
  int port = std::stoi(host_port.substr(colon + 1));
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<uint16_t>(port));
  inet_pton(AF_INET, host.c_str(), &sa.sin_addr);
  if (connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
    close(fd);
    return "";
  }
  std::string req = "GET " + path + " HTTP/1.0\r\nHost: " + host_port + "\r\n\r\n";
  (void)!write(fd, req.data(), req.size());
  std::string resp;
  char buf[4096];
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0) resp.append(buf, static_cast<size_t>(n));
  close(fd);
  auto body = resp.find("\r\n\r\n");
  return body == std::string::npos ? "" : resp.substr(body + 4);
}

v1::Job GetJob(v1::JobService::Stub& stub, const std::string& id, grpc::Status* status) {
  grpc::ClientContext ctx;
  v1::GetJobRequest req;
  req.set_job_id(id);
  v1::Job job;
  grpc::Status s = stub.GetJob(&ctx, req, &job);
  if (status) *status = s;
  return job;
}

grpc::Status SubmitSpec(v1::JobService::Stub& stub, const v1::JobSpec& spec, std::string* id) {
  v1::SubmitJobRequest req;
  *req.mutable_spec() = spec;
  v1::SubmitJobResponse resp;
  grpc::ClientContext ctx;
  grpc::Status st = stub.SubmitJob(&ctx, req, &resp);
  if (id) *id = resp.job().id();
  return st;
}

int StoredJobCount(v1::JobService::Stub& stub) {
  grpc::ClientContext ctx;
  v1::ListJobsRequest req;
  req.set_page_size(1000);
  v1::ListJobsResponse resp;
  return stub.ListJobs(&ctx, req, &resp).ok() ? resp.jobs_size() : -1;
}

void WriteStubJobDir(const std::filesystem::path& dir, const std::string& worker_token) {
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir / "model");
  std::ofstream(dir / "model" / "config.json") << "{}";
  std::ofstream(dir / "data.jsonl") << "{\"text\": \"hello\"}\n";
  std::ofstream(dir / "worker.token") << worker_token << "\n";
}

std::string ReadFileBytes(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string RealWorkerBinary() {
  for (const char* rel : {"/worker/cli/lorad-worker", "/bin/lorad-worker", "/lorad-worker"}) {
    std::string p = std::string(LORAD_BINARY_DIR) + rel;
    if (std::filesystem::exists(p)) return p;
  }
  return "";
}

std::string FakeWorkerBinary() {
  return std::string(LORAD_BINARY_DIR) + "/tests/integration/fake-lorad-worker";
}

Watcher::Watcher(v1::JobService::Stub& stub, const std::string& job_id, int64_t after_seq) {
  v1::WatchJobRequest req;
  req.set_job_id(job_id);
  req.set_after_seq(after_seq);
  req.set_follow(true);
  thread_ = std::thread([this, &stub, req] {
    auto reader = stub.WatchJob(&ctx_, req);
    v1::JobEvent ev;
    while (reader->Read(&ev)) {
      std::lock_guard<std::mutex> lock(mu_);
      events_.push_back(ev);
    }
    grpc::Status s = reader->Finish();
    std::lock_guard<std::mutex> lock(mu_);
    status_ = s;
  });
}

Watcher::~Watcher() {
  ctx_.TryCancel();
  if (thread_.joinable()) thread_.join();
}

grpc::Status Watcher::Wait(std::chrono::milliseconds timeout) {
  WaitFor([&] {
    std::lock_guard<std::mutex> lock(mu_);
    return status_.has_value();
  }, timeout);
  std::lock_guard<std::mutex> lock(mu_);
  return status_.value_or(grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, "watch still open"));
}

std::vector<v1::JobEvent> Watcher::events() {
  std::lock_guard<std::mutex> lock(mu_);
  return events_;
}

}  // namespace lorad::testing
