// A stand-in for the training core's RunTrainingJob, linked only into the
// test binary fake-lorad-worker: the REAL `lorad-worker serve` code (hello,
// heartbeats, leases, output_dir lock, SIGTERM, records) drives a trainer that
// steps quickly and deterministically.  It honours the contract of
// training_job.h: records with "type", checkpoints as checkpoint-N dirs, a
// clean stop writes a checkpoint and returns CANCELLED, --resume auto
// continues exactly from the newest checkpoint.
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "spdlog/spdlog.h"
#include "worker/train/training_job.h"

namespace lorad {
namespace {

namespace fs = std::filesystem;

// The "weights" after `step` steps: deterministic in the step count only, so
// an interrupted-and-resumed run must end with the same bytes.
std::string Weights(int64_t step) {
  uint64_t h = 1469598103934665603ull;
  for (int64_t i = 1; i <= step; ++i) h = (h ^ static_cast<uint64_t>(i)) * 1099511628211ull;
  return absl::StrCat("fake-adapter step=", step, " hash=", h, "\n");
}

void SaveCheckpoint(const fs::path& out, int64_t step, TrainerObserver& observer) {
  fs::path dir = out / absl::StrCat("checkpoint-", step);
  fs::path tmp = out / absl::StrCat(".tmp-checkpoint-", step);
  fs::create_directories(tmp);
  std::ofstream(tmp / "adapter_model.safetensors") << Weights(step);
  std::ofstream(tmp / "step") << step;
  fs::remove_all(dir);
  fs::rename(tmp, dir);
  observer.OnRecord({{"type", "checkpoint"}, {"path", dir.string()}, {"step", step}});
}

int64_t StepMillis() {
  const char* v = std::getenv("LORAD_FAKE_STEP_MS");
  return v != nullptr && std::atoll(v) > 0 ? std::atoll(v) : 60;
}

int64_t NewestCheckpoint(const fs::path& out) {
  int64_t best = 0;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(out, ec)) {
    std::string name = e.path().filename().string();
    if (name.rfind("checkpoint-", 0) == 0) best = std::max<int64_t>(best, std::stoll(name.substr(11)));
  }
  return best;
}

}  // namespace

absl::Status RunTrainingJob(const TrainConfig& config, const RunOptions& options,
                            TrainerObserver& observer, const std::atomic<bool>& stop) {
  const fs::path out = config.output_dir;
  const int64_t total = config.max_steps > 0 ? config.max_steps : 10;
  const int64_t save = config.save_steps.set() ? static_cast<int64_t>(config.save_steps.value) : 0;
  int64_t step = 0;
  if (options.resume == "auto") step = NewestCheckpoint(out);
  observer.OnRecord({{"type", "resume"},
                     {"step", step},
                     {"reason", step > 0 ? "exact resume" : "fresh start"}});
  spdlog::info("fake trainer: steps {}..{} into {}", step + 1, total, out.string());
  const auto step_time = std::chrono::milliseconds(StepMillis());
  static std::atomic<int> runs{0};
  const std::string run = absl::StrCat(::getpid(), ".", ++runs);
  std::ofstream writers(out / "fake-writers.log", std::ios::app);
  while (step < total) {
    if (stop.load()) {
      SaveCheckpoint(out, step, observer);
      return absl::CancelledError(absl::StrCat("stopped at step ", step));
    }
    // Simulated compute: the worker's step loop, not test synchronisation.
    std::this_thread::sleep_for(step_time);
    ++step;
    writers << run << ' ' << step << std::endl;
    observer.OnRecord({{"type", "step"},
                       {"step", step},
                       {"total_steps", total},
                       {"loss", 3.0 / static_cast<double>(step)},
                       {"learning_rate", config.learning_rate},
                       {"tokens", 64}});
    if (save > 0 && step % save == 0) SaveCheckpoint(out, step, observer);
  }
  std::ofstream(out / "adapter_model.safetensors") << Weights(step);
  observer.OnRecord({{"type", "final"}, {"step", step}, {"output_dir", out.string()}});
  return absl::OkStatus();
}

}  // namespace lorad
