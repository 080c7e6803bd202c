#include "server/sqlite_job_store.h"

#include <sqlite3.h>

#include <utility>

#include "absl/strings/str_cat.h"
#include "worker/base/status_macros.h"

namespace lorad {
namespace {

// Ordered migrations: migration i brings the schema from version i to i + 1.
// Never edit a released one; append a new one.
const char* const kMigrations[] = {
    // 0 -> 1: the first schema.
    "CREATE TABLE jobs (id TEXT PRIMARY KEY, state INTEGER NOT NULL, priority INTEGER NOT NULL,"
    " idempotency_key TEXT, create_ms INTEGER NOT NULL, end_ms INTEGER, data BLOB NOT NULL);"
    "CREATE TABLE events (job_id TEXT NOT NULL, seq INTEGER NOT NULL, data BLOB NOT NULL,"
    " PRIMARY KEY (job_id, seq)) WITHOUT ROWID;"
    "CREATE TABLE checkpoints (job_id TEXT NOT NULL, path TEXT NOT NULL, step INTEGER NOT NULL,"
    " attempt INTEGER NOT NULL, time_ms INTEGER NOT NULL, PRIMARY KEY (job_id, path));",
    // 1 -> 2: idempotency lookups and retention scans by end time.
    "CREATE INDEX jobs_idempotency ON jobs (idempotency_key);"
    "CREATE INDEX jobs_end ON jobs (end_ms);",
};
static_assert(sizeof(kMigrations) / sizeof(kMigrations[0]) == SqliteJobStore::kSchemaVersion);

// RAII prepared statement.
class Stmt {
 public:
  Stmt(sqlite3* db, const char* sql) : db_(db) {
    rc_ = sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr);
  }
  ~Stmt() { sqlite3_finalize(stmt_); }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;

  absl::Status status() const {
    if (rc_ == SQLITE_OK) return absl::OkStatus();
    return absl::InternalError(absl::StrCat("sqlite prepare: ", sqlite3_errmsg(db_)));
  }
  void Bind(int i, int64_t v) { sqlite3_bind_int64(stmt_, i, v); }
  void Bind(int i, const std::string& s) {
    sqlite3_bind_text(stmt_, i, s.data(), static_cast<int>(s.size()), SQLITE_TRANSIENT);
  }
  void BindBlob(int i, const std::string& s) {
    sqlite3_bind_blob(stmt_, i, s.data(), static_cast<int>(s.size()), SQLITE_TRANSIENT);
  }
  // SQLITE_ROW → true, SQLITE_DONE → false, else error.
  absl::StatusOr<bool> Step() {
    int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    return absl::InternalError(absl::StrCat("sqlite step: ", sqlite3_errmsg(db_)));
  }
  int64_t Int(int col) { return sqlite3_column_int64(stmt_, col); }
  std::string Blob(int col) {
    const void* p = sqlite3_column_blob(stmt_, col);
    int n = sqlite3_column_bytes(stmt_, col);
    return p ? std::string(static_cast<const char*>(p), n) : std::string();
  }
  std::string Text(int col) {
    const unsigned char* p = sqlite3_column_text(stmt_, col);
    return p ? std::string(reinterpret_cast<const char*>(p)) : std::string();
  }

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
  int rc_;
};

bool IsFinal(v1::JobState s) {
  return s == v1::JOB_STATE_SUCCEEDED || s == v1::JOB_STATE_FAILED ||
         s == v1::JOB_STATE_CANCELLED;
}

int64_t ToMs(const google::protobuf::Timestamp& t) {
  return t.seconds() * 1000 + t.nanos() / 1'000'000;
}

}  // namespace

absl::StatusOr<std::unique_ptr<SqliteJobStore>> SqliteJobStore::Open(const std::string& path,
                                                                     int migrate_to) {
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &db,
                           SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                           nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = db ? sqlite3_errmsg(db) : "out of memory";
    sqlite3_close(db);
    return absl::UnavailableError(absl::StrCat("cannot open job store ", path, ": ", msg));
  }
  std::unique_ptr<SqliteJobStore> store(new SqliteJobStore(db));
  sqlite3_busy_timeout(db, 5000);
  LORAD_RETURN_IF_ERROR(store->Exec("PRAGMA journal_mode=WAL; PRAGMA foreign_keys=ON;"));
  LORAD_RETURN_IF_ERROR(store->SetSynchronous(true));
  LORAD_RETURN_IF_ERROR(store->Migrate(migrate_to));
  return store;
}

SqliteJobStore::~SqliteJobStore() { sqlite3_close(db_); }

