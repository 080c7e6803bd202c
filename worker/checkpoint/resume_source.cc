#include "worker/checkpoint/resume_source.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "worker/checkpoint/checkpoint_files.h"
#include "worker/checkpoint/checkpoint_manifest.h"
#include "worker/checkpoint/checkpoint_reader.h"

namespace lorad {
namespace fs = std::filesystem;

const char* ResumeSourceKindName(ResumeSource::Kind kind) {
  switch (kind) {
    case ResumeSource::Kind::kLoradCheckpoint:
      return "lorad_checkpoint";
    case ResumeSource::Kind::kAdapterOnly:
      return "adapter";
    case ResumeSource::Kind::kHfTrainerCheckpoint:
      return "hf_trainer_checkpoint";
    case ResumeSource::Kind::kPickleAdapter:
      return "pickle_adapter";
    case ResumeSource::Kind::kInvalid:
      return "invalid";
  }
  return "invalid";
}

ResumeSource ClassifyResumeSource(const fs::path& dir) {
  using Kind = ResumeSource::Kind;
  std::error_code ec;
  auto has = [&](const char* name) { return fs::is_regular_file(dir / name, ec); };
  if (!fs::is_directory(dir, ec)) {
    return {Kind::kInvalid, absl::StrCat(dir.string(), " is not a directory")};
  }
  if (has(kCheckpointManifestFile)) {
    auto v = VerifyCheckpointDir(dir);
    if (!v.ok()) {
      return {Kind::kInvalid,
              absl::StrCat("lorad checkpoint that does not verify: ", v.status().message())};
    }
    if (has(kTrainingStateFile)) {
      return {Kind::kLoradCheckpoint,
              absl::StrCat(dir.string(),
                           " is a verified lorad checkpoint with training state: "
                           "resuming the run exactly (optimizer, schedule, data "
                           "position and RNG restored)")};
    }
    // A verified directory without training state (e.g. a final output): an adapter.
  }
  bool config = has(kAdapterConfigFile);
  bool weights = has(kAdapterWeightsFile);
  if (!weights && has(kAdapterPickleFile)) {
    return {Kind::kPickleAdapter,
            absl::StrCat(dir.string(),
                         " holds adapter_model.bin, a pickle file that can execute "
                         "code when loaded; it is never read. Convert it to "
                         "adapter_model.safetensors (PEFT: save_pretrained(..., "
                         "safe_serialization=True)) and retry")};
  }
  if (config && weights) {
    // The pickled state files mark an HF Trainer checkpoint; trainer_state.json
    // alone does not (lorad's final output_dir holds one too).
    std::vector<std::string> hf;
    for (const char* f : {"optimizer.pt", "scheduler.pt", "rng_state.pth"}) {
      if (has(f)) hf.push_back(f);
    }
    bool ours = has(kCheckpointManifestFile);
    if (!hf.empty() && !ours) {
      if (has("trainer_state.json")) hf.insert(hf.begin(), "trainer_state.json");
      return {Kind::kHfTrainerCheckpoint,
              absl::StrCat(dir.string(), " is a Hugging Face Trainer checkpoint (",
                           absl::StrJoin(hf, ", "),
                           "): continuing its adapter weights with a fresh optimizer and "
                           "schedule; optimizer.pt / scheduler.pt / rng_state.pth are pickles and "
                           "are never unpickled, so exact resume is not possible")};
    }
    return {Kind::kAdapterOnly,
            absl::StrCat(dir.string(),
                         " holds a PEFT adapter without training state: continuing "
                         "its weights with a fresh optimizer; resume_lr_policy sets "
                         "the learning rates")};
  }
  if (config) {
    return {
        Kind::kInvalid,
        absl::StrCat(dir.string(), " has adapter_config.json but no adapter_model.safetensors")};
  }
  if (weights) {
    return {
        Kind::kInvalid,
        absl::StrCat(dir.string(), " has adapter_model.safetensors but no adapter_config.json")};
  }
  return {Kind::kInvalid, absl::StrCat(dir.string(),
                                       " is neither a lorad checkpoint (manifest.json + "
                                       "training_state.json) nor a PEFT adapter directory "
                                       "(adapter_config.json + adapter_model.safetensors)")};
}

}  // namespace lorad
