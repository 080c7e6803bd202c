// Encode throughput of lorad's tokenizer: MB/s and tokens/s on a document set,
// single-threaded and with N threads (each thread encodes a share of the documents).
//   lorad_tokenizer_bench TOKENIZER_DIR [--threads N] [--min-mb M] TEXT_FILE...
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "worker/base/file_util.h"
#include "worker/tokenizer/tokenizer.h"

namespace {

struct Result {
  double seconds;
  size_t tokens;
};

Result EncodeAll(const lorad::Tokenizer& tok, const std::vector<std::string>& docs, int threads) {
  std::vector<size_t> counts(static_cast<size_t>(threads), 0);
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      for (size_t i = static_cast<size_t>(t); i < docs.size(); i += static_cast<size_t>(threads)) {
        counts[static_cast<size_t>(t)] += tok.Encode(docs[i], true).size();
      }
    });
  }
  for (auto& th : pool) th.join();
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  size_t total = 0;
  for (const size_t c : counts) total += c;
  return {s, total};
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s TOKENIZER_DIR [--threads N] [--min-mb M] TEXT_FILE...\n",
                 argv[0]);
    return 2;
  }
  int threads = static_cast<int>(std::thread::hardware_concurrency());
  double min_mb = 4;
  std::vector<std::string> texts;
  for (int i = 2; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--threads" && i + 1 < argc) {
      threads = std::max(1, std::atoi(argv[++i]));
    } else if (a == "--min-mb" && i + 1 < argc) {
      min_mb = std::atof(argv[++i]);
    } else {
      auto t = lorad::ReadFileToString(a);
      if (!t.ok()) {
        std::fprintf(stderr, "%s\n", std::string(t.status().message()).c_str());
        return 2;
      }
      texts.push_back(*t);
    }
  }
  const auto load0 = std::chrono::steady_clock::now();
  auto tok = lorad::Tokenizer::LoadFromDir(argv[1]);
  if (!tok.ok()) {
    std::fprintf(stderr, "%s\n", std::string(tok.status().message()).c_str());
    return 2;
  }
  const double load_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - load0).count();
  // Documents: the texts, repeated until the set holds min_mb; each repetition
  // gets a distinct number so the word cache cannot see only repeats.
  std::vector<std::string> docs;
  size_t bytes = 0;
  for (int rep = 0; bytes < static_cast<size_t>(min_mb * 1e6) && !texts.empty(); ++rep) {
    for (const auto& t : texts) {
      docs.push_back(std::to_string(rep) + " " + t);
      bytes += docs.back().size();
    }
  }
  EncodeAll(**tok, docs, 1);  // warm-up (fills the word cache as a long run would)
  const Result one = EncodeAll(**tok, docs, 1);
  const Result many = EncodeAll(**tok, docs, threads);
  std::printf(
      "lorad  load %.2f s | 1 thread: %.1f MB/s, %.0f tokens/s | %d threads: %.1f MB/s, %.0f "
      "tokens/s (%zu docs, %.1f MB)\n",
      load_s, bytes / one.seconds / 1e6, one.tokens / one.seconds, threads,
      bytes / many.seconds / 1e6, many.tokens / many.seconds, docs.size(), bytes / 1e6);
  return 0;
}
