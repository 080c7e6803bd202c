// Runs loractl / lorad as real child processes in tests: pipes for stdout and
// stderr, waiting on output or exit with deadlines (never fixed sleeps).
#pragma once

#include <sys/types.h>

#include <map>
#include <string>
#include <vector>

namespace lorad::testing {

class Subprocess {
 public:
  Subprocess() = default;
  ~Subprocess();  // kills the child if it still runs
  Subprocess(const Subprocess&) = delete;
  Subprocess& operator=(const Subprocess&) = delete;

  /// Starts argv[0] (a path) with `env` added to this process's environment.
  bool Start(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env = {},
             const std::string& cwd = "");

  /// Reads output until `text` appears on stdout (or stderr with `on_stderr`)
  /// or the deadline passes; returns whether it appeared.
  bool WaitForOutput(const std::string& text, double timeout_seconds, bool on_stderr = false);

  /// Waits for exit; returns the exit status (128+N for signal N), or -1 on
  /// timeout (the child is then killed).
  int Wait(double timeout_seconds);

  void Signal(int sig);
  pid_t pid() const { return pid_; }
  bool running() const { return pid_ > 0 && !exited_; }
  const std::string& out() const { return out_; }
  const std::string& err() const { return err_; }

 private:
  void Pump(int timeout_ms);  // reads what is available
  pid_t pid_ = -1;
  int out_fd_ = -1, err_fd_ = -1;
  bool exited_ = false;
  int status_ = 0;
  std::string out_, err_;
};

struct RunResult {
  int exit_code = -1;
  std::string out, err;
};

/// Runs to completion (killed after `timeout_seconds`: exit_code -1).
RunResult Run(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env = {},
              double timeout_seconds = 60, const std::string& cwd = "");

}  // namespace lorad::testing
