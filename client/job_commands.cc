// The verbs that start jobs or follow them: submit, merge, retry, logs, wait.
#include <filesystem>

#include <google/protobuf/util/time_util.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "client/commands.h"
#include "client/event_formatter.h"
#include "client/job_follower.h"
#include "client/lorad_client.h"
#include "client/message_printer.h"
#include "worker/base/status_macros.h"
#include "worker/config/config_loader.h"

namespace lorad {
namespace {

// The exit status a job's outcome gives (`wait`, `submit --follow`).
absl::Status Outcome(const v1::Job& job) {
  switch (job.state()) {
    case v1::JOB_STATE_SUCCEEDED:
      return absl::OkStatus();
    case v1::JOB_STATE_FAILED:
      return absl::AbortedError(absl::StrCat(
          "job ", job.id(), " FAILED",
          job.error().empty() ? "" : absl::StrCat(": ", job.error_code().empty() ? "" : job.error_code() + ": ",
                                                  job.error())));
    case v1::JOB_STATE_CANCELLED:
      return absl::AbortedError(absl::StrCat("job ", job.id(), " was CANCELLED",
                                             job.error().empty() ? "" : ": " + job.error()));
    default:
      return absl::UnavailableError(absl::StrCat("the event stream of job ", job.id(),
                                                 " ended while it is ", StateName(job.state()),
                                                 "; run `loractl wait ", job.id(), "` again"));
  }
}

absl::Status Detached(const std::string& id) {
  return absl::CancelledError(absl::StrCat("detached from job ", id,
                                           "; it keeps running (loractl logs -f ", id, ")"));
}

// Streams the job's events to stderr until it ends; the outcome is the status.
absl::Status FollowToEnd(LoradClient& client, const std::string& id, int64_t after_seq,
                         CommandIo& io) {
  FollowOutput out;
  out.events = &io.err;
  out.terminal = io.err_is_tty ? &io.err : nullptr;
  out.width = io.err_columns;
  JobFollower follower(client, out);
  absl::StatusOr<v1::JobState> state = follower.Run(id, after_seq, /*follow=*/true);
  if (state.status().code() == absl::StatusCode::kCancelled) return Detached(id);
  LORAD_RETURN_IF_ERROR(state.status());
  LORAD_ASSIGN_OR_RETURN(v1::Job job, client.GetJob(id));
  absl::Status outcome = Outcome(job);
  if (outcome.ok()) {
    io.err << "job " << id << " SUCCEEDED";
    if (!job.output_dir().empty()) {
      io.err << (job.spec().kind() == v1::JOB_KIND_MERGE ? ": merged model in " : ": adapter in ")
             << job.output_dir();
    }
    io.err << '\n';
  }
  return outcome;
}

v1::DeviceKind DeviceKindFromName(const std::string& name) {
  if (name == "cpu") return v1::DEVICE_KIND_CPU;
  if (name == "cuda") return v1::DEVICE_KIND_CUDA;
  return v1::DEVICE_KIND_UNSPECIFIED;
}

// Reads and checks the config locally, and builds the spec sent to lorad.
absl::StatusOr<v1::JobSpec> BuildSpec(const CommandLine& cl, CommandIo& io) {
  const std::filesystem::path path =
      (std::filesystem::path(io.cwd) / cl.args[0]).lexically_normal();
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    return absl::InvalidArgumentError(
        absl::StrCat(cl.args[0], ": ", ec ? ec.message() : "no such file (the training config YAML)"));
  }
  ConfigLoadOptions options;
  options.check_paths = false;  // paths are the server's to check
  absl::StatusOr<LoadedConfig> loaded = LoadTrainConfigFile(path, cl.set_overrides, options);
  if (!loaded.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(cl.args[0], " is not a valid training config:\n", loaded.status().message()));
  }
  for (const std::string& key : loaded->ignored_keys) {
    io.err << "warning: " << cl.args[0] << ": " << key << " is not used by lorad\n";
  }
  for (const std::string& note : loaded->notes) io.err << "note: " << cl.args[0] << ": " << note << '\n';
  v1::JobSpec spec;
  spec.set_config_yaml(loaded->source_yaml);
  spec.set_config_dir(path.parent_path().string());
  for (const std::string& s : cl.set_overrides) spec.add_set_overrides(s);
  spec.set_name(cl.name);
  spec.set_priority(cl.priority);
  spec.set_device_kind(DeviceKindFromName(cl.device));
  spec.set_max_attempts(cl.max_attempts);
  if (cl.max_runtime_seconds > 0) {
    *spec.mutable_max_runtime() = google::protobuf::util::TimeUtil::MillisecondsToDuration(
        static_cast<int64_t>(cl.max_runtime_seconds * 1000));
  }
  spec.set_resume_from(cl.resume);
  spec.set_idempotency_key(cl.idempotency_key);
  return spec;
}

}  // namespace

