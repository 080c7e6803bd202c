// Issue 7's "done when": the real lorad, training a tiny job with the real
// `lorad-worker serve` (the tiny preset, made by `lorad-worker init-model`), scraped
// by Debian's real prometheus server with deploy/prometheus/alerts.yml loaded.
// Through Prometheus' HTTP API the test finds the job's loss series moving,
// the job counters right and the per-job series gone after the job ends;
// every expression of the Grafana dashboard evaluates; every alert rule
// evaluates without error; `promtool check metrics` accepts a live scrape.
// Every wait is a condition polled with a deadline; processes and temp dirs
// are cleaned up even when an assertion fails.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <regex>
#include <sstream>

#include "daemon_harness.h"
#include "nlohmann/json.hpp"

namespace lorad::testing {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;
using nlohmann::json;

constexpr const char* kPrometheus = "/usr/bin/prometheus";
constexpr const char* kPromtool = "/usr/bin/promtool";
const std::string kWorker = std::string(LORAD_BINARY_DIR) + "/worker/cli/lorad-worker";

std::string ReadAll(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A free loopback TCP port (bound then released; prometheus takes it next).
int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  sa.sin_port = 0;
  socklen_t len = sizeof sa;
  int port = -1;
  if (bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len) == 0) {
    port = ntohs(sa.sin_port);
  }
  close(fd);
  return port;
}

struct HttpResponse {
  int status = 0;  // 0: no connection / no answer
  std::string body;
};

// HTTP/1.0 GET (no chunked encoding, the server closes) with a receive
// timeout, so a hung server fails the test instead of hanging it.
HttpResponse Get(const std::string& host_port, const std::string& path) {
  HttpResponse r;
  auto colon = host_port.rfind(':');
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  timeval tv{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<uint16_t>(std::stoi(host_port.substr(colon + 1))));
  inet_pton(AF_INET, host_port.substr(0, colon).c_str(), &sa.sin_addr);
  if (connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
    close(fd);
    return r;
  }
  std::string req = "GET " + path + " HTTP/1.0\r\nHost: " + host_port + "\r\n\r\n";
  (void)!write(fd, req.data(), req.size());
  std::string resp;
  char buf[8192];
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0) resp.append(buf, static_cast<size_t>(n));
  close(fd);
  auto sp = resp.find(' ');
  auto body = resp.find("\r\n\r\n");
  if (sp == std::string::npos || body == std::string::npos) return r;
  r.status = std::atoi(resp.c_str() + sp + 1);
  r.body = resp.substr(body + 4);
  return r;
}

