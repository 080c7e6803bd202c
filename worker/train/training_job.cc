// RunTrainingJob: the exception edge of the training core.  Nothing LibTorch
// throws gets past this function; out-of-memory becomes RESOURCE_EXHAUSTED
// with the sizes involved.
#include "worker/train/training_job.h"

#include <new>
#include <string>

#include <torch/torch.h>

#include "absl/strings/str_cat.h"
#include "worker/train/training_job_runner.h"

namespace lorad {
namespace {

bool LooksLikeOom(const std::string& what) {
  return what.find("out of memory") != std::string::npos ||
         what.find("can't allocate memory") != std::string::npos ||
         what.find("Cannot allocate memory") != std::string::npos;
}

}  // namespace

absl::Status RunTrainingJob(const TrainConfig& config, const RunOptions& options,
                            TrainerObserver& observer, const std::atomic<bool>& stop) {
  TrainingJobRunner runner(config, options, observer, stop);
  try {
    return runner.Run();
  } catch (const c10::Error& e) {
    const std::string what = e.what_without_backtrace();
    if (LooksLikeOom(what)) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "out of memory (", runner.SizeSummary(), "): ", what, " — ", runner.OomAdvice()));
    }
    return absl::InternalError(absl::StrCat("LibTorch error: ", what));
  } catch (const std::bad_alloc&) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "out of host memory (", runner.SizeSummary(), ") — ", runner.OomAdvice()));
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat("unexpected error: ", e.what()));
  }
}

}  // namespace lorad
