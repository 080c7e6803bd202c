// The daemon's Prometheus metrics (issue 7), built once from one registry and
// injected as a struct of references (Ray's style).  Per-job training series
// carry the label job_id and are removed when the job stops running.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <map>
#include <memory>
#include <string>

namespace lorad {

struct SchedulerMetrics {
  prometheus::Family<prometheus::Gauge>& build_info;
  prometheus::Family<prometheus::Gauge>& jobs;                 // {state}
  prometheus::Family<prometheus::Counter>& submissions;        // lorad_job_submissions_total
  prometheus::Family<prometheus::Counter>& outcomes;           // {outcome}
  prometheus::Family<prometheus::Counter>& requeues;           // {reason}
  prometheus::Family<prometheus::Histogram>& queue_wait;
  prometheus::Family<prometheus::Histogram>& run_time;
  prometheus::Family<prometheus::Gauge>& workers;              // {state}
  prometheus::Family<prometheus::Counter>& worker_restarts;
  prometheus::Family<prometheus::Counter>& grpc_requests;      // {method, code}
  prometheus::Family<prometheus::Counter>& auth_failures;      // {reason}
  prometheus::Family<prometheus::Gauge>& watchers;
  prometheus::Family<prometheus::Histogram>& store_commit;
  // Training, per running job (label job_id).
  prometheus::Family<prometheus::Gauge>& train_loss;
  prometheus::Family<prometheus::Gauge>& train_eval_loss;
  prometheus::Family<prometheus::Gauge>& train_learning_rate;
  prometheus::Family<prometheus::Gauge>& train_grad_norm;
  prometheus::Family<prometheus::Gauge>& train_step;
  prometheus::Family<prometheus::Gauge>& train_total_steps;
  prometheus::Family<prometheus::Counter>& train_tokens;
  prometheus::Family<prometheus::Histogram>& train_step_duration;
  prometheus::Family<prometheus::Counter>& train_checkpoints;
  prometheus::Family<prometheus::Histogram>& train_checkpoint_duration;
  prometheus::Family<prometheus::Gauge>& train_device_memory;
  prometheus::Family<prometheus::Gauge>& train_device_memory_peak;
  // Divergence records of all jobs, {action="fail"|"skip_step"}: a counter
  // without job_id survives the job (its per-job series go when it fails).
  prometheus::Family<prometheus::Counter>& train_divergences;
};

/// Registers every family on `registry` and pre-initialises the known label
/// sets (job states, outcomes, worker states) to 0.
SchedulerMetrics BuildSchedulerMetrics(prometheus::Registry& registry, const std::string& version);

/// The series of one running job; removes them on destruction.
class JobMetrics {
 public:
  JobMetrics(SchedulerMetrics& m, const std::string& job_id);
  ~JobMetrics();
  JobMetrics(const JobMetrics&) = delete;
  JobMetrics& operator=(const JobMetrics&) = delete;

  prometheus::Gauge& loss;
  prometheus::Gauge& eval_loss;
  prometheus::Gauge& learning_rate;
  prometheus::Gauge& grad_norm;
  prometheus::Gauge& step;
  prometheus::Gauge& total_steps;
  prometheus::Counter& tokens;
  prometheus::Histogram& step_duration;
  prometheus::Counter& checkpoints;
  prometheus::Histogram& checkpoint_duration;
  prometheus::Gauge& device_memory;
  prometheus::Gauge& device_memory_peak;

 private:
  SchedulerMetrics& m_;
};

}  // namespace lorad
