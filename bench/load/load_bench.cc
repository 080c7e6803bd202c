// Model load time from the page cache: the safetensors files are read once
// (so they are cached), then each repeat loads the model and runs one forward
// pass over every layer, so every weight has been touched; reported against
// the bytes of the weight files.  fp32 converts the (bf16) weights, bf16 maps
// them zero-copy where the file's dtype matches.
//   lorad_load_bench MODEL_DIR [--dtype bf16|fp32] [--repeat N] [--threads N]
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "worker/base/file_util.h"
#include "worker/formats/model_config.h"
#include "worker/model/causal_lm.h"

namespace {

double Seconds(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s MODEL_DIR [--dtype bf16|fp32] [--repeat N] [--threads N]\n",
                 argv[0]);
    return 2;
  }
  const std::filesystem::path dir = argv[1];
  std::string dtype = "bf16";
  int repeat = 3, threads = 0;
  for (int i = 2; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--dtype") dtype = argv[i + 1];
    else if (flag == "--repeat") repeat = std::atoi(argv[i + 1]);
    else if (flag == "--threads") threads = std::atoi(argv[i + 1]);
    else { std::fprintf(stderr, "unknown flag %s\n", flag.c_str()); return 2; }
  }
  if (threads > 0) torch::set_num_threads(threads);
  uint64_t bytes = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    if (e.path().extension() != ".safetensors") continue;
    auto text = lorad::ReadFileToString(e.path(), uint64_t{1} << 40);  // into the page cache
    if (!text.ok()) { std::fprintf(stderr, "%s\n", text.status().ToString().c_str()); return 1; }
    bytes += text->size();
  }
  auto config = lorad::LoadModelConfig(dir);
  if (!config.ok()) { std::fprintf(stderr, "%s\n", config.status().ToString().c_str()); return 1; }
  lorad::LoadOptions options;
  options.base_dtype = dtype == "fp32" ? torch::kFloat32 : torch::kBFloat16;
  torch::NoGradGuard no_grad;
  double best = 1e30, best_load = 1e30;
  for (int r = 0; r < repeat; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    auto model = lorad::LoadCausalLm(dir, *config, options);
    if (!model.ok()) { std::fprintf(stderr, "%s\n", model.status().ToString().c_str()); return 1; }
    const double load = Seconds(t0);
    lorad::ForwardInputs in;
    in.input_ids = torch::arange(16, torch::kLong).remainder(config->vocab_size).unsqueeze(0);
    auto hidden = (*model)->Forward(in);
    auto logits = torch::matmul(hidden, (*model)->lm_head.t());  // touches lm_head too
    (void)logits.sum().item<float>();
    best = std::min(best, Seconds(t0));
    best_load = std::min(best_load, load);
  }
  std::printf("{\"model\": \"%s\", \"dtype\": \"%s\", \"weight_bytes\": %llu, "
              "\"load_seconds\": %.4f, \"load_and_first_forward_seconds\": %.4f, \"gb_per_s\": %.2f}\n",
              dir.string().c_str(), dtype.c_str(), static_cast<unsigned long long>(bytes), best_load,
              best, static_cast<double>(bytes) / best / 1e9);
  return 0;
}
