// Scheduler state machine against fakes: in-memory SQLite store, fake clock,
// fake validator, fake worker links and watchers (no gRPC, no processes).
#include "server/scheduler.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <signal.h>

#include <algorithm>

#include "tests/server/scheduler_fixture.h"

namespace lorad {
namespace {

TEST_F(SchedulerTest, PriorityThenFifo) {
  std::string low = Submit(Spec("low", 0));
  std::string high1 = Submit(Spec("high1", 5));
  std::string high2 = Submit(Spec("high2", 5));
  auto w = Connect("w1");
  ASSERT_NE(w->LastAssign(), nullptr);
  EXPECT_EQ(w->LastAssign()->job_id(), high1);
  Finish("w1", *w->LastAssign(), absl::StatusCode::kOk);
  EXPECT_EQ(State(high1), v1::JOB_STATE_SUCCEEDED);
  EXPECT_EQ(w->LastAssign()->job_id(), high2);
  Finish("w1", *w->LastAssign(), absl::StatusCode::kOk);
  EXPECT_EQ(w->LastAssign()->job_id(), low);
  EXPECT_LT(high1, high2);  // ids sort by submit time
}

TEST_F(SchedulerTest, DeviceKindMustFit) {
  v1::JobSpec s = Spec("gpu");
  s.set_device_kind(v1::DEVICE_KIND_CUDA);
  std::string id = Submit(s);
  auto cpu = Connect("cpu0", v1::DEVICE_KIND_CPU);
  EXPECT_EQ(cpu->LastAssign(), nullptr);
  auto gpu = Connect("gpu0", v1::DEVICE_KIND_CUDA);
  ASSERT_NE(gpu->LastAssign(), nullptr);
  EXPECT_EQ(gpu->LastAssign()->job_id(), id);
}

TEST_F(SchedulerTest, HeartbeatTimeoutRequeuesWithReasonThenFailsAfterMaxAttempts) {
  v1::JobSpec s = Spec("j");
  s.set_max_attempts(2);
  std::string id = Submit(s);
  auto w1 = Connect("w1");
  ASSERT_NE(w1->LastAssign(), nullptr);
  EXPECT_EQ(w1->LastAssign()->attempt(), 1);
  clock_.Advance(options_.heartbeat_timeout_ms + 1);
  sched_->Tick();
  ASSERT_TRUE(w1->closed.has_value());
  EXPECT_EQ(State(id), v1::JOB_STATE_QUEUED);
  EXPECT_NE(sched_->Get(id)->state_reason().find("no heartbeat"), std::string::npos);

  auto w2 = Connect("w2");
  ASSERT_NE(w2->LastAssign(), nullptr);
  EXPECT_EQ(w2->LastAssign()->attempt(), 2);
  EXPECT_EQ(w2->LastAssign()->resume(), "auto");
  int64_t epoch2 = w2->LastAssign()->lease_epoch();
  EXPECT_GT(epoch2, 0);
  sched_->OnWorkerDisconnected("w2", "stream broken");
  EXPECT_EQ(State(id), v1::JOB_STATE_FAILED);
  EXPECT_NE(sched_->Get(id)->error().find("attempts"), std::string::npos);
}

TEST_F(SchedulerTest, StaleLeaseMessagesAreIgnored) {
  std::string id = Submit(Spec("j"));
  auto w1 = Connect("w1");
  v1::JobAssignment first = *w1->LastAssign();
  sched_->OnWorkerDisconnected("w1", "gone");
  auto w2 = Connect("w2");
  ASSERT_NE(w2->LastAssign(), nullptr);
  EXPECT_NE(w2->LastAssign()->lease_epoch(), first.lease_epoch());
  // The old worker comes back and reports success for the old lease.
  auto w1b = Connect("w1");
  Finish("w1", first, absl::StatusCode::kOk);
  EXPECT_EQ(State(id), v1::JOB_STATE_RUNNING);
  Finish("w2", *w2->LastAssign(), absl::StatusCode::kOk);
  EXPECT_EQ(State(id), v1::JOB_STATE_SUCCEEDED);
}

TEST_F(SchedulerTest, DeterministicFailuresAreNotRetried) {
  std::string id = Submit(Spec("j"));
  auto w = Connect("w1");
  Finish("w1", *w->LastAssign(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(State(id), v1::JOB_STATE_FAILED);
  EXPECT_EQ(sched_->Get(id)->error_code(), "RESOURCE_EXHAUSTED");
  EXPECT_EQ(sched_->Get(id)->attempt(), 1);
}

TEST_F(SchedulerTest, TransientFailureIsRetriedAndPreemptionDoesNotCountAsAttempt) {
  v1::JobSpec s = Spec("j");
  s.set_max_attempts(2);
  std::string id = Submit(s);
  auto w = Connect("w1");
  Finish("w1", *w->LastAssign(), absl::StatusCode::kCancelled, /*preempted=*/true);
  ASSERT_EQ(w->LastAssign()->attempt(), 2);
  Finish("w1", *w->LastAssign(), absl::StatusCode::kInternal);
  ASSERT_EQ(State(id), v1::JOB_STATE_RUNNING);
  EXPECT_EQ(w->LastAssign()->attempt(), 3);
  Finish("w1", *w->LastAssign(), absl::StatusCode::kInternal);
  EXPECT_EQ(State(id), v1::JOB_STATE_FAILED);
}

TEST_F(SchedulerTest, IdempotentSubmit) {
  v1::JobSpec s = Spec("j");
  s.set_idempotency_key("k1");
  auto first = sched_->Submit(s, {"alice", false});
  ASSERT_TRUE(first.ok());
  auto again = sched_->Submit(s, {"alice", false});
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->existing());
  EXPECT_EQ(again->job().id(), first->job().id());
  s.set_priority(3);
  auto different = sched_->Submit(s, {"alice", false});
  EXPECT_EQ(different.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(sched_->List({})->jobs_size(), 1);
}

TEST_F(SchedulerTest, ValidationReportsEveryProblemAtOnce) {
  v1::JobSpec s = Spec("j");
  s.set_config_yaml("bad: yes\n");
  s.set_device_count(2);
  auto r = sched_->Submit(s, {"alice", false});
  ASSERT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  std::string msg(r.status().message());
  EXPECT_NE(msg.find("device_count"), std::string::npos);
  EXPECT_NE(msg.find("learning_rate: required"), std::string::npos);
  EXPECT_NE(msg.find("datasets[0].path"), std::string::npos);
}

TEST_F(SchedulerTest, OutputDirOfActiveJobRefusedAndQueueLimit) {
  v1::JobSpec a = Spec("a");
  a.set_config_yaml("x\noutput_dir: /o/shared");
  Submit(a);
  auto dup = sched_->Submit(a, {"alice", false});
  EXPECT_EQ(dup.status().code(), absl::StatusCode::kFailedPrecondition);
  // Nested either way is refused too; a sibling whose name merely extends it is not.
  v1::JobSpec inner = Spec("inner");
  inner.set_config_yaml("x\noutput_dir: /o/shared/run2");
  auto nested = sched_->Submit(inner, {"alice", false});
  EXPECT_EQ(nested.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(std::string(nested.status().message()).find("overlaps the output_dir of job"),
            std::string::npos)
      << nested.status();
  v1::JobSpec outer = Spec("outer");
  outer.set_config_yaml("x\noutput_dir: /o");
  EXPECT_EQ(sched_->Submit(outer, {"alice", false}).status().code(),
            absl::StatusCode::kFailedPrecondition);
  v1::JobSpec sibling = Spec("sibling");
  sibling.set_config_yaml("x\noutput_dir: /o/shared2");
  EXPECT_TRUE(sched_->Submit(sibling, {"alice", false}).ok());
  options_.max_queued_jobs = 1;
  MakeScheduler();
  auto full = sched_->Submit(Spec("b"), {"alice", false});
  EXPECT_EQ(full.status().code(), absl::StatusCode::kResourceExhausted);
}

TEST_F(SchedulerTest, CancelRulesAndOwnership) {
  std::string queued = Submit(Spec("q"));
  EXPECT_EQ(sched_->Cancel(queued, "", {"mallory", false}).status().code(),
            absl::StatusCode::kPermissionDenied);
  ASSERT_TRUE(sched_->Cancel(queued, "", {"alice", false}).ok());
  EXPECT_EQ(State(queued), v1::JOB_STATE_CANCELLED);
  EXPECT_EQ(sched_->Cancel(queued, "", {"alice", false}).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(sched_->Cancel("nope", "", {"alice", false}).status().code(),
            absl::StatusCode::kNotFound);

  std::string running = Submit(Spec("r"));
  auto w = Connect("w1");
  ASSERT_TRUE(sched_->Cancel(running, "enough", {"root", true}).ok());  // admin
  EXPECT_EQ(State(running), v1::JOB_STATE_RUNNING);  // until the worker checkpoints
  ASSERT_TRUE(w->sent.back().has_cancel());
  EXPECT_FALSE(w->sent.back().cancel().requeue());
  Finish("w1", *w->LastAssign(), absl::StatusCode::kCancelled);
  EXPECT_EQ(State(running), v1::JOB_STATE_CANCELLED);
}

TEST_F(SchedulerTest, RetryResumesAndDeleteNeedsFinishedJob) {
  std::string id = Submit(Spec("j"));
  EXPECT_EQ(sched_->Retry(id, {"alice", false}).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(sched_->Delete(id, false, {"alice", false}).code(),
            absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(sched_->Cancel(id, "", {"alice", false}).ok());
  ASSERT_TRUE(sched_->Retry(id, {"alice", false}).ok());
  auto w = Connect("w1");
  ASSERT_NE(w->LastAssign(), nullptr);
  EXPECT_EQ(w->LastAssign()->resume(), "auto");
  Finish("w1", *w->LastAssign(), absl::StatusCode::kOk);
  EXPECT_EQ(sched_->Delete(id, false, {"mallory", false}).code(),
            absl::StatusCode::kPermissionDenied);
  ASSERT_TRUE(sched_->Delete(id, false, {"alice", false}).ok());
  EXPECT_EQ(sched_->Get(id).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(SchedulerTest, DivergenceRecordsAreCountedByActionForTheAlerts) {
  std::string id = Submit(Spec("j"));
  auto w = Connect("w1");
  const v1::JobAssignment a = *w->LastAssign();
  auto count = [&](const char* action) {
    return metrics_.train_divergences.Add({{"action", action}}).Value();
  };
  EXPECT_EQ(count("fail"), 0);  // pre-initialised: increase() sees the first one
  Record("w1", a, R"({"action":"skip_step","step":3,"type":"divergence"})");
  Record("w1", a, R"({"action":"fail","step":5,"type":"divergence"})");
  Record("w1", a, R"({"type":"data_drift","message":"divergence in the name only"})");
  EXPECT_EQ(count("skip_step"), 1);
  EXPECT_EQ(count("fail"), 1);
  EXPECT_EQ(State(id), v1::JOB_STATE_RUNNING);
}

TEST_F(SchedulerTest, WatchersGetEveryEventInOrderAndLaggardsCatchUpFromStore) {
  std::string id = Submit(Spec("j"));
  auto fast = std::make_shared<FakeWatcher>();
  auto slow = std::make_shared<FakeWatcher>(/*capacity=*/2);
  ASSERT_TRUE(sched_->Watch(id, 0, true, fast).ok());
  ASSERT_TRUE(sched_->Watch(id, 0, true, slow).ok());
  auto w = Connect("w1");
  const v1::JobAssignment a = *w->LastAssign();
  for (int i = 1; i <= 5; ++i) {
    Record("w1", a, "{\"type\":\"step\",\"step\":" + std::to_string(i) + ",\"loss\":1.5}");
  }
  Record("w1", a, R"({"type":"checkpoint","path":"/out/j/checkpoint-5","step":5})");
  Record("w1", a, R"({"type":"data_drift","js":0.1})");
  Finish("w1", a, absl::StatusCode::kOk);
  ASSERT_TRUE(fast->ended.has_value());
  EXPECT_TRUE(fast->ended->ok());
  int64_t last = sched_->Get(id)->last_seq();
  ASSERT_EQ(static_cast<int64_t>(fast->events.size()), last);
  for (int64_t i = 0; i < last; ++i) EXPECT_EQ(fast->events[i].seq(), i + 1);
  EXPECT_TRUE(fast->events.back().has_state_change());
  EXPECT_EQ(fast->events.back().state_change().to_state(), v1::JOB_STATE_SUCCEEDED);
  EXPECT_EQ(fast->events[last - 2].record_json(), R"({"type":"data_drift","js":0.1})");
  EXPECT_EQ(sched_->Get(id)->last_step(), 5);

  // The slow watcher got 2, then drains and is fed from the store.
  EXPECT_EQ(slow->events.size(), 2u);
  EXPECT_FALSE(slow->ended.has_value());
  while (!slow->ended.has_value()) {
    slow->buffered = 0;
    sched_->ResumeWatcher(slow.get());
  }
  ASSERT_EQ(static_cast<int64_t>(slow->events.size()), last);
  for (int64_t i = 0; i < last; ++i) EXPECT_EQ(slow->events[i].seq(), i + 1);
  auto cps = sched_->ListCheckpoints(id);
  ASSERT_TRUE(cps.ok());
  ASSERT_EQ(cps->size(), 1u);
  EXPECT_EQ((*cps)[0].step(), 5);

  // Replay of a finished job from a sequence number.
  auto replay = std::make_shared<FakeWatcher>();
  ASSERT_TRUE(sched_->Watch(id, 3, true, replay).ok());
  ASSERT_TRUE(replay->ended.has_value());
  ASSERT_EQ(static_cast<int64_t>(replay->events.size()), last - 3);
  EXPECT_EQ(replay->events.front().seq(), 4);
}

TEST_F(SchedulerTest, RestartRequeuesRunningJobsWithoutLosingAnything) {
  std::string id = Submit(Spec("j"));
  auto w = Connect("w1");
  Record("w1", *w->LastAssign(), R"({"type":"step","step":1,"loss":2})");
  int64_t seq_before = sched_->Get(id)->last_seq();
  // "kill -9": a new scheduler on the same store.
  MakeScheduler();
  auto job = sched_->Get(id);
  ASSERT_TRUE(job.ok());
  EXPECT_EQ(job->state(), v1::JOB_STATE_QUEUED);
  EXPECT_EQ(job->last_seq(), seq_before + 1);
  auto watcher = std::make_shared<FakeWatcher>();
  ASSERT_TRUE(sched_->Watch(id, 0, false, watcher).ok());
  ASSERT_EQ(static_cast<int64_t>(watcher->events.size()), seq_before + 1);
  for (size_t i = 0; i < watcher->events.size(); ++i) EXPECT_EQ(watcher->events[i].seq(), int64_t(i + 1));
  auto w2 = Connect("w2");
  ASSERT_NE(w2->LastAssign(), nullptr);
  EXPECT_EQ(w2->LastAssign()->resume(), "auto");
  std::string next = Submit(Spec("k"));
  EXPECT_GT(next, id);
}

TEST_F(SchedulerTest, DiskSpaceCheckBeforeStart) {
  free_disk_ = 1000;
  std::string id = Submit(Spec("j"));
  auto w = Connect("w1");
  EXPECT_EQ(w->LastAssign(), nullptr);
  EXPECT_EQ(State(id), v1::JOB_STATE_FAILED);
  EXPECT_EQ(sched_->Get(id)->error_code(), "RESOURCE_EXHAUSTED");
}

TEST_F(SchedulerTest, WorkerAuthentication) {
  auto link = std::make_shared<FakeLink>();
  v1::WorkerHello h;
  h.set_worker_id("r1");
  h.set_worker_token("wrong");
  EXPECT_EQ(sched_->ConnectWorker(link, h).status().code(), absl::StatusCode::kUnauthenticated);

  FakeLauncher launcher;
  WorkerPoolOptions po;
  po.worker_binary = "/bin/lorad-worker";
  po.scheduler_address = "unix:/tmp/x.sock";
  WorkerPool pool(launcher, clock_, &metrics_, po);
  MakeScheduler(&pool);
  const char* policy = std::getenv("OMP_WAIT_POLICY");
  const std::string saved = policy ? policy : "";
  ::unsetenv("OMP_WAIT_POLICY");  // lorad's own environment leaves the choice to it
  pool.Start({{"local-0", ""}});
  if (policy) ::setenv("OMP_WAIT_POLICY", saved.c_str(), 1);
  ASSERT_EQ(launcher.launches.size(), 1u);
  const auto& args = launcher.launches[0].args;
  auto tok = std::find(args.begin(), args.end(), "--startup-token");
  ASSERT_NE(tok, args.end());
  v1::WorkerHello local;
  local.set_worker_id("local-0");
  local.set_startup_token("not-the-token");
  EXPECT_EQ(sched_->ConnectWorker(link, local).status().code(), absl::StatusCode::kUnauthenticated);
  local.set_startup_token(*(tok + 1));
  EXPECT_TRUE(sched_->ConnectWorker(link, local).ok());
  EXPECT_EQ(launcher.launches[0].env.at("CUDA_VISIBLE_DEVICES"), "");
  EXPECT_EQ(launcher.launches[0].env.at("OMP_WAIT_POLICY"), "PASSIVE");
}

TEST_F(SchedulerTest, WorkerPoolRestartsWithBackoffAndKillsUnregistered) {
  FakeLauncher launcher;
  WorkerPoolOptions po;
  po.worker_binary = "w";
  po.registration_timeout_ms = 5'000;
  po.backoff_initial_ms = 1'000;
  WorkerPool pool(launcher, clock_, &metrics_, po);
  pool.Start({{"local-0", "0"}});
  EXPECT_EQ(launcher.launches[0].env.at("CUDA_VISIBLE_DEVICES"), "0");
  launcher.exited.push_back({100, 9});  // killed by SIGKILL
  EXPECT_EQ(pool.Tick(), std::vector<std::string>{"local-0"});
  EXPECT_EQ(launcher.launches.size(), 1u);  // waits for the backoff
  clock_.Advance(1'000);
  pool.Tick();
  ASSERT_EQ(launcher.launches.size(), 2u);
  EXPECT_EQ(pool.Restarts("local-0"), 1);
  launcher.exited.push_back({101, 256});
  pool.Tick();
  clock_.Advance(1'000);
  pool.Tick();
  EXPECT_EQ(launcher.launches.size(), 2u);  // backoff doubled to 2 s
  clock_.Advance(1'000);
  pool.Tick();
  ASSERT_EQ(launcher.launches.size(), 3u);
  clock_.Advance(5'001);  // never registered
  pool.Tick();
  ASSERT_FALSE(launcher.signals.empty());
  EXPECT_EQ(launcher.signals.back(), (std::pair<int64_t, int>{102, SIGKILL}));
}

TEST_F(SchedulerTest, ListPagesNewestFirstWithStateFilter) {
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i) {
    ids.push_back(Submit(Spec("j" + std::to_string(i))));
    clock_.Advance(1);
  }
  ASSERT_TRUE(sched_->Cancel(ids[1], "", {"alice", false}).ok());
  v1::ListJobsRequest req;
  req.set_page_size(2);
  auto p1 = sched_->List(req);
  ASSERT_EQ(p1->jobs_size(), 2);
  EXPECT_EQ(p1->jobs(0).id(), ids[4]);
  req.set_page_token(p1->next_page_token());
  auto p2 = sched_->List(req);
  ASSERT_EQ(p2->jobs_size(), 2);
  EXPECT_EQ(p2->jobs(0).id(), ids[2]);
  v1::ListJobsRequest cancelled;
  cancelled.add_states(v1::JOB_STATE_CANCELLED);
  auto c = sched_->List(cancelled);
  ASSERT_EQ(c->jobs_size(), 1);
  EXPECT_EQ(c->jobs(0).id(), ids[1]);
}

}  // namespace
}  // namespace lorad

namespace lorad {
namespace {

TEST_F(SchedulerTest, MaxRuntimeStopsTheJobAndFailsIt) {
  v1::JobSpec s = Spec("j");
  s.mutable_max_runtime()->set_seconds(60);
  std::string id = Submit(s);
  auto w = Connect("w1");
  const v1::JobAssignment a = *w->LastAssign();
  v1::WorkerMessage hb;
  hb.mutable_heartbeat()->set_job_id(id);
  for (int i = 0; i < 7; ++i) {  // 70 s, heartbeating every 10 s
    clock_.Advance(10'000);
    sched_->OnWorkerMessage("w1", hb);
    sched_->Tick();
  }
  ASSERT_TRUE(w->sent.back().has_cancel());
  EXPECT_FALSE(w->sent.back().cancel().requeue());
  EXPECT_EQ(State(id), v1::JOB_STATE_RUNNING);  // until the worker has checkpointed
  Finish("w1", a, absl::StatusCode::kCancelled);
  EXPECT_EQ(State(id), v1::JOB_STATE_FAILED);
  EXPECT_EQ(sched_->Get(id)->error_code(), "DEADLINE_EXCEEDED");
}

TEST_F(SchedulerTest, DrainPreemptsRunningJobsBackToTheQueue) {
  std::string id = Submit(Spec("j"));
  auto w = Connect("w1");
  const v1::JobAssignment a = *w->LastAssign();
  sched_->Drain();
  ASSERT_TRUE(w->sent.back().has_cancel());
  EXPECT_TRUE(w->sent.back().cancel().requeue());
  Finish("w1", a, absl::StatusCode::kCancelled, /*preempted=*/true);
  EXPECT_EQ(State(id), v1::JOB_STATE_QUEUED);
  EXPECT_EQ(sched_->RunningJobs(), 0);
  EXPECT_EQ(w->LastAssign()->lease_epoch(), a.lease_epoch());  // nothing new while draining
  EXPECT_EQ(sched_->Submit(Spec("k"), {"alice", false}).status().code(),
            absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace lorad
