// lorad-worker: the worker process.  Subcommands live in their own files.
#include <cstdio>
#include <cstring>
#include <string_view>

#include "worker/cli/commands.h"
#include "worker/cli/openmp_wait_policy.h"

namespace {

void PrintUsage(FILE* out) {
  std::fprintf(out,
               "usage: lorad-worker <command> [options]\n\n"
               "commands:\n"
               "  run CONFIG.yaml [--set k=v]... [--resume DIR|auto] [--dry-run] [--overwrite]\n"
               "                  [--stop-after N] [--device auto|cpu|cuda:N] [--threads N]\n"
               "  init-model --preset tiny|bench-100m --out DIR [--seed S]\n"
               "  tokenize MODEL_DIR [--no-special]      (stdin → JSON array of ids)\n"
               "  preprocess CONFIG.yaml [--show N] [-o json] [--set k=v]...  (tokenize the data, show rows)\n"
               "  generate MODEL_DIR [--adapter DIR] (--prompt TEXT | --prompts FILE.jsonl)\n"
               "                  [--chat-template NAME] [--max-new-tokens N] [--temperature T]\n"
               "                  [--top-p P] [--top-k K] [--seed S] [--device D] [-o json]\n"
               "  merge MODEL_DIR --adapter DIR --out DIR [--dtype bf16|f16|f32]\n"
               "                  [--max-shard-size 2GB] [--force]   (adapter into the base weights)\n"
#ifdef LORAD_WITH_SERVE
               "  serve --scheduler ADDR [--token-file F] (run jobs for lorad)\n"
#endif
               "  version\n\n"
               "exit codes: 0 ok, 1 failed, 2 bad config or input, 130 interrupted\n");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    PrintUsage(stderr);
    return 2;
  }
  std::string_view cmd = argv[1];
  // Commands that compute (or report how they would) need the policy in place.
  if (cmd == "run" || cmd == "serve" || cmd == "generate" || cmd == "merge" ||
      cmd == "version" || cmd == "--version") {
    lorad::EnsurePassiveOpenMpWait(argv);
  }
  // Subcommands get argv starting at their own name.
  if (cmd == "run") return lorad::RunCommand(argc - 1, argv + 1);
  if (cmd == "init-model") return lorad::InitModelCommand(argc - 1, argv + 1);
  if (cmd == "tokenize") return lorad::TokenizeCommand(argc - 1, argv + 1);
  if (cmd == "preprocess") return lorad::PreprocessCommand(argc - 1, argv + 1);
  if (cmd == "generate") return lorad::GenerateCommand(argc - 1, argv + 1);
  if (cmd == "merge") return lorad::MergeCommand(argc - 1, argv + 1);
#ifdef LORAD_WITH_SERVE
  if (cmd == "serve") return lorad::ServeCommand(argc - 1, argv + 1);
#endif
  if (cmd == "version" || cmd == "--version") return lorad::VersionCommand(argc - 1, argv + 1);
  if (cmd == "help" || cmd == "--help" || cmd == "-h") {
    PrintUsage(stdout);
    return 0;
  }
  std::fprintf(stderr, "lorad-worker: unknown command '%s'\n", argv[1]);
  PrintUsage(stderr);
  return 2;
}
