// What `--resume DIR` points at, decided from the files present, with a
// human-readable reason the worker logs and reports in its `resume` record.
#pragma once

#include <filesystem>
#include <string>

namespace lorad {

struct ResumeSource {
  enum class Kind {
    kLoradCheckpoint,      // manifest + training state: exact resume
    kAdapterOnly,          // PEFT adapter: continue its weights, fresh optimizer
    kHfTrainerCheckpoint,  // HF Trainer checkpoint-N: continued as an adapter
    kPickleAdapter,        // adapter_model.bin only: refused
    kInvalid,              // nothing usable (reason says why)
  };
  Kind kind = Kind::kInvalid;
  std::string reason;
};

const char* ResumeSourceKindName(ResumeSource::Kind kind);

/// Inspects `dir` (reads only JSON manifests and checksums; never unpickles).
/// A lorad checkpoint whose manifest does not verify is kInvalid with the
/// verification error as the reason.
ResumeSource ClassifyResumeSource(const std::filesystem::path& dir);

}  // namespace lorad
