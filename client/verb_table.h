// The verbs and flags of loractl, in one table: the parser, `--help` and the
// shell completion scripts are all generated from it, so they cannot drift.
#pragma once

#include <string>
#include <vector>

namespace lorad {

struct FlagSpec {
  std::string name;        // long name without dashes, e.g. "output"
  char short_name = 0;     // e.g. 'o'; 0 = none
  std::string value_name;  // e.g. "FORMAT"; empty = boolean flag
  std::string help;
  /// Completion hint for the value: "file", "dir" (a directory or "auto"),
  /// "directory", or a space-separated word list.
  std::string complete;
};

struct VerbSpec {
  std::string name;
  std::vector<std::string> aliases;
  std::string args_usage;  // e.g. "JOB..." (for the usage line)
  int min_args = 0;
  int max_args = 0;        // -1 = unbounded
  std::string summary;     // one line for the overview
  std::string description; // paragraph for `loractl VERB --help`
  std::vector<FlagSpec> flags;  // verb-specific flags (global ones are separate)
  /// Positional completion: "job", "file", "shell", "verb" or "" (none).
  std::string complete_args;
};

/// Every verb, in the order `loractl --help` lists them.
const std::vector<VerbSpec>& Verbs();

/// Flags every verb accepts (connection options, --help).
const std::vector<FlagSpec>& GlobalFlags();

/// The verb called `name` or one of its aliases; nullptr if none.
const VerbSpec* FindVerb(const std::string& name);

/// `loractl --help` (empty verb) or `loractl VERB --help`.
std::string HelpText(const std::string& verb);

}  // namespace lorad
