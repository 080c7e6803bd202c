#include "tests/client/subprocess.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>

namespace lorad::testing {
namespace {

using Clock = std::chrono::steady_clock;

template <typename TimePoint>
double SecondsLeft(TimePoint deadline) {
  return std::chrono::duration<double>(deadline - Clock::now()).count();
}

}  // namespace

Subprocess::~Subprocess() {
  if (running()) {
    kill(pid_, SIGKILL);
    waitpid(pid_, &status_, 0);
  }
  if (out_fd_ >= 0) close(out_fd_);
  if (err_fd_ >= 0) close(err_fd_);
}

bool Subprocess::Start(const std::vector<std::string>& argv,
                       const std::map<std::string, std::string>& env, const std::string& cwd) {
  int out_pipe[2], err_pipe[2];
  if (pipe2(out_pipe, O_CLOEXEC) != 0 || pipe2(err_pipe, O_CLOEXEC) != 0) return false;
  pid_ = fork();
  if (pid_ < 0) return false;
  if (pid_ == 0) {
    dup2(out_pipe[1], STDOUT_FILENO);
    dup2(err_pipe[1], STDERR_FILENO);
    const int devnull = open("/dev/null", O_RDONLY);
    dup2(devnull, STDIN_FILENO);
    // A child must not inherit the test's blocked signals (SIGINT tests).
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    for (const auto& [k, v] : env) setenv(k.c_str(), v.c_str(), 1);
    if (!cwd.empty() && chdir(cwd.c_str()) != 0) _exit(126);
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execv(args[0], args.data());
    _exit(127);
  }
  close(out_pipe[1]);
  close(err_pipe[1]);
  out_fd_ = out_pipe[0];
  err_fd_ = err_pipe[0];
  return true;
}

void Subprocess::Pump(int timeout_ms) {
  pollfd fds[2] = {{out_fd_, POLLIN, 0}, {err_fd_, POLLIN, 0}};
  if (poll(fds, 2, timeout_ms) <= 0) return;
  char buf[8192];
  for (int i = 0; i < 2; ++i) {
    if (!(fds[i].revents & (POLLIN | POLLHUP))) continue;
    const ssize_t n = read(fds[i].fd, buf, sizeof buf);
    if (n > 0) (i == 0 ? out_ : err_).append(buf, static_cast<size_t>(n));
  }
}

bool Subprocess::WaitForOutput(const std::string& text, double timeout_seconds, bool on_stderr) {
  const auto deadline = Clock::now() + std::chrono::duration<double>(timeout_seconds);
  while (true) {
    if ((on_stderr ? err_ : out_).find(text) != std::string::npos) return true;
    const double left = SecondsLeft(deadline);
    if (left <= 0) return false;
    if (!running()) {
      Pump(0);
      return (on_stderr ? err_ : out_).find(text) != std::string::npos;
    }
    Pump(static_cast<int>(std::min(left, 0.05) * 1000) + 1);
    if (waitpid(pid_, &status_, WNOHANG) == pid_) {
      exited_ = true;
      Pump(0);
    }
  }
}

int Subprocess::Wait(double timeout_seconds) {
  const auto deadline = Clock::now() + std::chrono::duration<double>(timeout_seconds);
  while (!exited_) {
    if (SecondsLeft(deadline) <= 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, &status_, 0);
      exited_ = true;
      return -1;
    }
    Pump(20);
    if (waitpid(pid_, &status_, WNOHANG) == pid_) exited_ = true;
  }
  // Drain what is left in the pipes.
  for (int i = 0; i < 1000; ++i) {
    const size_t before = out_.size() + err_.size();
    Pump(0);
    if (out_.size() + err_.size() == before) break;
  }
  if (WIFEXITED(status_)) return WEXITSTATUS(status_);
  if (WIFSIGNALED(status_)) return 128 + WTERMSIG(status_);
  return -1;
}

void Subprocess::Signal(int sig) {
  if (running()) kill(pid_, sig);
}

RunResult Run(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env,
              double timeout_seconds, const std::string& cwd) {
  Subprocess p;
  RunResult r;
  if (!p.Start(argv, env, cwd)) return r;
  r.exit_code = p.Wait(timeout_seconds);
  r.out = p.out();
  r.err = p.err();
  return r;
}

}  // namespace lorad::testing
