// loractl: the command-line client of lorad.
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <iostream>

#include "client/command_line.h"
#include "client/commands.h"
#include "client/exit_code.h"
#include "client/interrupt_handler.h"
#include "client/terminal.h"

int main(int argc, char** argv) {
  // Before gRPC creates any thread, so that every thread inherits the mask.
  lorad::InterruptHandler::Install();

  std::error_code ec;
  const std::filesystem::path cwd_path = std::filesystem::current_path(ec);
  const std::string cwd = ec ? std::string("/") : cwd_path.string();
  std::vector<std::string> args(argv + 1, argv + argc);
  auto env = [](const std::string& name) -> std::optional<std::string> {
    const char* v = std::getenv(name.c_str());
    if (v == nullptr) return std::nullopt;
    return std::string(v);
  };
  absl::StatusOr<lorad::CommandLine> cl = lorad::ParseCommandLine(args, env, cwd);
  if (!cl.ok()) {
    std::cerr << "loractl: " << cl.status().message() << '\n';
    return static_cast<int>(lorad::ExitCode::kUsage);
  }
  lorad::CommandIo io{std::cout,
                     std::cerr,
                     lorad::IsTerminal(STDOUT_FILENO),
                     lorad::IsTerminal(STDERR_FILENO),
                     lorad::TerminalColumns(STDOUT_FILENO),
                     lorad::TerminalColumns(STDERR_FILENO),
                     cwd};
  const absl::Status status = lorad::RunCommand(*cl, io);
  std::cout.flush();
  if (!status.ok()) std::cerr << "loractl: " << status.message() << '\n';
  return static_cast<int>(lorad::ExitCodeForStatus(status));
}
