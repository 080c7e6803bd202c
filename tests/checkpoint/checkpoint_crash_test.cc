// Issue 3 "Done when": a checkpoint writer killed with SIGKILL at random
// instants, many times, never leaves a checkpoint that --resume auto would
// pick but cannot load.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <random>

#include "worker/base/file_util.h"
#include "worker/checkpoint/checkpoint_reader.h"
#include "worker/formats/safetensors.h"

namespace lorad {
namespace {

namespace fs = std::filesystem;

pid_t Spawn(const fs::path& out, int count) {
  pid_t pid = ::fork();
  if (pid == 0) {
    std::string n = std::to_string(count);
    ::execl(CHECKPOINT_WRITER_CHILD, CHECKPOINT_WRITER_CHILD, out.c_str(), n.c_str(),
            static_cast<char*>(nullptr));
    ::_exit(127);
  }
  return pid;
}

int WaitExit(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return status;
}

// The newest valid checkpoint must also hold what its name says.
void ExpectContentMatchesStep(const CheckpointRef& ref) {
  auto f = SafetensorsFile::Open(ref.path / "adapter_model.safetensors");
  ASSERT_TRUE(f.ok()) << f.status();
  ASSERT_EQ((*f)->header().tensors.size(), 1u);
  auto data = (*f)->Data((*f)->header().tensors[0]);
  float v;
  std::memcpy(&v, data.data() + data.size() - 4, 4);
  EXPECT_EQ(v, static_cast<float>(ref.step)) << ref.path;
  auto state = ReadFileToString(ref.path / "training_state.json");
  ASSERT_TRUE(state.ok());
  EXPECT_EQ(*state, "{\"global_step\":" + std::to_string(ref.step) + "}");
}

// Wall time of one child run writing `count` checkpoints, in microseconds.
int64_t TimeChild(const fs::path& out, int count) {
  auto t0 = std::chrono::steady_clock::now();
  int status = WaitExit(Spawn(out, count));
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() -
                                                               t0)
      .count();
}

TEST(CheckpointCrashTest, KillAtRandomPointsNeverLeavesAnUnloadableNewest) {
  // A SIGKILLed process loses nothing that reached the page cache, so the
  // guarantee under test (rename order, manifest last) does not depend on
  // fsync; tmpfs keeps 200 kills fast.  fsync itself is exercised elsewhere.
  fs::path base = fs::is_directory("/dev/shm") ? fs::path("/dev/shm") : fs::temp_directory_path();
  fs::path out = base / ("lorad_crash_" + std::to_string(::getpid()));
  fs::remove_all(out);
  fs::create_directories(out);
  // Calibrate on this machine: process start-up alone, and start-up plus ten
  // checkpoints; kills then land uniformly from mid start-up to past the tenth.
  int64_t startup_us = TimeChild(out, 0);
  int64_t ten_us = TimeChild(out, 10);
  fs::remove_all(out);
  fs::create_directories(out);
  std::mt19937 rng(12345);
  // The kill delay is fault injection, not synchronisation.
  std::uniform_int_distribution<int64_t> delay_us(startup_us / 2, std::max(ten_us, startup_us + 1));
  constexpr int kKills = 200;
  int kills = 0;
  int killed_mid_write = 0;
  int64_t last_step = 0;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(90);
  for (; kills < kKills && std::chrono::steady_clock::now() < deadline; ++kills) {
    pid_t pid = Spawn(out, 1000000);
    ASSERT_GT(pid, 0);
    int64_t d = delay_us(rng);
    struct timespec ts = {static_cast<time_t>(d / 1000000), static_cast<long>(d % 1000000) * 1000};
    ::nanosleep(&ts, nullptr);
    ::kill(pid, SIGKILL);
    WaitExit(pid);
    int i = kills;

    std::string mark = "-" + std::to_string(pid) + "-";
    for (const auto& e : fs::directory_iterator(out)) {
      std::string name = e.path().filename().string();
      if (name.rfind(".tmp-checkpoint-", 0) == 0 && name.find(mark) != std::string::npos) {
        ++killed_mid_write;  // this child died inside a write or a deletion
        break;
      }
    }
    // Every checkpoint-N directory present verifies: renames are atomic and
    // deletions rename first, so no half-written or half-deleted one exists.
    auto all = ListCheckpoints(out);
    ASSERT_TRUE(all.ok());
    for (const CheckpointRef& c : *all) {
      auto v = VerifyCheckpointDir(c.path);
      ASSERT_TRUE(v.ok()) << "after kill " << i << ": " << v.status();
    }
    std::vector<std::string> warnings;
    auto newest = FindNewestValidCheckpoint(out, &warnings);
    ASSERT_TRUE(newest.ok());
    EXPECT_TRUE(warnings.empty()) << warnings[0];
    if (newest->has_value()) {
      ExpectContentMatchesStep(**newest);
      EXPECT_GE((*newest)->step, last_step);  // never goes back
      last_step = (*newest)->step;
    }
  }
  // A clean run afterwards resumes from the newest, cleans up stale temps and
  // writes the next checkpoint.
  pid_t pid = Spawn(out, 2);
  int status = WaitExit(pid);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  auto newest = FindNewestValidCheckpoint(out, nullptr);
  ASSERT_TRUE(newest.ok() && newest->has_value());
  EXPECT_EQ((*newest)->step, last_step + 2);
  ExpectContentMatchesStep(**newest);
  for (const auto& e : fs::directory_iterator(out)) {
    EXPECT_NE(e.path().filename().string().rfind(".tmp-checkpoint-", 0), 0u) << e.path();
  }
  auto all = ListCheckpoints(out);
  EXPECT_LE(all->size(), 3u);  // save_total_limit 3
  // Figures for the README's reliability table.
  ::testing::Test::RecordProperty("kills", kills);
  ::testing::Test::RecordProperty("killed_mid_write", killed_mid_write);
  ::testing::Test::RecordProperty("checkpoints_written", static_cast<int>(last_step + 2));
  std::printf("kills=%d killed_mid_write=%d checkpoints_written=%lld\n", kills, killed_mid_write,
              static_cast<long long>(last_step + 2));
  EXPECT_GE(kills, 50);            // enough kills even on a slow, loaded machine
  EXPECT_GT(killed_mid_write, 0);  // the kills did land inside writes
  EXPECT_GT(last_step, 0);         // and writes did complete between kills
  fs::remove_all(out);
}

}  // namespace
}  // namespace lorad
