// Where a training step's time goes (issue 10): loads a model directory, adds
// LoRA on every linear (r 16, alpha 32, as bench/train/run.sh), and runs
// training steps on a fixed random batch through the trainer's own code
// (ForwardBackwardStep, ClipGradNorm, AdamW).  Prints the step time and, with
// --profile, LibTorch's autograd profiler aggregated per op (self time, % of
// the profiled steps), the table bench/README.md quotes.
//
//   step_profile MODEL_DIR [--seq 512] [--batch 1] [--bf16] [--threads 2]
//                [--attention eager|blockwise] [--steps 4] [--warmup 1] [--profile] [--top 30]
//   step_profile --attention-sweep [--bf16] [--threads 2]   # attention alone, fwd+bwd
#include <torch/csrc/autograd/profiler_legacy.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

#include "worker/formats/model_config.h"
#include "worker/model/attention.h"
#include "worker/model/blockwise_attention.h"
#include "worker/model/causal_lm.h"
#include "worker/model/torch_compat.h"
#include "worker/train/adamw.h"
#include "worker/train/train_step.h"

namespace {

using Clock = std::chrono::steady_clock;
namespace prof = torch::autograd::profiler;

struct Args {
  std::string model;
  int64_t seq = 512, batch = 1, steps = 4, warmup = 1, top = 30, threads = 2;
  int64_t block_q = 0, block_k = 0;
  bool bf16 = false, profile = false, sweep = false;
  std::string attention = "eager";
};

Args Parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    std::string s = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s needs a value\n", s.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (s == "--seq") a.seq = std::stoll(next());
    else if (s == "--batch") a.batch = std::stoll(next());
    else if (s == "--steps") a.steps = std::stoll(next());
    else if (s == "--warmup") a.warmup = std::stoll(next());
    else if (s == "--top") a.top = std::stoll(next());
    else if (s == "--threads") a.threads = std::stoll(next());
    else if (s == "--block-q") a.block_q = std::stoll(next());
    else if (s == "--block-k") a.block_k = std::stoll(next());
    else if (s == "--bf16") a.bf16 = true;
    else if (s == "--profile") a.profile = true;
    else if (s == "--attention-sweep") a.sweep = true;
    else if (s == "--attention") a.attention = next();
    else if (!s.empty() && s[0] != '-') a.model = s;
    else {
      std::fprintf(stderr, "unknown argument %s\n", s.c_str());
      std::exit(2);
    }
  }
  if (a.model.empty() && !a.sweep) {
    std::fprintf(stderr, "usage: step_profile MODEL_DIR [options] | --attention-sweep\n");
    std::exit(2);
  }
  return a;
}

double Since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

// Self time per op name from the legacy profiler's push/pop events (per thread:
// nested ops' time is subtracted from their parent's).
void PrintProfile(const prof::thread_event_lists& lists, int64_t top) {
  struct Agg {
    double self_us = 0, total_us = 0;
    int64_t calls = 0;
  };
  std::map<std::string, Agg> by_name;
  double all_self = 0;
  for (const auto& list : lists) {
    struct Open {
      const prof::LegacyEvent* ev;
      double child_us;
    };
    std::vector<Open> stack;
    for (const prof::LegacyEvent& e : list) {
      if (e.kindStr() == "push") {
        stack.push_back({&e, 0});
      } else if (e.kindStr() == "pop" && !stack.empty()) {
        Open o = stack.back();
        stack.pop_back();
        const double total = o.ev->cpuElapsedUs(e);
        std::string key = o.ev->name();
        // Copies are attributed to the op that asked for them and their shape:
        // "aten::copy_" alone cannot say which cast to remove.
        if (key == "aten::copy_") {
          for (auto it = stack.rbegin(); it != stack.rend(); ++it) {
            const std::string parent = it->ev->name();
            if (parent.rfind("aten::to", 0) == 0 || parent == "aten::_to_copy" ||
                parent == "aten::contiguous" || parent == "aten::clone" ||
                parent == "aten::reshape") {
              continue;
            }
            key += " <- " + parent;
            break;
          }
          const auto& shapes = o.ev->shapes();
          if (!shapes.empty() && !shapes[0].empty()) {
            key += " [";
            for (size_t d = 0; d < shapes[0].size(); ++d) key += (d ? "x" : "") + std::to_string(shapes[0][d]);
            key += "]";
          }
        }
        Agg& g = by_name[key];
        g.total_us += total;
        g.self_us += total - o.child_us;
        g.calls += 1;
        all_self += total - o.child_us;
        if (!stack.empty()) stack.back().child_us += total;
      }
    }
  }
  std::vector<std::pair<std::string, Agg>> rows(by_name.begin(), by_name.end());
  std::sort(rows.begin(), rows.end(),
            [](const auto& x, const auto& y) { return x.second.self_us > y.second.self_us; });
  std::printf("%-72s %10s %7s %10s %8s\n", "op", "self ms", "self %", "total ms", "calls");
  for (int64_t i = 0; i < std::min<int64_t>(top, static_cast<int64_t>(rows.size())); ++i) {
    const auto& [name, g] = rows[i];
    std::printf("%-72s %10.1f %6.1f%% %10.1f %8lld\n", name.substr(0, 72).c_str(), g.self_us / 1e3,
                100 * g.self_us / all_self, g.total_us / 1e3, static_cast<long long>(g.calls));
  }
  std::printf("all ops, self: %.1f ms\n", all_self / 1e3);
}

