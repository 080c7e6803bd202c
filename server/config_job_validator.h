// JobValidator backed by the training core's LibTorch-free config library:
// the same parsing and checks `lorad-worker run` applies, plus the server's
// allowed_roots policy.  Paths are the server's (and its workers').  The merge
// half is in config_merge_validator.cc.
#pragma once

#include <string>
#include <vector>

#include "server/job_validator.h"

namespace lorad {

class ConfigJobValidator : public JobValidator {
 public:
  explicit ConfigJobValidator(std::vector<std::string> allowed_roots)
      : allowed_roots_(std::move(allowed_roots)) {}
  absl::StatusOr<ValidatedSpec> Validate(const v1::JobSpec& spec) override;
  absl::StatusOr<ValidatedSpec> ValidateMerge(const v1::MergeSpec& spec,
                                              const v1::Job& source) override;

 private:
  std::vector<std::string> allowed_roots_;
};

}  // namespace lorad