absl::Status SqliteJobStore::Error(const char* what) {
  return absl::InternalError(absl::StrCat("job store: ", what, ": ", sqlite3_errmsg(db_)));
}

absl::Status SqliteJobStore::Exec(const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : "unknown error";
    sqlite3_free(err);
    return absl::InternalError(absl::StrCat("job store: ", msg));
  }
  return absl::OkStatus();
}

absl::Status SqliteJobStore::SetSynchronous(bool full) {
  // In WAL mode NORMAL skips the fsync per commit but keeps commit order; the
  // next FULL commit fsyncs the WAL and with it every earlier commit.
  LORAD_RETURN_IF_ERROR(Exec(full ? "PRAGMA synchronous=FULL;" : "PRAGMA synchronous=NORMAL;"));
  synchronous_full_ = full;
  return absl::OkStatus();
}

absl::Status SqliteJobStore::Migrate(int target) {
  Stmt q(db_, "PRAGMA user_version;");
  LORAD_RETURN_IF_ERROR(q.status());
  LORAD_ASSIGN_OR_RETURN(bool row, q.Step());
  version_ = row ? static_cast<int>(q.Int(0)) : 0;
  if (version_ > kSchemaVersion) {
    return absl::FailedPreconditionError(
        absl::StrCat("job store schema version ", version_, " is newer than this lorad supports (",
                     kSchemaVersion, "); upgrade lorad"));
  }
  while (version_ < target) {
    LORAD_RETURN_IF_ERROR(Exec("BEGIN IMMEDIATE;"));
    absl::Status s = Exec(kMigrations[version_]);
    if (s.ok()) s = Exec(absl::StrCat("PRAGMA user_version=", version_ + 1, ";").c_str());
    if (!s.ok()) {
      (void)Exec("ROLLBACK;");
      return absl::InternalError(
          absl::StrCat("migrating job store to version ", version_ + 1, ": ", s.message()));
    }
    LORAD_RETURN_IF_ERROR(Exec("COMMIT;"));
    ++version_;
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<v1::Job>> SqliteJobStore::LoadJobs() {
  Stmt q(db_, "SELECT data FROM jobs ORDER BY id;");
  LORAD_RETURN_IF_ERROR(q.status());
  std::vector<v1::Job> jobs;
  while (true) {
    LORAD_ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) break;
    v1::Job job;
    if (!job.ParseFromString(q.Blob(0))) return absl::DataLossError("job store: corrupt job row");
    jobs.push_back(std::move(job));
  }
  return jobs;
}

absl::StatusOr<std::vector<v1::JobEvent>> SqliteJobStore::Commit(v1::Job* job,
                                                                 std::vector<v1::JobEvent> events,
                                                                 bool durable) {
  if (durable != synchronous_full_) LORAD_RETURN_IF_ERROR(SetSynchronous(durable));
  LORAD_RETURN_IF_ERROR(Exec("BEGIN IMMEDIATE;"));
  auto body = [&]() -> absl::Status {
    // The sequence is read inside the transaction so numbers stay gap-free
    // whatever the caller's cached last_seq says.
    Stmt max(db_, "SELECT COALESCE(MAX(seq), 0) FROM events WHERE job_id = ?1;");
    LORAD_RETURN_IF_ERROR(max.status());
    max.Bind(1, job->id());
    LORAD_ASSIGN_OR_RETURN(bool row, max.Step());
    int64_t seq = row ? max.Int(0) : 0;
    // Retention may have pruned a finished job's events; numbering (e.g. after
    // a retry) still continues after the last number ever given out.
    if (job->last_seq() > seq) seq = job->last_seq();
    for (v1::JobEvent& ev : events) {
      ev.set_job_id(job->id());
      ev.set_seq(++seq);
      if (ev.attempt() == 0) ev.set_attempt(job->attempt());
      Stmt ins(db_, "INSERT INTO events (job_id, seq, data) VALUES (?1, ?2, ?3);");
      LORAD_RETURN_IF_ERROR(ins.status());
      ins.Bind(1, job->id());
      ins.Bind(2, seq);
      ins.BindBlob(3, ev.SerializeAsString());
      LORAD_RETURN_IF_ERROR(ins.Step().status());
      if (ev.has_checkpoint()) {
        Stmt cp(db_,
                "INSERT OR REPLACE INTO checkpoints (job_id, path, step, attempt, time_ms)"
                " VALUES (?1, ?2, ?3, ?4, ?5);");
        LORAD_RETURN_IF_ERROR(cp.status());
        cp.Bind(1, job->id());
        cp.Bind(2, ev.checkpoint().path());
        cp.Bind(3, ev.checkpoint().step());
        cp.Bind(4, ev.attempt());
        cp.Bind(5, ToMs(ev.time()));
        LORAD_RETURN_IF_ERROR(cp.Step().status());
      }
    }
    job->set_last_seq(seq);
    Stmt up(db_,
            "INSERT OR REPLACE INTO jobs (id, state, priority, idempotency_key, create_ms, end_ms,"
            " data) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7);");
    LORAD_RETURN_IF_ERROR(up.status());
    up.Bind(1, job->id());
    up.Bind(2, static_cast<int64_t>(job->state()));
    up.Bind(3, static_cast<int64_t>(job->spec().priority()));
    up.Bind(4, job->spec().idempotency_key());
    up.Bind(5, ToMs(job->create_time()));
    up.Bind(6, IsFinal(job->state()) ? ToMs(job->end_time()) : int64_t{0});
    up.BindBlob(7, job->SerializeAsString());
    LORAD_RETURN_IF_ERROR(up.Step().status());
    return absl::OkStatus();
  };
  absl::Status s = body();
  if (!s.ok()) {
    (void)Exec("ROLLBACK;");
    return s;
  }
  LORAD_RETURN_IF_ERROR(Exec("COMMIT;"));
  return events;
}

absl::StatusOr<std::vector<v1::JobEvent>> SqliteJobStore::ReadEvents(const std::string& job_id,
                                                                     int64_t after_seq,
                                                                     int limit) {
  Stmt q(db_, "SELECT data FROM events WHERE job_id = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3;");
  LORAD_RETURN_IF_ERROR(q.status());
  q.Bind(1, job_id);
  q.Bind(2, after_seq);
  q.Bind(3, static_cast<int64_t>(limit));
  std::vector<v1::JobEvent> out;
  while (true) {
    LORAD_ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) break;
    v1::JobEvent ev;
    if (!ev.ParseFromString(q.Blob(0))) return absl::DataLossError("job store: corrupt event row");
    out.push_back(std::move(ev));
  }
  return out;
}

