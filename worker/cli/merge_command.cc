// `lorad-worker merge MODEL_DIR --adapter DIR --out DIR [--dtype bf16|f16|f32]
// [--max-shard-size SIZE] [--force]`: the adapter merged into the base model's
// weights, written as a Hugging Face model directory.  Progress on stderr, a
// JSON summary on stdout.
#include <cstdio>
#include <string>
#include <string_view>

#include "nlohmann/json.hpp"
#include "spdlog/spdlog.h"
#include "worker/base/stderr_logging.h"
#include "worker/cli/cli_util.h"
#include "worker/cli/commands.h"
#include "worker/model/merge_adapter.h"

namespace lorad {
namespace {

void PrintMergeUsage(FILE* out) {
  std::fprintf(
      out,
      "usage: lorad-worker merge MODEL_DIR --adapter DIR --out DIR [options]\n"
      "  --adapter DIR          the PEFT LoRA adapter to merge\n"
      "  --out DIR              the merged model (a new or empty directory)\n"
      "  --dtype bf16|f16|f32   dtype of the merged weights (default: the base model's)\n"
      "  --max-shard-size SIZE  e.g. 2GB, 500MB, 512MiB (default 5GB, as transformers);\n"
      "                         larger models get model-0000N-of-0000K.safetensors + index\n"
      "  --force                write into a non-empty --out (same-named files replaced)\n"
      "W' = W + scaling·B·A for every adapted layer (scaling = alpha/r, alpha/sqrt(r)\n"
      "with rsLoRA), computed in fp32 one tensor at a time; config.json, tokenizer\n"
      "files and generation_config.json are copied.\n"
      "exit codes: 0 ok, 1 merge failed, 2 bad input\n");
}

}  // namespace

int MergeCommand(int argc, char** argv) {
  LogToStderr();
  MergeOptions options;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    auto value = [&]() -> const char* {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "lorad-worker merge: %s needs a value\n", argv[i]);
        return nullptr;
      }
      return argv[++i];
    };
    const char* v = nullptr;
    if (arg == "-h" || arg == "--help") {
      PrintMergeUsage(stdout);
      return 0;
    } else if (arg == "--adapter") {
      if (!(v = value())) return 2;
      options.adapter_dir = v;
    } else if (arg == "--out") {
      if (!(v = value())) return 2;
      options.out_dir = v;
    } else if (arg == "--dtype") {
      if (!(v = value())) return 2;
      const std::string_view d = v;
      if (d == "bf16" || d == "bfloat16") {
        options.dtype = DType::kBF16;
      } else if (d == "f16" || d == "fp16" || d == "float16") {
        options.dtype = DType::kF16;
      } else if (d == "f32" || d == "fp32" || d == "float32") {
        options.dtype = DType::kF32;
      } else {
        std::fprintf(stderr, "lorad-worker merge: --dtype wants bf16, f16 or f32, got '%s'\n", v);
        return 2;
      }
    } else if (arg == "--max-shard-size") {
      if (!(v = value())) return 2;
      auto size = ParseByteSize(v);
      if (!size.ok()) {
        std::fprintf(stderr, "lorad-worker merge: --max-shard-size: %s\n",
                     std::string(size.status().message()).c_str());
        return 2;
      }
      options.max_shard_bytes = *size;
    } else if (arg == "--force") {
      options.force = true;
    } else if (!arg.empty() && arg[0] == '-') {
      std::fprintf(stderr, "lorad-worker merge: unknown option '%s'\n", argv[i]);
      PrintMergeUsage(stderr);
      return 2;
    } else if (options.model_dir.empty()) {
      options.model_dir = std::string(arg);
    } else {
      std::fprintf(stderr, "lorad-worker merge: unexpected argument '%s'\n", argv[i]);
      return 2;
    }
  }
  if (options.model_dir.empty() || options.adapter_dir.empty() || options.out_dir.empty()) {
    std::fprintf(stderr,
                 "lorad-worker merge: MODEL_DIR, --adapter DIR and --out DIR are required\n");
    PrintMergeUsage(stderr);
    return 2;
  }
  auto report = MergeAdapter(options, [](const MergeProgress& p) {
    spdlog::info("shard {}/{}: {} ({:.1f} MB)", p.shard, p.num_shards, p.file.string(),
                 static_cast<double>(p.bytes) / 1e6);
  });
  if (!report.ok()) {
    spdlog::error("{}", std::string(report.status().message()));
    return ExitCodeFor(report.status());
  }
  spdlog::info("merged {} adapted layer(s) into {} tensor(s), {} → {}", report->merged_modules,
               report->tensors, options.model_dir.string(), options.out_dir.string());
  const nlohmann::json summary = {{"type", "merged"},
                                  {"out", options.out_dir.string()},
                                  {"dtype", std::string(DTypeName(report->dtype))},
                                  {"merged_modules", report->merged_modules},
                                  {"tensors", report->tensors},
                                  {"total_bytes", report->total_bytes},
                                  {"weight_files", report->weight_files},
                                  {"copied_files", report->copied_files}};
  std::puts(summary.dump().c_str());
  std::fflush(stdout);
  return 0;
}

}  // namespace lorad
