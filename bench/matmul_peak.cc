// The machine's own matrix-multiply peak, fp32 and bf16, measured with the
// same LibTorch and thread count as `lorad-worker run`: the denominator of
// model FLOP utilisation.  Prints one JSON object.
#include <sched.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include <torch/torch.h>

namespace {

double BestFlops(torch::Dtype dtype, int64_t n, int reps) {
  auto a = torch::randn({n, n}).to(dtype);
  auto b = torch::randn({n, n}).to(dtype);
  auto c = torch::matmul(a, b);  // warm-up (allocations, packing buffers)
  double best = 0;
  for (int i = 0; i < reps; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    c = torch::matmul(a, b);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    best = std::max(best, 2.0 * static_cast<double>(n) * n * n / s);
  }
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  int threads = 0;
  int64_t n = 2048;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--threads") threads = std::atoi(argv[i + 1]);
    if (flag == "--size") n = std::atoll(argv[i + 1]);
  }
  if (threads <= 0) {
    cpu_set_t set;
    CPU_ZERO(&set);
    threads = sched_getaffinity(0, sizeof(set), &set) == 0 ? CPU_COUNT(&set) : 1;
  }
  at::set_num_threads(threads);
  torch::NoGradGuard no_grad;
  const double fp32 = BestFlops(torch::kFloat32, n, 5);
  const double bf16 = BestFlops(torch::kBFloat16, n, 5);
  std::printf("{\"threads\": %d, \"size\": %lld, \"fp32_flops\": %.6e, \"bf16_flops\": %.6e, "
              "\"torch_version\": \"%s\"}\n",
              threads, static_cast<long long>(n), fp32, bf16, TORCH_VERSION);
  return 0;
}