std::string UrlEncode(const std::string& s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

// A child process with its output in a log file; stopped (TERM, then KILL
// after a deadline) by the destructor.
class Child {
 public:
  Child(std::vector<std::string> args, fs::path log) : log_(std::move(log)) {
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_ = fork();
    if (pid_ == 0) {
      FILE* out = std::freopen(log_.c_str(), "a", stdout);
      FILE* err = std::freopen(log_.c_str(), "a", stderr);
      (void)out;
      (void)err;
      execv(argv[0], argv.data());
      _exit(127);
    }
  }
  ~Child() { Stop(); }
  bool Alive() {
    if (pid_ <= 0) return false;
    if (waitpid(pid_, nullptr, WNOHANG) == pid_) pid_ = -1;
    return pid_ > 0;
  }
  void Stop() {
    if (pid_ <= 0) return;
    kill(pid_, SIGTERM);
    if (!WaitFor([&] { return waitpid(pid_, nullptr, WNOHANG) == pid_; }, 10s)) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    pid_ = -1;
  }
  std::string Log() const { return ReadAll(log_); }

 private:
  fs::path log_;
  pid_t pid_ = -1;
};

class PrometheusLiveTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* bin : {kPrometheus, kPromtool}) {
      if (!fs::exists(bin)) {
        if (std::getenv("CI")) FAIL() << bin << " is missing (apt-get install prometheus)";
        GTEST_SKIP() << bin << " is missing (apt-get install prometheus)";
      }
    }
    dir_ = fs::temp_directory_path() / ("lorad-prom-" + std::to_string(getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    const std::string init = kWorker + " init-model --preset tiny --out " + (dir_ / "model").string() +
                             " > " + (dir_ / "init.log").string() + " 2>&1";
    ASSERT_EQ(std::system(init.c_str()), 0) << ReadAll(dir_ / "init.log");
    // Rows of ~250 tokens: a step of 8 × 128 tokens takes ~0.1 s on one thread.
    std::ofstream data(dir_ / "data.jsonl");
    for (int i = 0; i < 32; ++i) {
      std::string text;
      for (int k = 0; k < 20; ++k) text += "a tiny model learns to count " + std::to_string((i + k) % 9) + ". ";
      data << "{\"text\": \"" << text << "\"}\n";
    }
  }
  void TearDown() override {
    stub_.reset();
    if (daemon_) daemon_->Terminate(30s);
    daemon_.reset();
    prometheus_.reset();
    if (!dir_.empty() && !std::getenv("LORAD_KEEP_TEST_DIRS")) fs::remove_all(dir_);
  }

  void StartLorad() {
    daemon_ = std::make_unique<Daemon>(
        dir_,
        "workers: cpu\nworker_binary: " + kWorker +
            "\nworker_args: [\"--threads\", \"1\"]\nheartbeat_interval_ms: 200\n"
            "heartbeat_timeout_ms: 5000\n",
        std::vector<std::string>{});
    daemon_->Start();
    stub_ = daemon_->JobStub();
  }

  // Prometheus scraping lorad every second, evaluating the shipped alert rules.
  void StartPrometheus() {
    int port = FreePort();
    ASSERT_GT(port, 0);
    prom_addr_ = "127.0.0.1:" + std::to_string(port);
    std::ofstream(dir_ / "prometheus.yml")
        << "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n"
        << "rule_files:\n  - " << LORAD_SOURCE_DIR << "/deploy/prometheus/alerts.yml\n"
        << "scrape_configs:\n  - job_name: lorad\n    static_configs:\n"
        << "      - targets: [\"" << daemon_->metrics_address() << "\"]\n";
    prometheus_ = std::make_unique<Child>(
        std::vector<std::string>{kPrometheus, "--config.file=" + (dir_ / "prometheus.yml").string(),
                                 "--storage.tsdb.path=" + (dir_ / "tsdb").string(),
                                 "--web.listen-address=" + prom_addr_},
        dir_ / "prometheus.log");
    bool ready = WaitFor([&] {
      return !prometheus_->Alive() || Get(prom_addr_, "/-/ready").status == 200;
    }, 60s);
    ASSERT_TRUE(ready && prometheus_->Alive()) << "prometheus not ready:\n" << prometheus_->Log();
  }

  // GET /api/v1/query; the parsed JSON answer ({} when unreachable/unparsable).
  json Query(const std::string& expr) {
    HttpResponse r = Get(prom_addr_, "/api/v1/query?query=" + UrlEncode(expr));
    json j = json::parse(r.body, nullptr, /*allow_exceptions=*/false);
    return j.is_discarded() ? json::object() : j;
  }
  // The vector result's values (empty when none or on error).
  std::vector<double> Values(const std::string& expr) {
    json j = Query(expr);
    std::vector<double> out;
    if (j.value("status", "") != "success") return out;
    for (const auto& s : j["data"]["result"]) out.push_back(std::stod(s["value"][1].get<std::string>()));
    return out;
  }
  // True when `expr` yields exactly one sample satisfying `pred`.
  bool One(const std::string& expr, const std::function<bool(double)>& pred) {
    auto v = Values(expr);
    return v.size() == 1 && pred(v[0]);
  }

  std::string Submit(int steps) {
    v1::SubmitJobRequest req;
    req.mutable_spec()->set_config_dir(dir_.string());
    req.mutable_spec()->set_config_yaml(
        "base_model: ./model\ndatasets:\n  - path: ./data.jsonl\n    type: completion\n"
        "sequence_len: 128\nmicro_batch_size: 8\nlearning_rate: 0.002\n"
        "lora_target_linear: true\nmax_steps: " + std::to_string(steps) +
        "\nsave_steps: 50\noutput_dir: ./out\n");
    v1::SubmitJobResponse resp;
    grpc::ClientContext ctx;
    grpc::Status st = stub_->SubmitJob(&ctx, req, &resp);
    EXPECT_TRUE(st.ok()) << st.error_message();
    return resp.job().id();
  }
  v1::JobState State(const std::string& id) {
    grpc::ClientContext ctx;
    v1::GetJobRequest req;
    req.set_job_id(id);
    v1::Job job;
    (void)stub_->GetJob(&ctx, req, &job);
    return job.state();
  }

  fs::path dir_;
  std::string prom_addr_;
  std::unique_ptr<Daemon> daemon_;
  std::unique_ptr<v1::JobService::Stub> stub_;
  std::unique_ptr<Child> prometheus_;
};

