#include "server/process_launcher.h"

#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"

extern char** environ;

namespace lorad {

absl::StatusOr<int64_t> PosixProcessLauncher::Launch(const LaunchSpec& spec) {
  // Everything the child needs is built before fork: between fork and exec in
  // a multi-threaded process only async-signal-safe calls are allowed.
  std::vector<std::string> argv_s{spec.binary};
  argv_s.insert(argv_s.end(), spec.args.begin(), spec.args.end());
  std::vector<std::string> env_s;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string kv(*e);
    std::string key = kv.substr(0, kv.find('='));
    if (!spec.env.count(key)) env_s.push_back(std::move(kv));
  }
  for (const auto& [k, v] : spec.env) env_s.push_back(k + "=" + v);
  std::vector<char*> argv, envp;
  for (auto& s : argv_s) argv.push_back(s.data());
  argv.push_back(nullptr);
  for (auto& s : env_s) envp.push_back(s.data());
  envp.push_back(nullptr);
  pid_t parent = getpid();

  pid_t pid = fork();
  if (pid < 0) return absl::InternalError(absl::StrCat("fork: ", std::strerror(errno)));
  if (pid == 0) {
    // lorad blocks SIGTERM/SIGINT (it sigwaits for them) and ignores SIGPIPE;
    // both survive exec, so give the worker a clean slate or it could never
    // be told to checkpoint and stop.
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    signal(SIGPIPE, SIG_DFL);
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent) _exit(127);  // parent died before prctl
    // New process group: a terminal's Ctrl-C reaches lorad, which then drains
    // workers in order, rather than every worker at once.
    setpgid(0, 0);
    execve(argv[0], argv.data(), envp.data());
    _exit(127);
  }
  children_.push_back(pid);
  return static_cast<int64_t>(pid);
}

std::vector<std::pair<int64_t, int>> PosixProcessLauncher::Reap() {
  std::vector<std::pair<int64_t, int>> exited;
  for (auto it = children_.begin(); it != children_.end();) {
    int status = 0;
    pid_t r = waitpid(static_cast<pid_t>(*it), &status, WNOHANG);
    if (r == static_cast<pid_t>(*it) || (r < 0 && errno == ECHILD)) {
      exited.emplace_back(*it, status);
      it = children_.erase(it);
    } else {
      ++it;
    }
  }
  return exited;
}

void PosixProcessLauncher::Signal(int64_t pid, int signal) {
  if (std::find(children_.begin(), children_.end(), pid) != children_.end()) {
    kill(static_cast<pid_t>(pid), signal);
  }
}

}  // namespace lorad
