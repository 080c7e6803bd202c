// Scheduler: merge jobs (`loractl merge JOB --out DIR`).  A merge is a job
// like any other (queue, lease, retry, cancel, events); what differs is how it
// is validated at submit and which files it reads.
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "server/scheduler.h"
#include "worker/base/status_macros.h"
#include "worker/config/config_path_policy.h"

namespace lorad {

absl::StatusOr<ValidatedSpec> Scheduler::ValidateMergeSpec(const v1::JobSpec& spec,
                                                           const Caller& caller,
                                                           std::vector<std::string> problems) {
  const v1::MergeSpec& m = spec.merge();
  if (!spec.config_yaml().empty()) {
    problems.push_back("config_yaml: a merge job has no training config (merge says what to do)");
  }
  if (!spec.set_overrides().empty()) problems.push_back("set_overrides: not used by a merge job");
  if (!spec.resume_from().empty()) problems.push_back("resume_from: not used by a merge job");
  if (m.source_job_id().empty()) problems.push_back("merge.source_job_id: required");
  if (m.out_dir().empty()) problems.push_back("merge.out_dir: required");
  if (!problems.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid job spec:\n", absl::StrJoin(problems, "\n")));
  }
  const JobEntry* source = Find(m.source_job_id());
  if (source == nullptr) {
    return absl::NotFoundError(absl::StrCat("job ", m.source_job_id(), " not found"));
  }
  LORAD_RETURN_IF_ERROR(CheckOwner(*source, caller));
  if (IsMergeJob(source->job)) {
    return absl::FailedPreconditionError(
        absl::StrCat("job ", source->job.id(), " is itself a merge; merge the training job ",
                     source->job.merge().source_job_id(), " instead"));
  }
  if (source->job.state() != v1::JOB_STATE_SUCCEEDED) {
    return absl::FailedPreconditionError(absl::StrCat(
        "job ", source->job.id(), " is ", v1::JobState_Name(source->job.state()),
        "; only the adapter of a SUCCEEDED job can be merged",
        IsFinal(source->job.state()) ? "" : " (loractl wait it first)"));
  }
  LORAD_ASSIGN_OR_RETURN(ValidatedSpec v, validator_.ValidateMerge(m, source->job));
  // Never write over (or around) what the merge reads.  A subfolder of the
  // adapter's directory is fine: Axolotl's merge-lora writes OUTPUT_DIR/merged.
  const std::string& out = v.output_dir;
  if (PathsOverlap(out, v.merge.model_dir())) {
    return absl::FailedPreconditionError(
        absl::StrCat("merge.out_dir ", out, " overlaps the base model's directory ",
                     v.merge.model_dir(), "; write the merged model elsewhere"));
  }
  if (PathWithin(v.merge.adapter_dir(), out)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "merge.out_dir ", out, " is or contains the adapter directory ", v.merge.adapter_dir(),
        " of job ", source->job.id(), "; write the merged model elsewhere (e.g. ",
        v.merge.adapter_dir(), "/merged)"));
  }
  return v;
}

absl::Status Scheduler::CheckNotMergeInput(const std::string& dir,
                                           const std::string& except_id) const {
  for (const auto& [id, e] : jobs_) {
    if (id == except_id || IsFinal(e.job.state()) || !IsMergeJob(e.job)) continue;
    for (const std::string* input : {&e.job.merge().adapter_dir(), &e.job.merge().model_dir()}) {
      if (PathWithin(*input, dir)) {
        return absl::FailedPreconditionError(
            absl::StrCat(dir, " contains ", *input, ", which merge job ", id, " (",
                         v1::JobState_Name(e.job.state()), ") reads; wait for it to end"));
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace lorad
