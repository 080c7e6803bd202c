// `lorad-worker run CONFIG [--set k=v]... [--resume DIR|auto] [--dry-run]
// [--overwrite] [--stop-after N] [--device D] [--threads N] [--allow-data-change]`:
// one training job, JSON records on stdout (one per line, flushed), logs and a
// progress bar (when a terminal) on stderr.  SIGINT/SIGTERM stop cleanly:
// checkpoint, then exit 130.
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_join.h"
#include "spdlog/spdlog.h"
#include "worker/base/stderr_logging.h"
#include "worker/cli/cli_util.h"
#include "worker/cli/commands.h"
#include "worker/config/config_loader.h"
#include "worker/train/training_job.h"

namespace lorad {
namespace {

// Written from the signal handler: lock-free atomic, nothing else.
std::atomic<bool> g_stop{false};
static_assert(std::atomic<bool>::is_always_lock_free);

extern "C" void OnStopSignal(int) { g_stop.store(true); }

void InstallStopHandlers() {
  struct sigaction sa;
  std::memset(&sa, 0, sizeof(sa));
  sa.sa_handler = OnStopSignal;
  sigemptyset(&sa.sa_mask);
  // A second signal gets the default action: Ctrl-C twice kills at once.
  sa.sa_flags = SA_RESETHAND;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

void PrintRunUsage(FILE* out) {
  std::fprintf(out,
               "usage: lorad-worker run CONFIG.yaml [options]\n"
               "  --set KEY=VALUE        override a config key (repeatable; datasets.0.path=...)\n"
               "  --resume DIR|auto      exact resume from a checkpoint, continue an adapter, or\n"
               "                         'auto' = newest valid checkpoint in output_dir\n"
               "  --dry-run              print the resolved config, parameter counts, steps, tokens\n"
               "                         and a memory estimate; no training\n"
               "  --overwrite            replace an adapter/checkpoints already in output_dir\n"
               "  --stop-after N         stop cleanly (checkpoint) after N optimizer steps\n"
               "  --device auto|cpu|cuda|cuda:N\n"
               "  --threads N            intra-op threads (default: CPUs this process may use)\n"
               "  --allow-data-change    exact resume on changed data (restarts the data order)\n"
               "records: one JSON object per line on stdout; logs on stderr\n"
               "exit codes: 0 finished, 1 training failed, 2 bad config or input, 130 interrupted\n");
}

/// Prints records as JSON lines; draws a progress bar on a terminal.
class JsonLinesObserver : public TrainerObserver {
 public:
  explicit JsonLinesObserver(bool progress_bar) : progress_bar_(progress_bar) {}
  void OnRecord(const nlohmann::json& record) override {
    const std::string type = record.value("type", "");
    if (type == "start") total_ = record.value("total_steps", int64_t{0});
    ClearBar();
    std::fputs(record.dump().c_str(), stdout);
    std::fputc('\n', stdout);
    std::fflush(stdout);
    if (type == "step") {
      last_step_ = record.value("step", int64_t{0});
      if (record["loss"].is_number()) last_loss_ = record["loss"].get<double>();
      tps_ = record.value("tokens_per_second", 0.0);
    }
    DrawBar();
  }
  void Finish() { ClearBar(); }

 private:
  void ClearBar() {
    if (progress_bar_ && drawn_) std::fputs("\r\033[K", stderr);
    drawn_ = false;
  }
  void DrawBar() {
    if (!progress_bar_ || total_ <= 0 || last_step_ <= 0) return;
    constexpr int kWidth = 30;
    const int filled = static_cast<int>(kWidth * std::min<int64_t>(last_step_, total_) / total_);
    std::string bar(static_cast<size_t>(filled), '#');
    bar.append(static_cast<size_t>(kWidth - filled), '.');
    std::fprintf(stderr, "\r[%s] %lld/%lld loss %.4f %.0f tok/s", bar.c_str(),
                 static_cast<long long>(last_step_), static_cast<long long>(total_), last_loss_,
                 tps_);
    std::fflush(stderr);
    drawn_ = true;
  }
  bool progress_bar_;
  bool drawn_ = false;
  int64_t total_ = 0;
  int64_t last_step_ = 0;
  double last_loss_ = 0;
  double tps_ = 0;
};

}  // namespace

int RunCommand(int argc, char** argv) {
  LogToStderr();
  std::string config_path;
  std::vector<std::string> sets;
  RunOptions options;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    auto value = [&](const char* flag) -> const char* {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "lorad-worker run: %s needs a value\n", flag);
        return nullptr;
      }
      return argv[++i];
    };
    if (arg == "--help" || arg == "-h") {
      PrintRunUsage(stdout);
      return 0;
    } else if (arg == "--set") {
      const char* v = value("--set");
      if (!v) return 2;
      sets.emplace_back(v);
    } else if (arg == "--resume") {
      const char* v = value("--resume");
      if (!v) return 2;
      options.resume = v;
    } else if (arg == "--dry-run") {
      options.dry_run = true;
    } else if (arg == "--overwrite") {
      options.overwrite = true;
    } else if (arg == "--allow-data-change") {
      options.allow_data_change = true;
    } else if (arg == "--stop-after") {
      const char* v = value("--stop-after");
      if (!v) return 2;
      if (!absl::SimpleAtoi(v, &options.stop_after) || options.stop_after <= 0) {
        std::fprintf(stderr, "lorad-worker run: --stop-after wants a positive integer, got '%s'\n", v);
        return 2;
      }
    } else if (arg == "--device") {
      const char* v = value("--device");
      if (!v) return 2;
      options.device = v;
    } else if (arg == "--threads") {
      const char* v = value("--threads");
      if (!v) return 2;
      if (!absl::SimpleAtoi(v, &options.threads) || options.threads < 0) {
        std::fprintf(stderr, "lorad-worker run: --threads wants an integer >= 0, got '%s'\n", v);
        return 2;
      }
    } else if (!arg.empty() && arg[0] == '-') {
      std::fprintf(stderr, "lorad-worker run: unknown option '%s'\n", argv[i]);
      PrintRunUsage(stderr);
      return 2;
    } else if (config_path.empty()) {
      config_path = std::string(arg);
    } else {
      std::fprintf(stderr, "lorad-worker run: more than one config given ('%s')\n", argv[i]);
      return 2;
    }
  }
  if (config_path.empty()) {
    PrintRunUsage(stderr);
    return 2;
  }

  auto loaded = LoadTrainConfigFile(config_path, sets);
  if (!loaded.ok()) {
    spdlog::error("{}: {}", config_path, std::string(loaded.status().message()));
    nlohmann::json err = {{"type", "error"},
                          {"code", absl::StatusCodeToString(loaded.status().code())},
                          {"message", std::string(loaded.status().message())}};
    std::puts(err.dump().c_str());
    std::fflush(stdout);
    return 2;
  }
  if (!loaded->ignored_keys.empty()) {
    spdlog::warn("ignored keys (not supported by this build): {}",
                 absl::StrJoin(loaded->ignored_keys, ", "));
  }
  for (const std::string& note : loaded->notes) spdlog::info("config: {}", note);

  InstallStopHandlers();
  JsonLinesObserver observer(::isatty(STDERR_FILENO) == 1);
  const absl::Status status = RunTrainingJob(loaded->config, options, observer, g_stop);
  observer.Finish();
  const int code = ExitCodeFor(status);
  if (!status.ok()) {
    if (code == 130) {
      spdlog::info("{}", std::string(status.message()));
    } else {
      spdlog::error("{}", std::string(status.message()));
    }
    nlohmann::json err = {{"type", code == 130 ? "stopped" : "error"},
                          {"code", absl::StatusCodeToString(status.code())},
                          {"message", std::string(status.message())},
                          {"exit_code", code}};
    std::puts(err.dump().c_str());
    std::fflush(stdout);
  }
  return code;
}

}  // namespace lorad
