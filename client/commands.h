// Runs one parsed loractl command against lorad.  Every verb returns an
// absl::Status; main turns it into the message and exit status (exit_code.h).
#pragma once

#include <ostream>
#include <string>

#include "absl/status/status.h"
#include "client/command_line.h"

namespace lorad {

class LoradClient;

/// Where a command writes and what it writes to.
struct CommandIo {
  std::ostream& out;  // data: ids, tables, JSON
  std::ostream& err;  // progress, warnings, hints
  bool out_is_tty = false;
  bool err_is_tty = false;
  int out_columns = 80;
  int err_columns = 80;
  std::string cwd;
};

/// Runs a verb that needs no server (help, completion) or connects and runs it.
absl::Status RunCommand(const CommandLine& cl, CommandIo& io);

// The verbs, one function each (commands.cc, job_commands.cc).
absl::Status RunList(LoradClient& client, const CommandLine& cl, CommandIo& io);
absl::Status RunGet(LoradClient& client, const CommandLine& cl, CommandIo& io);
absl::Status RunCancel(LoradClient& client, const CommandLine& cl, CommandIo& io);
absl::Status RunDelete(LoradClient& client, const CommandLine& cl, CommandIo& io);
absl::Status RunCheckpoints(LoradClient& client, const CommandLine& cl, CommandIo& io);
absl::Status RunWorkers(LoradClient& client, const CommandLine& cl, CommandIo& io);
absl::Status RunHealth(LoradClient& client, const CommandLine& cl, CommandIo& io);
absl::Status RunLoss(LoradClient& client, const CommandLine& cl, CommandIo& io);
absl::Status RunSubmit(LoradClient& client, const CommandLine& cl, CommandIo& io);
absl::Status RunMerge(LoradClient& client, const CommandLine& cl, CommandIo& io);
absl::Status RunRetry(LoradClient& client, const CommandLine& cl, CommandIo& io);
absl::Status RunLogs(LoradClient& client, const CommandLine& cl, CommandIo& io);
absl::Status RunWait(LoradClient& client, const CommandLine& cl, CommandIo& io);

/// The client's version ("0.1.0").
std::string ClientVersion();

}  // namespace lorad