// Every PromQL expression of the dashboard: panel targets ("expr") and the
// metric selector of label_values(...) template queries, with Grafana's
// variables replaced by values Prometheus accepts.
void CollectExprs(const json& j, std::vector<std::string>& out) {
  static const std::regex label_values(R"(^label_values\((.+),\s*\w+\)$)");
  if (j.is_object()) {
    for (const auto& [k, v] : j.items()) {
      std::smatch m;
      if (k == "expr" && v.is_string()) {
        out.push_back(v.get<std::string>());
      } else if ((k == "definition" || k == "query") && v.is_string() &&
                 std::regex_match(v.get_ref<const std::string&>(), m, label_values)) {
        out.push_back(m[1].str());
      } else {
        CollectExprs(v, out);
      }
    }
  } else if (j.is_array()) {
    for (const auto& v : j) CollectExprs(v, out);
  }
}

std::string Substitute(std::string e) {
  for (auto [var, value] : {std::pair<std::string, std::string>{"$job_id", ".*"},
                            {"${job_id}", ".*"},
                            {"$__rate_interval", "1m"},
                            {"${__rate_interval}", "1m"},
                            {"$__interval", "1m"}}) {
    for (size_t p; (p = e.find(var)) != std::string::npos;) e.replace(p, var.size(), value);
  }
  return e;
}