absl::Status RunSubmit(LoradClient& client, const CommandLine& cl, CommandIo& io) {
  LORAD_ASSIGN_OR_RETURN(v1::JobSpec spec, BuildSpec(cl, io));
  if (cl.dry_run) {
    LORAD_ASSIGN_OR_RETURN(v1::ValidateJobResponse v, client.ValidateJob(spec));
    for (const std::string& w : v.warnings()) io.err << "warning: " << w << '\n';
    if (cl.output == OutputFormat::kJson || cl.output == OutputFormat::kYaml) {
      return MessagePrinter(cl.output, io.out).PrintOne(v);
    }
    io.out << cl.args[0] << ": valid\n";
    io.out << "output_dir:       " << v.output_dir() << '\n';
    io.out << "estimated steps:  "
           << (v.estimated_steps() > 0 ? absl::StrCat(v.estimated_steps()) : "unknown until the data is read")
           << '\n';
    if (v.estimated_checkpoint_bytes() > 0) {
      io.out << "checkpoint size:  " << FormatBytes(v.estimated_checkpoint_bytes()) << '\n';
    }
    return absl::OkStatus();
  }
  LORAD_ASSIGN_OR_RETURN(v1::SubmitJobResponse response, client.SubmitJob(spec));
  for (const std::string& w : response.warnings()) io.err << "warning: " << w << '\n';
  const v1::Job& job = response.job();
  // stdout: the id alone, so `id=$(loractl submit job.yaml)` works.
  io.out << job.id() << '\n' << std::flush;
  if (response.existing()) {
    io.err << "note: idempotency key matched job " << job.id() << " (" << StateName(job.state())
           << "); nothing new was queued\n";
  }
  if (!cl.follow) {
    if (io.err_is_tty) io.err << "follow it with: loractl logs -f " << job.id() << '\n';
    return absl::OkStatus();
  }
  return FollowToEnd(client, job.id(), 0, io);
}

absl::Status RunMerge(LoradClient& client, const CommandLine& cl, CommandIo& io) {
  v1::JobSpec spec;
  spec.set_kind(v1::JOB_KIND_MERGE);
  spec.set_name(cl.name);
  v1::MergeSpec* m = spec.mutable_merge();
  m->set_source_job_id(cl.args[0]);
  m->set_out_dir(cl.merge_out);
  m->set_dtype(cl.merge_dtype);
  m->set_max_shard_size(cl.max_shard_size);
  m->set_force(cl.force);
  LORAD_ASSIGN_OR_RETURN(v1::SubmitJobResponse response, client.SubmitJob(spec));
  for (const std::string& w : response.warnings()) io.err << "warning: " << w << '\n';
  const v1::Job& job = response.job();
  if (cl.output == OutputFormat::kJson || cl.output == OutputFormat::kYaml) {
    LORAD_RETURN_IF_ERROR(MessagePrinter(cl.output, io.out).PrintOne(job));
  } else {
    // stdout: the id alone, so `id=$(loractl merge JOB --out DIR)` works.
    io.out << job.id() << '\n';
  }
  io.out.flush();
  if (!cl.follow) {
    if (io.err_is_tty) {
      io.err << "merging job " << cl.args[0] << "'s adapter into " << job.output_dir()
             << "; follow it with: loractl logs -f " << job.id() << '\n';
    }
    return absl::OkStatus();
  }
  return FollowToEnd(client, job.id(), 0, io);
}

absl::Status RunRetry(LoradClient& client, const CommandLine& cl, CommandIo& io) {
  LORAD_ASSIGN_OR_RETURN(v1::Job job, client.RetryJob(cl.args[0]));
  io.out << job.id() << '\n' << std::flush;
  if (!cl.follow) {
    if (io.err_is_tty) {
      io.err << "job " << job.id() << " is " << StateName(job.state())
             << " again; follow it with: loractl logs -f " << job.id() << '\n';
    }
    return absl::OkStatus();
  }
  // The retry's own events come after the ones already stored.
  return FollowToEnd(client, job.id(), job.last_seq(), io);
}

absl::Status RunLogs(LoradClient& client, const CommandLine& cl, CommandIo& io) {
  FollowOutput out;
  out.events = &io.out;
  out.format = cl.output;
  // The live line only when a human watches both streams.
  const bool live = cl.follow && io.out_is_tty && io.err_is_tty && cl.output == OutputFormat::kTable;
  out.terminal = live ? &io.err : nullptr;
  out.width = io.err_columns;
  JobFollower follower(client, out);
  absl::StatusOr<v1::JobState> state = follower.Run(cl.args[0], cl.since_seq, cl.follow);
  if (state.status().code() == absl::StatusCode::kCancelled) return Detached(cl.args[0]);
  return state.status();
}

absl::Status RunWait(LoradClient& client, const CommandLine& cl, CommandIo& io) {
  LORAD_ASSIGN_OR_RETURN(v1::Job job, client.GetJob(cl.args[0]));
  if (!IsFinalState(job.state())) {
    absl::Status watched = client.WatchJob(
        job.id(), job.last_seq(), /*follow=*/true,
        [](const v1::JobEvent&) { return absl::OkStatus(); },
        cl.wait_timeout_seconds.value_or(0));
    if (watched.code() == absl::StatusCode::kCancelled) return Detached(job.id());
    LORAD_ASSIGN_OR_RETURN(v1::Job now, client.GetJob(job.id()));
    if (watched.code() == absl::StatusCode::kDeadlineExceeded) {
      return absl::DeadlineExceededError(absl::StrFormat(
          "timed out after %gs waiting for job %s (still %s at step %d%s)",
          *cl.wait_timeout_seconds, now.id(), StateName(now.state()), now.last_step(),
          now.total_steps() > 0 ? absl::StrCat("/", now.total_steps()) : ""));
    }
    LORAD_RETURN_IF_ERROR(watched);
    job = now;
  }
  if (cl.output == OutputFormat::kJson || cl.output == OutputFormat::kYaml) {
    LORAD_RETURN_IF_ERROR(MessagePrinter(cl.output, io.out).PrintOne(job));
  } else {
    io.out << "job " << job.id() << " " << StateName(job.state()) << '\n';
  }
  return Outcome(job);
}

}  // namespace lorad
