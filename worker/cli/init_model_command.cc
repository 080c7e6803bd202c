// lorad-worker init-model --preset tiny|bench-100m --out DIR [--seed S] [--force]
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "worker/cli/commands.h"
#include "worker/model/init_model.h"

namespace lorad {
namespace {

void InitModelUsage(FILE* out) {
  std::fprintf(out,
               "usage: lorad-worker init-model --preset tiny|bench-100m --out DIR [--seed S] "
               "[--force]\n"
               "  tiny:       ~280k parameters, F32 (hidden 64, 4 layers, 4 heads / 2 KV heads)\n"
               "  bench-100m: ~100M parameters, BF16 (hidden 768, 14 layers, 12 heads)\n"
               "  Writes config.json, model.safetensors, tokenizer.json, tokenizer_config.json;\n"
               "  byte-identical for the same --seed (default 0).\n");
}

}  // namespace

int InitModelCommand(int argc, char** argv) {
  InitModelOptions options;
  bool have_preset = false;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    auto value = [&](const char* flag) -> const char* {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "init-model: %s needs a value\n", flag);
        return nullptr;
      }
      return argv[++i];
    };
    if (arg == "--preset") {
      const char* v = value("--preset");
      if (!v) return 2;
      options.preset = v;
      have_preset = true;
    } else if (arg == "--out") {
      const char* v = value("--out");
      if (!v) return 2;
      options.out = v;
    } else if (arg == "--seed") {
      const char* v = value("--seed");
      if (!v) return 2;
      char* end = nullptr;
      options.seed = std::strtoull(v, &end, 10);
      if (end == v || *end != '\0' || std::string_view(v).front() == '-') {
        std::fprintf(stderr, "init-model: --seed expects a non-negative integer, got '%s'\n", v);
        return 2;
      }
    } else if (arg == "--force") {
      options.force = true;
    } else if (arg == "--help" || arg == "-h") {
      InitModelUsage(stdout);
      return 0;
    } else {
      std::fprintf(stderr, "init-model: unknown argument '%s'\n", argv[i]);
      InitModelUsage(stderr);
      return 2;
    }
  }
  if (!have_preset || options.out.empty()) {
    InitModelUsage(stderr);
    return 2;
  }
  absl::Status status = InitModel(options);
  if (!status.ok()) {
    std::fprintf(stderr, "init-model: %s\n", std::string(status.message()).c_str());
    return status.code() == absl::StatusCode::kInternal ||
                   status.code() == absl::StatusCode::kDataLoss
               ? 1
               : 2;
  }
  std::fprintf(stderr, "init-model: wrote %s model to %s\n", options.preset.c_str(),
               options.out.c_str());
  return 0;
}

}  // namespace lorad