TEST_F(PrometheusLiveTest, ScrapesTrainingJobDashboardAndAlertsEvaluate) {
  StartLorad();
  ASSERT_FALSE(daemon_->metrics_address().empty()) << "lorad.addr names no metrics address";
  StartPrometheus();
  ASSERT_TRUE(WaitFor([&] { return One("up{job=\"lorad\"}", [](double v) { return v == 1; }); }, 30s))
      << "prometheus never scraped lorad at " << daemon_->metrics_address() << "\n"
      << prometheus_->Log();

  // 120 real steps of ~0.1 s: ~12 s of training, a dozen scrapes.
  const std::string id = Submit(120);
  ASSERT_FALSE(id.empty());
  const std::string sel = "lorad_train_loss{job_id=\"" + id + "\"}";

  // The loss series exists and has taken at least two different values.
  EXPECT_TRUE(WaitFor([&] {
    return One("changes(" + sel + "[5m])", [](double v) { return v >= 1; }) &&
           One("count_over_time(" + sel + "[5m])", [](double v) { return v >= 2; });
  }, 60s)) << "loss of job " << id << " not moving in Prometheus; state " << State(id);
  EXPECT_TRUE(One("sum(lorad_job_submissions_total)", [](double v) { return v >= 1; }));
  EXPECT_TRUE(One("lorad_jobs{state=\"running\"}", [](double v) { return v == 1; }));
  // A CPU worker reports its resident memory as the job's device memory.
  EXPECT_TRUE(WaitFor([&] {
    return One("lorad_train_device_memory_bytes{job_id=\"" + id + "\"}",
               [](double v) { return v > 50e6; }) &&
           One("lorad_train_device_memory_peak_bytes{job_id=\"" + id + "\"}",
               [](double v) { return v > 50e6; });
  }, 30s)) << "no device memory for job " << id;

  // promtool's lint on a live scrape taken while the job's series exist.
  HttpResponse scrape = Get(daemon_->metrics_address(), "/metrics");
  ASSERT_EQ(scrape.status, 200);
  EXPECT_NE(scrape.body.find("job_id=\"" + id + "\""), std::string::npos) << scrape.body;
  std::ofstream(dir_ / "scrape.txt") << scrape.body;
  std::string cmd = std::string("timeout 30 ") + kPromtool + " check metrics < " +
                    (dir_ / "scrape.txt").string() + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string lint;
  char buf[4096];
  for (size_t n; (n = fread(buf, 1, sizeof buf, p)) > 0;) lint.append(buf, n);
  int rc = pclose(p);
  EXPECT_TRUE(WIFEXITED(rc) && WEXITSTATUS(rc) == 0) << "promtool check metrics:\n" << lint;

  // The job ends: outcome counted, its per-job series dropped from lorad and
  // marked stale in Prometheus.
  ASSERT_TRUE(WaitFor([&] { return State(id) == v1::JOB_STATE_SUCCEEDED; }, 90s))
      << "job " << id << " state " << State(id);
  EXPECT_TRUE(WaitFor([&] {
    return One("lorad_jobs{state=\"succeeded\"}", [](double v) { return v == 1; }) &&
           One("lorad_job_outcomes_total{outcome=\"succeeded\"}", [](double v) { return v == 1; }) &&
           One("lorad_jobs{state=\"running\"}", [](double v) { return v == 0; });
  }, 30s));
  EXPECT_TRUE(One("lorad_jobs{state=\"succeeded\"}", [](double v) { return v == 1; }));
  EXPECT_TRUE(One("sum(lorad_job_submissions_total)", [](double v) { return v == 1; }));
  EXPECT_TRUE(One("lorad_job_outcomes_total{outcome=\"succeeded\"}", [](double v) { return v == 1; }));
  EXPECT_TRUE(One("lorad_jobs{state=\"running\"}", [](double v) { return v == 0; }));
  EXPECT_TRUE(WaitFor([&] {
    return Get(daemon_->metrics_address(), "/metrics").body.find("job_id=\"" + id + "\"") ==
               std::string::npos &&
           Query(sel).value("status", "") == "success" && Values(sel).empty() &&
           Values("{job_id=\"" + id + "\"}").empty();
  }, 30s)) << "per-job series of " << id << " still present";

  // Every dashboard expression evaluates (no parse or evaluation error).
  json dash = json::parse(ReadAll(fs::path(LORAD_SOURCE_DIR) / "deploy/grafana/dashboards/lorad.json"));
  std::vector<std::string> exprs;
  CollectExprs(dash, exprs);
  EXPECT_GE(exprs.size(), 10u);
  for (const auto& e : exprs) {
    json r = Query(Substitute(e));
    EXPECT_EQ(r.value("status", ""), "success") << e << " -> " << r.dump();
  }

  // Every alert rule has been evaluated at least once, without error.
  EXPECT_TRUE(WaitFor([&] {
    json r = json::parse(Get(prom_addr_, "/api/v1/rules").body, nullptr, false);
    if (r.is_discarded() || r.value("status", "") != "success") return false;
    int rules = 0;
    for (const auto& g : r["data"]["groups"]) {
      for (const auto& rule : g["rules"]) {
        if (rule.value("health", "") != "ok") return false;
        ++rules;
      }
    }
    return rules > 0;
  }, 30s)) << Get(prom_addr_, "/api/v1/rules").body;
}

}  // namespace
}  // namespace lorad::testing
