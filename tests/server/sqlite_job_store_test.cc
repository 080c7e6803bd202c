#include "server/sqlite_job_store.h"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <filesystem>

namespace lorad {
namespace {

class SqliteJobStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("lorad-store-test-" + std::to_string(getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    path_ = (dir_ / "lorad.db").string();
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  static v1::Job MakeJob(const std::string& id) {
    v1::Job job;
    job.set_id(id);
    job.set_state(v1::JOB_STATE_QUEUED);
    job.mutable_spec()->set_config_yaml("base_model: x\n");
    job.mutable_create_time()->set_seconds(1000);
    return job;
  }
  static v1::JobEvent Step(int64_t step) {
    v1::JobEvent ev;
    ev.mutable_step()->set_step(step);
    return ev;
  }

  std::filesystem::path dir_;
  std::string path_;
};

TEST_F(SqliteJobStoreTest, SequencesAreGapFreePerJob) {
  auto store = SqliteJobStore::Open(path_);
  ASSERT_TRUE(store.ok()) << store.status();
  v1::Job a = MakeJob("a"), b = MakeJob("b");
  ASSERT_TRUE((*store)->Commit(&a, {Step(1), Step(2)}, false).ok());
  ASSERT_TRUE((*store)->Commit(&b, {Step(1)}, true).ok());
  auto more = (*store)->Commit(&a, {Step(3)}, true);
  ASSERT_TRUE(more.ok());
  EXPECT_EQ((*more)[0].seq(), 3);
  EXPECT_EQ(a.last_seq(), 3);
  EXPECT_EQ(b.last_seq(), 1);
  auto events = (*store)->ReadEvents("a", 0, 100);
  ASSERT_TRUE(events.ok());
  ASSERT_EQ(events->size(), 3u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ((*events)[i].seq(), i + 1);
    EXPECT_EQ((*events)[i].job_id(), "a");
    EXPECT_EQ((*events)[i].step().step(), i + 1);
  }
  auto tail = (*store)->ReadEvents("a", 2, 100);
  ASSERT_TRUE(tail.ok());
  ASSERT_EQ(tail->size(), 1u);
  EXPECT_EQ((*tail)[0].seq(), 3);
}

TEST_F(SqliteJobStoreTest, EverythingCommittedSurvivesReopen) {
  {
    auto store = SqliteJobStore::Open(path_);
    ASSERT_TRUE(store.ok());
    v1::Job a = MakeJob("a");
    ASSERT_TRUE((*store)->Commit(&a, {Step(1), Step(2)}, false).ok());
    v1::JobEvent cp;
    cp.mutable_checkpoint()->set_path("/out/checkpoint-2");
    cp.mutable_checkpoint()->set_step(2);
    a.set_state(v1::JOB_STATE_RUNNING);
    ASSERT_TRUE((*store)->Commit(&a, {cp}, true).ok());
    // No orderly shutdown beyond closing: the WAL holds the commits.
  }
  auto store = SqliteJobStore::Open(path_);
  ASSERT_TRUE(store.ok());
  auto jobs = (*store)->LoadJobs();
  ASSERT_TRUE(jobs.ok());
  ASSERT_EQ(jobs->size(), 1u);
  EXPECT_EQ((*jobs)[0].state(), v1::JOB_STATE_RUNNING);
  EXPECT_EQ((*jobs)[0].last_seq(), 3);
  auto cps = (*store)->ListCheckpoints("a");
  ASSERT_TRUE(cps.ok());
  ASSERT_EQ(cps->size(), 1u);
  EXPECT_EQ((*cps)[0].path(), "/out/checkpoint-2");
  EXPECT_EQ((*cps)[0].step(), 2);
  // Numbering continues after reopen.
  v1::Job a = (*jobs)[0];
  auto next = (*store)->Commit(&a, {Step(3)}, false);
  ASSERT_TRUE(next.ok());
  EXPECT_EQ((*next)[0].seq(), 4);
}

TEST_F(SqliteJobStoreTest, MigratesOldSchemaAndRefusesNewer) {
  {
    auto v1store = SqliteJobStore::Open(path_, /*migrate_to=*/1);
    ASSERT_TRUE(v1store.ok());
    EXPECT_EQ((*v1store)->SchemaVersion(), 1);
    v1::Job a = MakeJob("a");
    ASSERT_TRUE((*v1store)->Commit(&a, {Step(1)}, true).ok());
  }
  {
    auto store = SqliteJobStore::Open(path_);
    ASSERT_TRUE(store.ok()) << store.status();
    EXPECT_EQ((*store)->SchemaVersion(), SqliteJobStore::kSchemaVersion);
    auto jobs = (*store)->LoadJobs();
    ASSERT_TRUE(jobs.ok());
    EXPECT_EQ(jobs->size(), 1u);
  }
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "PRAGMA user_version=99;", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  auto newer = SqliteJobStore::Open(path_);
  ASSERT_FALSE(newer.ok());
  EXPECT_EQ(newer.status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(SqliteJobStoreTest, RetentionPrunesOnlyOldFinishedJobsAndKeepsNumbering) {
  auto store = SqliteJobStore::Open(path_);
  ASSERT_TRUE(store.ok());
  v1::Job done = MakeJob("done"), live = MakeJob("live");
  done.set_state(v1::JOB_STATE_SUCCEEDED);
  done.mutable_end_time()->set_seconds(10);  // 10'000 ms
  ASSERT_TRUE((*store)->Commit(&done, {Step(1), Step(2)}, true).ok());
  ASSERT_TRUE((*store)->Commit(&live, {Step(1)}, true).ok());
  auto n = (*store)->PruneEvents(20'000);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 2);
  EXPECT_TRUE((*store)->ReadEvents("done", 0, 10)->empty());
  EXPECT_EQ((*store)->ReadEvents("live", 0, 10)->size(), 1u);
  auto again = (*store)->Commit(&done, {Step(3)}, true);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ((*again)[0].seq(), 3);  // never reuses a number
}

TEST_F(SqliteJobStoreTest, DeleteRemovesJobEventsAndCheckpoints) {
  auto store = SqliteJobStore::Open(path_);
  ASSERT_TRUE(store.ok());
  v1::Job a = MakeJob("a");
  v1::JobEvent cp;
  cp.mutable_checkpoint()->set_path("/o/checkpoint-1");
  ASSERT_TRUE((*store)->Commit(&a, {Step(1), cp}, true).ok());
  ASSERT_TRUE((*store)->DeleteJob("a").ok());
  EXPECT_TRUE((*store)->LoadJobs()->empty());
  EXPECT_TRUE((*store)->ReadEvents("a", 0, 10)->empty());
  EXPECT_TRUE((*store)->ListCheckpoints("a")->empty());
}

}  // namespace
}  // namespace lorad
