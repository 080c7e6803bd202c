// Parses loractl's argv into a CommandLine: which verb, its arguments and flags.
// Everything is validated here (flag names, values, argument counts), so a
// usage error is reported before anything is sent to the server.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "client/connection_options.h"

namespace lorad {

enum class OutputFormat { kTable, kJson, kYaml, kName };

struct CommandLine {
  std::string verb;   // canonical name ("list" for "ls"); empty with help = overview
  bool help = false;  // print help for `verb` and exit 0
  std::vector<std::string> args;  // positional arguments
  ConnectionOptions connection;
  OutputFormat output = OutputFormat::kTable;
  bool no_headers = false;

  // submit
  std::string resume;  // "" | "auto" | absolute DIR
  std::vector<std::string> set_overrides;
  std::string name;
  int32_t priority = 0;
  std::string device = "any";  // any | cpu | cuda
  int32_t max_attempts = 0;
  double max_runtime_seconds = 0;
  std::string idempotency_key;
  bool dry_run = false;
  bool follow = false;  // submit, retry, logs, merge

  // merge
  std::string merge_out;       // absolute (relative to cwd as given)
  std::string merge_dtype;     // "" | bf16 | f16 | f32
  std::string max_shard_size;  // as given ("2GB"); checked here, parsed by lorad
  bool force = false;

  // list
  std::vector<std::string> states;  // lower case, validated
  bool watch = false;
  int32_t limit = 0;  // 0 = all

  int64_t since_seq = 0;                       // logs
  std::optional<double> wait_timeout_seconds;  // wait
  std::string cancel_reason;                   // cancel
  bool delete_files = false;                   // delete
  int plot_width = 0;                          // loss; 0 = terminal width
  int plot_height = 16;                        // loss
  std::string health_service;                  // health
};

/// Looks up an environment variable; nullopt when unset.
using EnvLookup = std::function<std::optional<std::string>(const std::string&)>;

/// Parses argv[1..] (without the program name).  `env` supplies LORAD_ADDRESS,
/// LORAD_TOKEN_FILE and LORAD_TLS_*; `cwd` makes --resume DIR and --out DIR
/// absolute.
/// Errors are INVALID_ARGUMENT with a message naming the flag or argument.
absl::StatusOr<CommandLine> ParseCommandLine(const std::vector<std::string>& args,
                                             const EnvLookup& env, const std::string& cwd);

/// Parses "90", "90s", "10m", "1h30m" into seconds; errors name `what`.
absl::StatusOr<double> ParseDurationSeconds(const std::string& text, const std::string& what);

}  // namespace lorad
