// Merge jobs in the scheduler (`loractl merge JOB --out DIR`): submit-time
// refusals, and a merge's life as a job (lease, progress, final, cancel,
// retry, restart) against the fakes.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/server/scheduler_fixture.h"

namespace lorad {
namespace {

using ::testing::HasSubstr;

class SchedulerMergeTest : public SchedulerTest {
 protected:
  /// A training job run to SUCCEEDED on worker w1 (output_dir /out/NAME).
  std::string SucceededTrainJob(const std::string& name) {
    std::string id = Submit(Spec(name));
    if (!w1_) w1_ = Connect("w1");
    EXPECT_EQ(w1_->LastAssign()->job_id(), id);
    Finish("w1", *w1_->LastAssign(), absl::StatusCode::kOk);
    EXPECT_EQ(State(id), v1::JOB_STATE_SUCCEEDED);
    return id;
  }
  static v1::JobSpec MergeSpec(const std::string& source, const std::string& out) {
    v1::JobSpec s;
    s.set_kind(v1::JOB_KIND_MERGE);
    s.mutable_merge()->set_source_job_id(source);
    s.mutable_merge()->set_out_dir(out);
    return s;
  }
  absl::StatusCode SubmitCode(const v1::JobSpec& s, const Caller& c = {"alice", false}) {
    return sched_->Submit(s, c).status().code();
  }
  std::string SubmitMessage(const v1::JobSpec& s, const Caller& c = {"alice", false}) {
    return std::string(sched_->Submit(s, c).status().message());
  }
  std::shared_ptr<FakeLink> w1_;
};

TEST_F(SchedulerMergeTest, AMergeRunsAsAJobWithProgressAndAFinalResult) {
  const std::string train = SucceededTrainJob("t");
  const std::string merge = Submit(MergeSpec(train, "/out/t/merged"));
  // The idle worker gets it at once, with what to merge resolved at submit.
  const v1::JobAssignment a = *w1_->LastAssign();
  ASSERT_EQ(a.job_id(), merge);
  EXPECT_EQ(a.spec().kind(), v1::JOB_KIND_MERGE);
  EXPECT_EQ(a.resume(), "");
  EXPECT_EQ(a.merge().source_job_id(), train);
  EXPECT_EQ(a.merge().model_dir(), "/models/base");
  EXPECT_EQ(a.merge().adapter_dir(), "/out/t");
  EXPECT_EQ(a.merge().out_dir(), "/out/t/merged");
  EXPECT_EQ(sched_->Get(merge)->output_dir(), "/out/t/merged");

  Record("w1", a, R"({"type":"merge_progress","shard":1,"num_shards":2,"bytes":10})");
  EXPECT_EQ(sched_->Get(merge)->last_step(), 1);
  EXPECT_EQ(sched_->Get(merge)->total_steps(), 2);
  Record("w1", a, R"({"type":"merge_progress","shard":2,"num_shards":2,"bytes":10})");
  Record("w1", a, R"({"type":"merge_progress","shard":"3"})");  // malformed: ignored
  Record("w1", a,
         R"({"type":"final","kind":"merge","output_dir":"/out/t/merged","merged_modules":28})");
  Finish("w1", a, absl::StatusCode::kOk);
  const v1::Job done = *sched_->Get(merge);
  EXPECT_EQ(done.state(), v1::JOB_STATE_SUCCEEDED);
  EXPECT_EQ(done.state_reason(), "merge finished");
  EXPECT_EQ(done.last_step(), 2);

  auto watcher = std::make_shared<FakeWatcher>();
  ASSERT_TRUE(sched_->Watch(merge, 0, false, watcher).ok());
  int progress = 0;
  bool final_seen = false;
  for (const v1::JobEvent& ev : watcher->events) {
    progress += ev.record_json().find("merge_progress") != std::string::npos;
    if (ev.has_final_result()) {
      final_seen = true;
      EXPECT_EQ(ev.final_result().state(), v1::JOB_STATE_SUCCEEDED);
      EXPECT_EQ(ev.final_result().output_dir(), "/out/t/merged");
    }
  }
  EXPECT_EQ(progress, 3);
  EXPECT_TRUE(final_seen);

  // Durable like any job: a restarted lorad knows the merge and its inputs.
  MakeScheduler();
  const v1::Job again = *sched_->Get(merge);
  EXPECT_EQ(again.state(), v1::JOB_STATE_SUCCEEDED);
  EXPECT_EQ(again.spec().kind(), v1::JOB_KIND_MERGE);
  EXPECT_EQ(again.merge().adapter_dir(), "/out/t");
}

TEST_F(SchedulerMergeTest, RefusedAtSubmitWithTheReason) {
  const std::string train = SucceededTrainJob("t");
  EXPECT_EQ(SubmitCode(MergeSpec("nosuchjob", "/m/x")), absl::StatusCode::kNotFound);
  EXPECT_EQ(SubmitCode(MergeSpec(train, "/m/x"), {"mallory", false}),
            absl::StatusCode::kPermissionDenied);

  v1::JobSpec no_out = MergeSpec(train, "");
  no_out.set_config_yaml("base_model: m\n");
  EXPECT_EQ(SubmitCode(no_out), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(SubmitMessage(no_out), HasSubstr("merge.out_dir: required"));
  EXPECT_THAT(SubmitMessage(no_out), HasSubstr("config_yaml: a merge job has no"));
  v1::JobSpec bad_dtype = MergeSpec(train, "/m/x");
  bad_dtype.mutable_merge()->set_dtype("int8");
  EXPECT_EQ(SubmitCode(bad_dtype), absl::StatusCode::kInvalidArgument);
  v1::JobSpec train_with_merge = Spec("tm");
  train_with_merge.mutable_merge()->set_source_job_id(train);
  EXPECT_THAT(SubmitMessage(train_with_merge), HasSubstr("merge: only for a job"));

  // Into the base model, onto the adapter or around it: refused.  Inside the
  // adapter's directory is where Axolotl puts it: fine.
  EXPECT_EQ(SubmitCode(MergeSpec(train, "/models/base/merged")),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(SubmitMessage(MergeSpec(train, "/models")),
              HasSubstr("overlaps the base model's directory /models/base"));
  EXPECT_THAT(SubmitMessage(MergeSpec(train, "/out/t")),
              HasSubstr("is or contains the adapter directory /out/t"));
  EXPECT_EQ(SubmitCode(MergeSpec(train, "/out")), absl::StatusCode::kFailedPrecondition);

  // A source that has not succeeded (no worker is free: it stays queued).
  v1::JobSpec busy = Spec("busy");
  busy.set_config_yaml("x\noutput_dir: /o/busy");
  const std::string running = Submit(busy);  // w1 takes it
  const std::string waiting = Submit(Spec("waiting"));
  ASSERT_EQ(State(waiting), v1::JOB_STATE_QUEUED);
  EXPECT_EQ(SubmitCode(MergeSpec(waiting, "/m/x")), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(SubmitMessage(MergeSpec(waiting, "/m/x")),
              HasSubstr("is JOB_STATE_QUEUED; only the adapter of a SUCCEEDED job"));
  // Into an active job's output_dir.
  EXPECT_THAT(SubmitMessage(MergeSpec(train, "/o/busy/merged")),
              HasSubstr("overlaps the output_dir of job " + running));

  // Fine: an admin, into the adapter's folder; then no merge of a merge.
  const std::string merge = Submit(MergeSpec(train, "/out/t/merged"), {"root", true});
  ASSERT_FALSE(merge.empty());
  Finish("w1", *w1_->LastAssign(), absl::StatusCode::kOk);  // "busy"
  ASSERT_EQ(w1_->LastAssign()->job_id(), waiting);
  Finish("w1", *w1_->LastAssign(), absl::StatusCode::kOk);
  ASSERT_EQ(w1_->LastAssign()->job_id(), merge);
  Finish("w1", *w1_->LastAssign(), absl::StatusCode::kOk);
  ASSERT_EQ(State(merge), v1::JOB_STATE_SUCCEEDED);
  EXPECT_THAT(SubmitMessage(MergeSpec(merge, "/m/y"), {"root", true}),
              HasSubstr("is itself a merge"));
}

TEST_F(SchedulerMergeTest, WhatAnActiveMergeReadsIsProtected) {
  const std::string train = SucceededTrainJob("t");
  sched_->OnWorkerDisconnected("w1", "test");  // the merge stays queued
  const std::string merge = Submit(MergeSpec(train, "/merged/t"));
  ASSERT_EQ(State(merge), v1::JOB_STATE_QUEUED);
  // A new job writing over the adapter, or deleting it, would pull it away.
  v1::JobSpec over = Spec("over");
  over.set_config_yaml("x\noutput_dir: /out/t");
  EXPECT_THAT(SubmitMessage(over), HasSubstr("which merge job " + merge));
  EXPECT_EQ(sched_->Delete(train, /*delete_files=*/true, {"alice", false}).code(),
            absl::StatusCode::kFailedPrecondition);
  // Writing beside it is fine.
  v1::JobSpec beside = Spec("beside");
  beside.set_config_yaml("x\noutput_dir: /out/t2");
  EXPECT_TRUE(sched_->Submit(beside, {"alice", false}).ok());
  ASSERT_TRUE(sched_->Cancel(merge, "", {"alice", false}).ok());
  EXPECT_TRUE(sched_->Submit(over, {"alice", false}).ok());
}

TEST_F(SchedulerMergeTest, CancelRetryAndFailuresAsForTraining) {
  const std::string train = SucceededTrainJob("t");
  v1::JobSpec s = MergeSpec(train, "/merged/t");
  s.set_max_attempts(2);
  const std::string merge = Submit(s);
  ASSERT_EQ(w1_->LastAssign()->job_id(), merge);
  ASSERT_TRUE(sched_->Cancel(merge, "changed my mind", {"alice", false}).ok());
  ASSERT_TRUE(w1_->sent.back().has_cancel());
  Finish("w1", *w1_->LastAssign(), absl::StatusCode::kCancelled);
  EXPECT_EQ(State(merge), v1::JOB_STATE_CANCELLED);

  ASSERT_TRUE(sched_->Retry(merge, {"alice", false}).ok());
  const v1::JobAssignment second = *w1_->LastAssign();
  ASSERT_EQ(second.job_id(), merge);
  EXPECT_EQ(second.attempt(), 2);
  EXPECT_EQ(second.resume(), "");  // a merge starts over
  EXPECT_EQ(second.merge().out_dir(), "/merged/t");
  Finish("w1", second, absl::StatusCode::kInternal);  // transient: again
  ASSERT_EQ(State(merge), v1::JOB_STATE_RUNNING);
  EXPECT_EQ(w1_->LastAssign()->attempt(), 3);
  Finish("w1", *w1_->LastAssign(), absl::StatusCode::kFailedPrecondition);  // not retried
  EXPECT_EQ(State(merge), v1::JOB_STATE_FAILED);
  EXPECT_EQ(sched_->Get(merge)->error_code(), "FAILED_PRECONDITION");
}

}  // namespace
}  // namespace lorad
