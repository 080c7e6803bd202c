// Subcommands of lorad-worker.  Each returns the process exit code
// (0 ok, 1 failed, 2 bad config/input, 130 interrupted).
#pragma once

namespace lorad {

int RunCommand(int argc, char** argv);        // run_command.cc
int InitModelCommand(int argc, char** argv);  // init_model_command.cc
int TokenizeCommand(int argc, char** argv);   // tokenize_command.cc
int PreprocessCommand(int argc, char** argv); // preprocess_command.cc
int VersionCommand(int argc, char** argv);    // version_command.cc
int GenerateCommand(int argc, char** argv);   // generate_command.cc
int MergeCommand(int argc, char** argv);      // merge_command.cc
int ServeCommand(int argc, char** argv);      // worker/serve/serve_command.cc (service builds)

}  // namespace lorad
