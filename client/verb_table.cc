#include "client/verb_table.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "client/exit_code.h"

namespace lorad {
namespace {

FlagSpec OutputFlag() {
  return {"output", 'o', "FORMAT",
          "table (default), json or yaml; json prints JSON Lines (one object per line) for "
          "lists and streams, with the proto's field names and default values",
          "table json yaml"};
}
FlagSpec NoHeadersFlag() { return {"no-headers", 0, "", "omit the table's header line", ""}; }

std::vector<VerbSpec> BuildVerbs() {
  std::vector<VerbSpec> v;
  v.push_back({"submit",
               {},
               "CONFIG.yaml",
               1,
               1,
               "submit a training job (prints the job id on stdout)",
               "Checks the Axolotl-style YAML locally (syntax, types, values), then sends it as "
               "written to lorad with its folder, so relative paths resolve against the YAML's "
               "folder on the server, which checks the paths and devices.  Only the job id is "
               "printed on stdout (id=$(loractl submit job.yaml)); everything else goes to "
               "stderr.",
               {{"resume", 0, "DIR|auto",
                 "continue from a checkpoint or adapter directory, or 'auto' for the newest "
                 "checkpoint under output_dir",
                 "dir"},
                {"set", 0, "KEY=VALUE", "override a config key (repeatable)", ""},
                {"name", 0, "NAME", "a label for humans", ""},
                {"priority", 0, "P", "higher runs sooner (default 0)", ""},
                {"device", 0, "KIND", "any (default), cpu or cuda", "any cpu cuda"},
                {"max-attempts", 0, "N", "attempts after worker loss (default: server's)", ""},
                {"max-runtime", 0, "DURATION", "limit per attempt, e.g. 2h30m", ""},
                {"idempotency-key", 0, "KEY",
                 "a retried submit with the same key returns the same job", ""},
                {"dry-run", 0, "",
                 "validate and estimate (steps, checkpoint size) on the server; queue nothing",
                 ""},
                {"follow", 'f', "", "stream the job until it ends; exit 1 if it fails", ""},
                OutputFlag()},
               "file"});
  v.push_back({"list",
               {"ls"},
               "",
               0,
               0,
               "list jobs, newest first",
               "Lists jobs, newest first.",
               {{"state", 0, "STATE",
                 "only jobs in these states (repeatable or comma-separated): queued, running, "
                 "succeeded, failed, cancelled",
                 "queued running succeeded failed cancelled"},
                {"watch", 'w', "", "redraw the list every 2 seconds until interrupted", ""},
                {"limit", 0, "N", "at most N jobs (default: all)", ""},
                {"output", 'o', "FORMAT", "table (default), json, yaml or name (ids only)",
                 "table json yaml name"},
                NoHeadersFlag()},
               ""});
  v.push_back({"get",
               {"describe"},
               "JOB",
               1,
               1,
               "show one job",
               "Shows one job: its state, progress, spec and outcome.",
               {OutputFlag()},
               "job"});
  v.push_back({"cancel",
               {},
               "JOB...",
               1,
               -1,
               "cancel jobs (a running job checkpoints first)",
               "Cancels queued or running jobs.  A running job stops at its next step boundary "
               "and saves a checkpoint, so `loractl retry` can continue it.",
               {{"reason", 0, "TEXT", "recorded with the job", ""}},
               "job"});
  v.push_back({"delete",
               {"rm"},
               "JOB...",
               1,
               -1,
               "delete finished jobs",
               "Deletes finished jobs and their events from lorad's store.",
               {{"files", 0, "", "also remove each job's output_dir", ""}},
               "job"});
  v.push_back({"retry",
               {},
               "JOB",
               1,
               1,
               "run a failed or cancelled job again (prints its id)",
               "Queues a failed or cancelled job again; it resumes from its newest checkpoint.",
               {{"follow", 'f', "", "stream the job until it ends; exit 1 if it fails", ""}},
               "job"});
  v.push_back({"merge",
               {},
               "JOB",
               1,
               1,
               "merge a finished job's adapter into its base model (prints the merge job's id)",
               "Queues a merge job: lorad's worker merges the adapter of JOB (a SUCCEEDED "
               "training job) into the job's base model, W + scaling*B*A for every adapted "
               "layer, and writes a Hugging Face model directory to --out (a path on the server; "
               "relative to the current directory here): config.json, model.safetensors or "
               "shards with an index, tokenizer files.  The merge is a job like any other: "
               "list, logs, cancel, retry and wait work on it; its events report each shard "
               "written.  Only the merge job's id is printed on stdout.",
               {{"out", 0, "DIR", "the merged model's directory (new, or empty unless --force)",
                 "directory"},
                {"dtype", 0, "DTYPE", "dtype of the merged weights (default: the base model's)",
                 "bf16 f16 f32"},
                {"max-shard-size", 0, "SIZE",
                 "largest weight file, e.g. 2GB, 500MB, 512MiB (default 5GB, as transformers)",
                 ""},
                {"force", 0, "", "write into a non-empty --out (same-named files replaced)", ""},
                {"name", 0, "NAME", "a label for humans", ""},
                {"follow", 'f', "", "stream the merge until it ends; exit 1 if it fails", ""},
                OutputFlag()},
               "job"});
  v.push_back({"logs",
               {},
               "JOB",
               1,
               1,
               "print a job's events",
               "Prints a job's events (state changes, steps, evals, checkpoints, log lines).  "
               "With --follow on a terminal, steps update one live progress line; Ctrl-C "
               "detaches (exit 130) and never cancels the job.",
               {{"follow", 'f', "", "keep streaming until the job ends", ""},
                {"since-seq", 0, "N", "only events with a sequence number above N", ""},
                OutputFlag()},
               "job"});
  v.push_back({"checkpoints",
               {},
               "JOB",
               1,
               1,
               "list a job's checkpoints",
               "Lists the checkpoints a job saved, oldest first.",
               {OutputFlag(), NoHeadersFlag()},
               "job"});
  v.push_back({"workers",
               {},
               "",
               0,
               0,
               "list workers",
               "Lists the workers connected to lorad and what they run.",
               {OutputFlag(), NoHeadersFlag()},
               ""});
  v.push_back({"wait",
               {},
               "JOB",
               1,
               1,
               "wait until a job ends; the exit status is its outcome",
               "Waits until the job ends: exit 0 if it succeeded, 1 if it failed or was "
               "cancelled (or --timeout elapsed).",
               {{"timeout", 0, "DURATION", "give up after this long, e.g. 90s, 10m, 2h", ""},
                OutputFlag()},
               "job"});
  v.push_back({"loss",
               {},
               "JOB",
               1,
               1,
               "draw a job's loss curve in the terminal",
               "Draws the training loss per step (and the eval loss) with Unicode braille "
               "characters.",
               {{"width", 0, "COLUMNS", "plot width (default: the terminal's)", ""},
                {"height", 0, "ROWS", "plot height (default 16)", ""}},
               "job"});
  v.push_back({"health",
               {},
               "",
               0,
               0,
               "check that lorad is serving (grpc.health.v1)",
               "Asks lorad's standard gRPC health service; exit 0 when SERVING.",
               {{"service", 0, "NAME", "the service to check (default: the whole server)", ""},
                OutputFlag()},
               ""});
  v.push_back({"version",
               {},
               "",
               0,
               0,
               "print the client's and the server's versions",
               "Prints loractl's version and, when lorad can be reached, the server's.",
               {OutputFlag()},
               ""});
  v.push_back({"completion",
               {},
               "bash|zsh",
               1,
               1,
               "print a shell completion script",
               "Prints a completion script.  bash: source <(loractl completion bash).  "
               "zsh: loractl completion zsh > \"${fpath[1]}/_loractl\".",
               {},
               "shell"});
  v.push_back({"help", {}, "[VERB]", 0, 1, "show help for a verb", "Shows help.", {}, "verb"});
  return v;
}

std::vector<FlagSpec> BuildGlobalFlags() {
  return {
      {"address", 0, "ADDR",
       "lorad's address: unix:PATH, a socket path or HOST:PORT (env LORAD_ADDRESS; default "
       "./.lorad/lorad.sock if it exists, else /run/lorad/lorad.sock)",
       ""},
      {"tls", 0, "", "use TLS to a HOST:PORT address (system roots unless --tls-ca)", ""},
      {"tls-ca", 0, "FILE", "PEM roots to verify the server with; implies --tls (LORAD_TLS_CA)",
       "file"},
      {"tls-cert", 0, "FILE", "PEM client certificate (LORAD_TLS_CERT)", "file"},
      {"tls-key", 0, "FILE", "PEM client key (LORAD_TLS_KEY)", "file"},
      {"tls-server-name", 0, "NAME", "expect this name in the server's certificate", ""},
      {"token-file", 0, "FILE",
       "send the bearer token in FILE (LORAD_TOKEN_FILE); only over TLS or loopback", "file"},
      {"request-timeout", 0, "DURATION", "deadline of each request (default 30s)", ""},
      {"help", 'h', "", "show help", ""},
  };
}

// Word-wraps a paragraph at `width` columns (help texts are written as one line).
std::string Wrap(const std::string& text, size_t width) {
  std::string out, line;
  for (const absl::string_view word : absl::StrSplit(text, ' ', absl::SkipEmpty())) {
    if (!line.empty() && line.size() + 1 + word.size() > width) {
      absl::StrAppend(&out, line, "\n");
      line.clear();
    }
    absl::StrAppend(&line, line.empty() ? "" : " ", word);
  }
  return absl::StrCat(out, line);
}

void AppendFlags(const std::vector<FlagSpec>& flags, std::string& out) {
  for (const FlagSpec& f : flags) {
    std::string left = f.short_name ? absl::StrCat("  -", std::string(1, f.short_name), ", --")
                                    : std::string("      --");
    absl::StrAppend(&left, f.name);
    if (!f.value_name.empty()) absl::StrAppend(&left, " ", f.value_name);
    if (left.size() < 32) left.resize(32, ' ');
    else absl::StrAppend(&left, "\n", std::string(32, ' '));
    // Hanging indent keeps the help column readable in an 80-column terminal.
    absl::StrAppend(&out, left,
                    absl::StrReplaceAll(Wrap(f.help, 48), {{"\n", "\n" + std::string(32, ' ')}}),
                    "\n");
  }
}

}  // namespace

const std::vector<VerbSpec>& Verbs() {
  static const auto* verbs = new std::vector<VerbSpec>(BuildVerbs());
  return *verbs;
}

const std::vector<FlagSpec>& GlobalFlags() {
  static const auto* flags = new std::vector<FlagSpec>(BuildGlobalFlags());
  return *flags;
}

const VerbSpec* FindVerb(const std::string& name) {
  for (const VerbSpec& v : Verbs()) {
    if (v.name == name ||
        std::find(v.aliases.begin(), v.aliases.end(), name) != v.aliases.end()) {
      return &v;
    }
  }
  return nullptr;
}

std::string HelpText(const std::string& verb) {
  std::string out;
  const VerbSpec* spec = verb.empty() ? nullptr : FindVerb(verb);
  if (spec == nullptr) {
    out = "loractl: the command-line client of lorad, the LoRA fine-tuning service.\n\n"
          "Usage: loractl VERB [ARGS] [flags]\n\nVerbs:\n";
    for (const VerbSpec& v : Verbs()) {
      std::string left = absl::StrCat("  ", v.name);
      if (!v.aliases.empty()) absl::StrAppend(&left, " (", absl::StrJoin(v.aliases, ", "), ")");
      left.resize(std::max<size_t>(left.size() + 1, 24), ' ');
      absl::StrAppend(&out, left, v.summary, "\n");
    }
    absl::StrAppend(&out, "\nRun 'loractl VERB --help' for a verb's flags.\n\nConnection flags "
                          "(every verb):\n");
  } else {
    absl::StrAppend(&out, "Usage: loractl ", spec->name);
    if (!spec->args_usage.empty()) absl::StrAppend(&out, " ", spec->args_usage);
    absl::StrAppend(&out, " [flags]\n");
    if (!spec->aliases.empty()) {
      absl::StrAppend(&out, "Aliases: ", absl::StrJoin(spec->aliases, ", "), "\n");
    }
    absl::StrAppend(&out, "\n", Wrap(spec->description, 80), "\n\n");
    if (!spec->flags.empty()) {
      absl::StrAppend(&out, "Flags:\n");
      AppendFlags(spec->flags, out);
      absl::StrAppend(&out, "\n");
    }
    absl::StrAppend(&out, "Connection flags:\n");
  }
  AppendFlags(GlobalFlags(), out);
  absl::StrAppend(&out, "\n", ExitCodeHelp());
  return out;
}

}  // namespace lorad