int Train(const Args& a) {
  auto config = lorad::LoadModelConfig(a.model);
  if (!config.ok()) {
    std::fprintf(stderr, "%s\n", config.status().ToString().c_str());
    return 1;
  }
  lorad::LoadOptions load;
  load.base_dtype = a.bf16 ? torch::kBFloat16 : torch::kFloat32;
  load.attention = a.attention == "blockwise" ? lorad::AttentionBackend::kBlockwise
                                              : lorad::AttentionBackend::kEager;
  auto model = lorad::LoadCausalLm(a.model, *config, load);
  if (!model.ok()) {
    std::fprintf(stderr, "%s\n", model.status().ToString().c_str());
    return 1;
  }
  lorad::LoraSettings lora;
  lora.r = 16;
  lora.alpha = 32;
  lora.target_modules = {"all-linear"};
  if (auto s = (*model)->AddLora(lora, 42); !s.ok()) {
    std::fprintf(stderr, "%s\n", s.ToString().c_str());
    return 1;
  }
  lorad::AdamW optimizer((*model)->LoraParameters(), lorad::AdamWOptions{});
  std::vector<torch::Tensor> params;
  for (auto& [name, p] : (*model)->LoraParameters()) params.push_back(p);
  lorad::Batch batch;
  batch.rows = a.batch;
  batch.cols = a.seq;
  torch::Generator gen = lorad::torch_compat::MakeCpuGenerator(1);
  torch::Tensor ids = torch::randint(3, config->vocab_size, {a.batch, a.seq}, gen, torch::kInt64);
  batch.input_ids.assign(ids.data_ptr<int64_t>(), ids.data_ptr<int64_t>() + ids.numel());
  batch.labels = batch.input_ids;
  batch.tokens = a.batch * a.seq;
  batch.trained_tokens = a.batch * (a.seq - 1);
  (*model)->train();
  auto step = [&]() {
    optimizer.ZeroGrad();
    lorad::ForwardBackwardStep(*model, {batch}, false, torch::kCPU);
    lorad::ClipGradNorm(params, 1.0);
    optimizer.Step(1e-4);
  };
  for (int64_t i = 0; i < a.warmup; ++i) step();
  std::unique_ptr<prof::thread_event_lists> lists;
  if (a.profile) {
    prof::enableProfilerLegacy(prof::ProfilerConfig(prof::ProfilerState::CPU, /*report_input_shapes=*/true));
  }
  const auto t0 = Clock::now();
  for (int64_t i = 0; i < a.steps; ++i) step();
  const double seconds = Since(t0);
  if (a.profile) lists = std::make_unique<prof::thread_event_lists>(prof::disableProfilerLegacy());
  std::printf("%s %s seq %lld batch %lld attention %s: %.3f s/step, %.1f tokens/s%s\n",
              a.model.c_str(), a.bf16 ? "bf16" : "fp32", static_cast<long long>(a.seq),
              static_cast<long long>(a.batch), a.attention.c_str(), seconds / a.steps,
              a.batch * a.seq * a.steps / seconds, a.profile ? " (profiled)" : "");
  if (lists) PrintProfile(*lists, a.top);
  return 0;
}

// Attention alone at bench-100m's shape (12 heads × 64), forward + backward.
int Sweep(const Args& a) {
  const auto dtype = a.bf16 ? torch::kBFloat16 : torch::kFloat32;
  torch::Generator gen = lorad::torch_compat::MakeCpuGenerator(2);
  std::printf("%6s %10s %12s %12s\n", "T", "eager ms", "blockwise ms", "ratio");
  for (int64_t t : {128, 256, 512, 1024, 2048}) {
    torch::Tensor q = torch::randn({a.batch, 12, t, 64}, gen).to(dtype).requires_grad_(true);
    torch::Tensor k = torch::randn({a.batch, 12, t, 64}, gen).to(dtype).requires_grad_(true);
    torch::Tensor v = torch::randn({a.batch, 12, t, 64}, gen).to(dtype).requires_grad_(true);
    torch::Tensor dout = torch::randn({a.batch, 12, t, 64}, gen).to(dtype);
    double ms[2] = {0, 0};
    for (int backend = 0; backend < 2; ++backend) {
      lorad::AttentionMask mask;
      if (backend == 0) lorad::PrepareAttentionMask(mask, t, t, torch::kCPU);
      auto once = [&]() {
        torch::Tensor out =
            backend == 0 ? lorad::Attend(q, k, v, mask, 0.125, lorad::AttentionBackend::kEager)
                         : lorad::BlockwiseAttention(q, k, v, mask, 0.125, a.block_q, a.block_k);
        torch::autograd::grad({out}, {q, k, v}, {dout});
      };
      once();
      const int reps = t <= 512 ? 5 : 2;
      const auto t0 = Clock::now();
      for (int r = 0; r < reps; ++r) once();
      ms[backend] = 1e3 * Since(t0) / reps;
    }
    std::printf("%6lld %10.1f %12.1f %12.2f\n", static_cast<long long>(t), ms[0], ms[1],
                ms[1] / ms[0]);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const Args a = Parse(argc, argv);
  at::set_num_threads(static_cast<int>(a.threads));
  return a.sweep ? Sweep(a) : Train(a);
}