absl::StatusOr<std::vector<v1::Checkpoint>> SqliteJobStore::ListCheckpoints(
    const std::string& job_id) {
  Stmt q(db_,
         "SELECT path, step, attempt, time_ms FROM checkpoints WHERE job_id = ?1 ORDER BY step,"
         " time_ms;");
  LORAD_RETURN_IF_ERROR(q.status());
  q.Bind(1, job_id);
  std::vector<v1::Checkpoint> out;
  while (true) {
    LORAD_ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) break;
    v1::Checkpoint cp;
    cp.set_job_id(job_id);
    cp.set_path(q.Text(0));
    cp.set_step(q.Int(1));
    cp.set_attempt(static_cast<int32_t>(q.Int(2)));
    int64_t ms = q.Int(3);
    cp.mutable_time()->set_seconds(ms / 1000);
    cp.mutable_time()->set_nanos(static_cast<int32_t>(ms % 1000) * 1'000'000);
    out.push_back(std::move(cp));
  }
  return out;
}

absl::Status SqliteJobStore::DeleteJob(const std::string& job_id) {
  if (!synchronous_full_) LORAD_RETURN_IF_ERROR(SetSynchronous(true));
  LORAD_RETURN_IF_ERROR(Exec("BEGIN IMMEDIATE;"));
  absl::Status s;
  for (const char* sql : {"DELETE FROM events WHERE job_id = ?1;",
                          "DELETE FROM checkpoints WHERE job_id = ?1;",
                          "DELETE FROM jobs WHERE id = ?1;"}) {
    Stmt d(db_, sql);
    s = d.status();
    if (!s.ok()) break;
    d.Bind(1, job_id);
    s = d.Step().status();
    if (!s.ok()) break;
  }
  if (!s.ok()) {
    (void)Exec("ROLLBACK;");
    return s;
  }
  return Exec("COMMIT;");
}

absl::StatusOr<int64_t> SqliteJobStore::PruneEvents(int64_t cutoff_ms) {
  Stmt d(db_,
         "DELETE FROM events WHERE job_id IN (SELECT id FROM jobs WHERE state IN (3, 4, 5)"
         " AND end_ms > 0 AND end_ms < ?1);");
  LORAD_RETURN_IF_ERROR(d.status());
  d.Bind(1, cutoff_ms);
  LORAD_RETURN_IF_ERROR(d.Step().status());
  return static_cast<int64_t>(sqlite3_changes(db_));
}

}  // namespace lorad
