#include "client/event_formatter.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "client/job_view.h"

namespace lorad {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

v1::JobEvent Event(int64_t seq) {
  v1::JobEvent e;
  e.set_job_id("j1");
  e.set_seq(seq);
  e.set_attempt(1);
  e.mutable_time()->set_seconds(1764448201);  // 20:30:01 UTC
  return e;
}

TEST(EventFormatterTest, EveryKindOnOneLine) {
  v1::JobEvent s = Event(3);
  s.mutable_state_change()->set_from_state(v1::JOB_STATE_QUEUED);
  s.mutable_state_change()->set_to_state(v1::JOB_STATE_RUNNING);
  s.mutable_state_change()->set_worker_id("w0");
  s.mutable_state_change()->set_reason("assigned");
  EXPECT_EQ(FormatEventLine(s), "#3 20:30:01 state QUEUED -> RUNNING attempt=1 worker=w0: assigned");
  EXPECT_EQ(FormatEventLine(s, false), "state QUEUED -> RUNNING attempt=1 worker=w0: assigned");
  v1::JobEvent submitted = Event(1);
  submitted.mutable_state_change()->set_to_state(v1::JOB_STATE_QUEUED);
  EXPECT_EQ(FormatEventLine(submitted, false), "state QUEUED attempt=1");  // no "UNSPECIFIED ->"

  v1::JobEvent st = Event(4);
  auto* step = st.mutable_step();
  step->set_step(20);
  step->set_total_steps(80);
  step->set_loss(1.23456);
  step->set_learning_rate(2e-3);
  step->set_grad_norm(0.5);
  step->set_tokens_per_second(1234.4);
  step->set_epoch(0.25);
  EXPECT_EQ(FormatEventLine(st),
            "#4 20:30:01 step 20/80 loss=1.2346 lr=2.000e-03 grad_norm=0.5000 tokens/s=1234 "
            "epoch=0.250");

  v1::JobEvent c = Event(5);
  c.mutable_checkpoint()->set_step(20);
  c.mutable_checkpoint()->set_path("/o/checkpoint-20");
  c.mutable_checkpoint()->set_bytes(3 * 1024 * 1024);
  c.mutable_checkpoint()->set_seconds(0.25);
  EXPECT_EQ(FormatEventLine(c, false), "checkpoint step=20 /o/checkpoint-20 (3.0 MiB in 0.25s)");

  v1::JobEvent l = Event(6);
  l.mutable_log()->set_level("warn");
  l.mutable_log()->set_text("two\nlines");
  EXPECT_EQ(FormatEventLine(l, false), "warn: two lines");

  v1::JobEvent f = Event(7);
  f.mutable_final_result()->set_state(v1::JOB_STATE_FAILED);
  f.mutable_final_result()->set_step(7);
  f.mutable_final_result()->set_error("out of memory");
  f.mutable_final_result()->set_error_code("RESOURCE_EXHAUSTED");
  EXPECT_EQ(FormatEventLine(f, false),
            "final FAILED step=7 loss=0.0000 error=RESOURCE_EXHAUSTED: out of memory");

  v1::JobEvent r = Event(8);
  r.set_record_json(R"({"type":"data_drift","js":0.31,"verdict":"warn"})");
  EXPECT_EQ(FormatEventLine(r, false), "data_drift js=0.31 verdict=warn");
  v1::JobEvent sample = Event(9);
  sample.set_record_json(
      R"({"type":"sample","step":40,"samples":[{"prompt":"The cat","text":" sat\non"},{"prompt":"One","text":", two"}]})");
  EXPECT_EQ(FormatEventLine(sample, false),
            R"(sample step=40: "The cat" → " sat\non"; "One" → ", two")");
}

TEST(EventFormatterTest, ResumeShowsTheProbeCheck) {
  v1::JobEvent r = Event(2);
  r.mutable_resume()->set_source("/o/run1");
  r.mutable_resume()->set_step(0);
  r.mutable_resume()->set_reason("adapter directory");
  r.mutable_resume()->set_record_json(
      R"({"type":"resume","mode":"continue_adapter","probe":{"available":true,"passed":true,)"
      R"("recorded":1.25,"recomputed":1.25,"tolerance":0.001}})");
  const std::string line = FormatEventLine(r, false);
  EXPECT_THAT(line, HasSubstr("resume from /o/run1 at step 0: adapter directory"));
  EXPECT_THAT(line, HasSubstr("probe loss recorded 1.250000, recomputed 1.250000: adapter loaded"));
  EXPECT_THAT(line, HasSubstr("mode=continue_adapter"));
  EXPECT_THAT(line, Not(HasSubstr("type=resume")));
}

TEST(EventFormatterTest, TimesAgesSizes) {
  google::protobuf::Timestamp ts;
  EXPECT_EQ(FormatTime(ts), "-");
  ts.set_seconds(1764448201);
  EXPECT_EQ(FormatTime(ts), "2025-11-29T20:30:01Z");
  const absl::Time t0 = absl::FromUnixSeconds(1764448201);
  EXPECT_EQ(FormatAge(ts, t0 + absl::Seconds(42)), "42s");
  EXPECT_EQ(FormatAge(ts, t0 + absl::Minutes(5)), "5m");
  EXPECT_EQ(FormatAge(ts, t0 + absl::Hours(3)), "3h");
  EXPECT_EQ(FormatAge(ts, t0 + absl::Hours(72)), "3d");
  EXPECT_EQ(FormatBytes(512), "512 B");
  EXPECT_EQ(FormatBytes(1536), "1.5 KiB");
  EXPECT_EQ(StateName(v1::JOB_STATE_CANCELLED), "CANCELLED");
  EXPECT_TRUE(IsFinalState(v1::JOB_STATE_FAILED));
  EXPECT_FALSE(IsFinalState(v1::JOB_STATE_QUEUED));
}

TEST(EventFormatterTest, MergeProgressAndMergeFinal) {
  v1::JobEvent p = Event(4);
  p.set_record_json(R"({"type":"merge_progress","shard":2,"num_shards":3,)"
                    R"("file":"/o/merged/model-00002-of-00003.safetensors","bytes":1572864})");
  EXPECT_EQ(FormatEventLine(p, false), "merge shard 2/3 model-00002-of-00003.safetensors (1.5 MiB)");
  // Fields of the wrong type never throw: they show as zero.
  p.set_record_json(R"({"type":"merge_progress","shard":"two","file":7})");
  EXPECT_EQ(FormatEventLine(p, false), "merge shard 0/0 (0 B)");

  v1::JobEvent f = Event(9);
  f.mutable_final_result()->set_state(v1::JOB_STATE_SUCCEEDED);
  f.mutable_final_result()->set_output_dir("/o/merged");
  f.mutable_final_result()->set_record_json(
      R"({"type":"final","kind":"merge","output_dir":"/o/merged","merged_modules":28,)"
      R"("total_bytes":3145728,"dtype":"BF16","weight_files":["model-00001-of-00002.safetensors",)"
      R"("model-00002-of-00002.safetensors","model.safetensors.index.json"]})");
  EXPECT_EQ(FormatEventLine(f, false),
            "final SUCCEEDED merged 28 modules into 2 shards (3.0 MiB BF16) in /o/merged");
}

TEST(JobViewTest, MergeJobsShowTheirKindShardsAndInputs) {
  v1::Job job;
  job.set_id("01JB");
  job.set_state(v1::JOB_STATE_RUNNING);
  job.set_attempt(1);
  job.set_last_step(1);
  job.set_total_steps(3);
  job.mutable_spec()->set_kind(v1::JOB_KIND_MERGE);
  job.mutable_spec()->mutable_merge()->set_source_job_id("01JA");
  job.mutable_merge()->set_model_dir("/m/tiny");
  job.mutable_merge()->set_adapter_dir("/o/run");
  job.mutable_create_time()->set_seconds(1000);
  EXPECT_EQ(JobsTable({job}, absl::FromUnixSeconds(1060)).Render(true),
            "ID     NAME   KIND    STATE     STEP   LOSS   ATTEMPT   AGE\n"
            "01JB   -      merge   RUNNING   1/3    -      1         60s\n");
  const std::string d = DescribeJob(job, absl::FromUnixSeconds(1060));
  EXPECT_THAT(d, HasSubstr("kind:         merge\n"));
  EXPECT_THAT(d, HasSubstr("progress:     shard 1/3\n"));
  EXPECT_THAT(d, HasSubstr("merge_of:     01JA\n"));
  EXPECT_THAT(d, HasSubstr("base_model:   /m/tiny\n"));
  EXPECT_THAT(d, HasSubstr("adapter:      /o/run\n"));
  EXPECT_THAT(d, Not(HasSubstr("config:")));
}

TEST(JobViewTest, ListTableAndDescribe) {
  v1::Job job;
  job.set_id("01JA");
  job.set_state(v1::JOB_STATE_RUNNING);
  job.set_attempt(1);
  job.set_last_step(12);
  job.set_total_steps(80);
  job.set_last_loss(2.5);
  job.mutable_spec()->set_config_yaml("lora_r: 8\n");
  job.mutable_create_time()->set_seconds(1000);
  const std::string table = JobsTable({job}, absl::FromUnixSeconds(1060)).Render(true);
  EXPECT_EQ(table,
            "ID     NAME   KIND    STATE     STEP    LOSS     ATTEMPT   AGE\n"
            "01JA   -      train   RUNNING   12/80   2.5000   1         60s\n");
  const std::string d = DescribeJob(job, absl::FromUnixSeconds(1060));
  EXPECT_THAT(d, HasSubstr("state:        RUNNING\n"));
  EXPECT_THAT(d, HasSubstr("progress:     step 12/80, loss 2.5000\n"));
  EXPECT_THAT(d, HasSubstr("config:\n  lora_r: 8\n"));
}

}  // namespace
}  // namespace lorad
