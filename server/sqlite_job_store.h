// JobStore on SQLite (WAL).  Schema versioned with PRAGMA user_version and
// upgraded by ordered migrations on open.
#pragma once

#include <memory>
#include <string>

#include "server/job_store.h"

struct sqlite3;

namespace lorad {

class SqliteJobStore : public JobStore {
 public:
  /// The schema version this build writes.
  static constexpr int kSchemaVersion = 2;

  /// Opens (creating if needed) `path` (":memory:" for tests) and migrates it.
  /// A database from a newer lorad is refused (FAILED_PRECONDITION).
  /// `migrate_to` < kSchemaVersion stops early (tests of migrations).
  static absl::StatusOr<std::unique_ptr<SqliteJobStore>> Open(const std::string& path,
                                                               int migrate_to = kSchemaVersion);
  ~SqliteJobStore() override;

  absl::StatusOr<std::vector<v1::Job>> LoadJobs() override;
  absl::StatusOr<std::vector<v1::JobEvent>> Commit(v1::Job* job, std::vector<v1::JobEvent> events,
                                                   bool durable) override;
  absl::StatusOr<std::vector<v1::JobEvent>> ReadEvents(const std::string& job_id,
                                                       int64_t after_seq, int limit) override;
  absl::StatusOr<std::vector<v1::Checkpoint>> ListCheckpoints(const std::string& job_id) override;
  absl::Status DeleteJob(const std::string& job_id) override;
  absl::StatusOr<int64_t> PruneEvents(int64_t cutoff_ms) override;
  int SchemaVersion() const override { return version_; }

 private:
  explicit SqliteJobStore(sqlite3* db) : db_(db) {}
  absl::Status Exec(const char* sql);
  absl::Status Migrate(int target);
  absl::Status SetSynchronous(bool full);
  absl::Status Error(const char* what);

  sqlite3* db_;
  int version_ = 0;
  bool synchronous_full_ = true;
};

}  // namespace lorad
