#include "client/job_view.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "client/event_formatter.h"

namespace lorad {
namespace {

std::string StepText(const v1::Job& job) {
  if (job.total_steps() > 0) return absl::StrCat(job.last_step(), "/", job.total_steps());
  return job.last_step() > 0 ? absl::StrCat(job.last_step()) : "-";
}

bool IsMerge(const v1::Job& job) { return job.spec().kind() == v1::JOB_KIND_MERGE; }

std::string LossText(const v1::Job& job) {
  return job.last_step() > 0 && !IsMerge(job) ? absl::StrFormat("%.4f", job.last_loss()) : "-";
}

std::string KindText(const v1::Job& job) { return IsMerge(job) ? "merge" : "train"; }

std::string DeviceText(v1::DeviceKind kind) {
  switch (kind) {
    case v1::DEVICE_KIND_CPU:
      return "cpu";
    case v1::DEVICE_KIND_CUDA:
      return "cuda";
    default:
      return "any";
  }
}

}  // namespace

std::vector<std::string> JobRow(const v1::Job& job, absl::Time now) {
  return {job.id(),
          job.spec().name().empty() ? "-" : job.spec().name(),
          KindText(job),
          StateName(job.state()),
          StepText(job),
          LossText(job),
          absl::StrCat(job.attempt()),
          FormatAge(job.create_time(), now)};
}

TablePrinter JobsTable(const std::vector<v1::Job>& jobs, absl::Time now) {
  // STEP of a merge job: shards written / shards.
  TablePrinter t({"ID", "NAME", "KIND", "STATE", "STEP", "LOSS", "ATTEMPT", "AGE"});
  for (const v1::Job& job : jobs) t.AddRow(JobRow(job, now));
  return t;
}

std::string DescribeJob(const v1::Job& job, absl::Time now) {
  std::vector<std::pair<std::string, std::string>> rows = {
      {"id", job.id()},
      {"name", job.spec().name().empty() ? "-" : job.spec().name()},
      {"state", absl::StrCat(StateName(job.state()), job.state_reason().empty()
                                                         ? ""
                                                         : absl::StrCat(" (", job.state_reason(), ")"))},
      {"attempt", absl::StrCat(job.attempt(), job.spec().max_attempts() > 0
                                                  ? absl::StrCat(" of ", job.spec().max_attempts())
                                                  : "")},
      {"kind", KindText(job)},
      {"progress", IsMerge(job) ? absl::StrCat("shard ", StepText(job))
                                : absl::StrCat("step ", StepText(job), ", loss ", LossText(job))},
      {"priority", absl::StrCat(job.spec().priority())},
      {"device", DeviceText(job.spec().device_kind())},
      {"owner", job.owner().empty() ? "-" : job.owner()},
      {"worker", job.worker_id().empty() ? "-" : job.worker_id()},
      {"output_dir", job.output_dir().empty() ? "-" : job.output_dir()},
      {"resume_from", job.spec().resume_from().empty() ? "-" : job.spec().resume_from()},
      {"created", absl::StrCat(FormatTime(job.create_time()), " (", FormatAge(job.create_time(), now),
                               " ago)")},
      {"started", FormatTime(job.start_time())},
      {"ended", FormatTime(job.end_time())},
      {"events", absl::StrCat(job.last_seq(), " (loractl logs ", job.id(), ")")},
  };
  if (!job.error().empty()) {
    rows.push_back({"error", job.error_code().empty()
                                 ? job.error()
                                 : absl::StrCat(job.error_code(), ": ", job.error())});
  }
  if (!job.spec().set_overrides().empty()) {
    rows.push_back({"overrides", absl::StrJoin(job.spec().set_overrides(), " ")});
  }
  if (IsMerge(job)) {
    const v1::MergeTask& m = job.merge();
    rows.push_back({"merge_of", job.spec().merge().source_job_id()});
    rows.push_back({"base_model", m.model_dir().empty() ? "-" : m.model_dir()});
    rows.push_back({"adapter", m.adapter_dir().empty() ? "-" : m.adapter_dir()});
    rows.push_back({"dtype", m.dtype().empty() ? "the base model's" : m.dtype()});
  } else {
    rows.push_back({"config_dir", job.spec().config_dir()});
  }
  std::string out;
  for (const auto& [key, value] : rows) {
    absl::StrAppend(&out, key, ":", std::string(key.size() < 13 ? 13 - key.size() : 1, ' '),
                    value, "\n");
  }
  if (IsMerge(job)) return out;
  absl::StrAppend(&out, "config:\n");
  for (absl::string_view line : absl::StrSplit(job.spec().config_yaml(), '\n')) {
    absl::StrAppend(&out, "  ", std::string(line), "\n");
  }
  while (out.size() >= 3 && out.substr(out.size() - 3) == "  \n") out.resize(out.size() - 3);
  return out;
}

TablePrinter CheckpointsTable(const std::vector<v1::Checkpoint>& checkpoints) {
  TablePrinter t({"STEP", "ATTEMPT", "TIME", "ON-DISK", "PATH"});
  for (const v1::Checkpoint& c : checkpoints) {
    t.AddRow({absl::StrCat(c.step()), absl::StrCat(c.attempt()), FormatTime(c.time()),
              c.exists() ? "yes" : "no", c.path()});
  }
  return t;
}

TablePrinter WorkersTable(const std::vector<v1::Worker>& workers, absl::Time now) {
  TablePrinter t({"ID", "STATE", "DEVICES", "JOB", "PID", "HOST", "HEARTBEAT", "RESTARTS"});
  for (const v1::Worker& w : workers) {
    const std::string devices = w.devices().empty() ? DeviceText(w.device_kind())
                                                    : absl::StrJoin(w.devices(), ",");
    t.AddRow({w.id(), w.state(), devices, w.job_id().empty() ? "-" : w.job_id(),
              w.pid() > 0 ? absl::StrCat(w.pid()) : "-", w.hostname().empty() ? "-" : w.hostname(),
              w.has_last_heartbeat() ? absl::StrCat(FormatAge(w.last_heartbeat(), now), " ago") : "-",
              absl::StrCat(w.restarts())});
  }
  return t;
}

}  // namespace lorad
