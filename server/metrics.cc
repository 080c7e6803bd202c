#include "server/metrics.h"

namespace lorad {
namespace {

using prometheus::BuildCounter;
using prometheus::BuildGauge;
using prometheus::BuildHistogram;
using prometheus::Histogram;

Histogram::BucketBoundaries SecondsBuckets() {
  return {1, 5, 15, 60, 300, 900, 3600, 4 * 3600, 12 * 3600, 24 * 3600, 72 * 3600};
}
Histogram::BucketBoundaries FastBuckets() {
  return {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
}

}  // namespace

SchedulerMetrics BuildSchedulerMetrics(prometheus::Registry& r, const std::string& version) {
  SchedulerMetrics m{
      BuildGauge().Name("lorad_build_info").Help("lorad build information (always 1)").Register(r),
      BuildGauge().Name("lorad_jobs").Help("Jobs by state").Register(r),
      BuildCounter().Name("lorad_job_submissions_total").Help("Jobs accepted by SubmitJob").Register(r),
      BuildCounter().Name("lorad_job_outcomes_total").Help("Jobs that ended, by outcome").Register(r),
      BuildCounter().Name("lorad_job_requeues_total").Help("Running jobs put back in the queue, by reason").Register(r),
      BuildHistogram().Name("lorad_job_queue_wait_seconds").Help("Time from queued to started").Register(r),
      BuildHistogram().Name("lorad_job_run_seconds").Help("Wall time of finished attempts").Register(r),
      BuildGauge().Name("lorad_workers").Help("Workers by state").Register(r),
      BuildCounter().Name("lorad_worker_restarts_total").Help("Local worker processes restarted").Register(r),
      BuildCounter().Name("lorad_grpc_requests_total").Help("gRPC requests by method and status code").Register(r),
      BuildCounter().Name("lorad_auth_failures_total").Help("Rejected requests by reason").Register(r),
      BuildGauge().Name("lorad_watchers").Help("Active WatchJob streams").Register(r),
      BuildHistogram().Name("lorad_store_commit_seconds").Help("Job store transaction latency").Register(r),
      BuildGauge().Name("lorad_train_loss").Help("Training loss of the latest logged step").Register(r),
      BuildGauge().Name("lorad_train_eval_loss").Help("Latest evaluation loss").Register(r),
      BuildGauge().Name("lorad_train_learning_rate").Help("Learning rate of the latest step").Register(r),
      BuildGauge().Name("lorad_train_grad_norm").Help("Gradient norm before clipping of the latest step").Register(r),
      BuildGauge().Name("lorad_train_step").Help("Latest optimizer step").Register(r),
      BuildGauge().Name("lorad_train_total_steps").Help("Optimizer steps the job will run").Register(r),
      BuildCounter().Name("lorad_train_tokens_total").Help("Tokens trained in this attempt").Register(r),
      BuildHistogram().Name("lorad_train_step_duration_seconds").Help("Wall time per logged step").Register(r),
      BuildCounter().Name("lorad_train_checkpoints_total").Help("Checkpoints saved in this attempt").Register(r),
      BuildHistogram().Name("lorad_train_checkpoint_duration_seconds").Help("Time to write a checkpoint").Register(r),
      BuildGauge().Name("lorad_train_device_memory_bytes").Help("Device memory in use by the job").Register(r),
      BuildGauge().Name("lorad_train_device_memory_peak_bytes").Help("Peak device memory of the job").Register(r),
      BuildCounter().Name("lorad_train_divergences_total").Help("Training steps judged divergent, by the action taken (fail, skip_step)").Register(r),
  };
  m.build_info.Add({{"version", version}}).Set(1);
  for (const char* s : {"queued", "running", "succeeded", "failed", "cancelled"}) {
    m.jobs.Add({{"state", s}});
  }
  for (const char* s : {"succeeded", "failed", "cancelled"}) m.outcomes.Add({{"outcome", s}});
  for (const char* s : {"starting", "idle", "busy"}) m.workers.Add({{"state", s}});
  for (const char* s : {"fail", "skip_step"}) m.train_divergences.Add({{"action", s}});
  m.submissions.Add({});
  m.worker_restarts.Add({});
  m.watchers.Add({});
  m.queue_wait.Add({}, SecondsBuckets());
  m.run_time.Add({}, SecondsBuckets());
  m.store_commit.Add({}, FastBuckets());
  return m;
}

JobMetrics::JobMetrics(SchedulerMetrics& m, const std::string& id)
    : loss(m.train_loss.Add({{"job_id", id}})),
      eval_loss(m.train_eval_loss.Add({{"job_id", id}})),
      learning_rate(m.train_learning_rate.Add({{"job_id", id}})),
      grad_norm(m.train_grad_norm.Add({{"job_id", id}})),
      step(m.train_step.Add({{"job_id", id}})),
      total_steps(m.train_total_steps.Add({{"job_id", id}})),
      tokens(m.train_tokens.Add({{"job_id", id}})),
      step_duration(m.train_step_duration.Add({{"job_id", id}}, FastBuckets())),
      checkpoints(m.train_checkpoints.Add({{"job_id", id}})),
      checkpoint_duration(m.train_checkpoint_duration.Add({{"job_id", id}}, FastBuckets())),
      device_memory(m.train_device_memory.Add({{"job_id", id}})),
      device_memory_peak(m.train_device_memory_peak.Add({{"job_id", id}})),
      m_(m) {}

JobMetrics::~JobMetrics() {
  m_.train_loss.Remove(&loss);
  m_.train_eval_loss.Remove(&eval_loss);
  m_.train_learning_rate.Remove(&learning_rate);
  m_.train_grad_norm.Remove(&grad_norm);
  m_.train_step.Remove(&step);
  m_.train_total_steps.Remove(&total_steps);
  m_.train_tokens.Remove(&tokens);
  m_.train_step_duration.Remove(&step_duration);
  m_.train_checkpoints.Remove(&checkpoints);
  m_.train_checkpoint_duration.Remove(&checkpoint_duration);
  m_.train_device_memory.Remove(&device_memory);
  m_.train_device_memory_peak.Remove(&device_memory_peak);
}

}  // namespace lorad
