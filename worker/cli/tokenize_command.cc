// `lorad-worker tokenize MODEL_DIR [--no-special]`: stdin (verbatim UTF-8, a
// trailing newline included) → the token ids as one JSON array on stdout, as
// Hugging Face's `tokenizers` encode(text, add_special_tokens) gives them.
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "worker/cli/commands.h"
#include "worker/tokenizer/tokenizer.h"
#include "worker/tokenizer/utf8_util.h"

namespace lorad {

namespace {

// Larger inputs are refused rather than buffered without bound.
constexpr size_t kMaxStdinBytes = size_t{1} << 30;

void PrintTokenizeUsage(FILE* out) {
  std::fprintf(out,
               "usage: lorad-worker tokenize MODEL_DIR [--no-special]\n"
               "  Reads text from stdin (verbatim UTF-8; a trailing newline is part of the text)\n"
               "  and prints its token ids as one JSON array.  MODEL_DIR needs tokenizer.json\n"
               "  (and tokenizer_config.json if present).  --no-special: do not add BOS/EOS or\n"
               "  other template tokens.\n");
}

bool ReadAllStdin(std::string* out, std::string* error) {
  char buf[1 << 16];
  for (;;) {
    const ssize_t n = ::read(STDIN_FILENO, buf, sizeof(buf));
    if (n == 0) return true;
    if (n < 0) {
      if (errno == EINTR) continue;
      *error = std::string("reading stdin: ") + std::strerror(errno);
      return false;
    }
    if (out->size() + static_cast<size_t>(n) > kMaxStdinBytes) {
      *error = "stdin is larger than 1 GiB";
      return false;
    }
    out->append(buf, static_cast<size_t>(n));
  }
}

}  // namespace

int TokenizeCommand(int argc, char** argv) {
  std::string model_dir;
  bool add_special = true;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--no-special") {
      add_special = false;
    } else if (arg == "-h" || arg == "--help") {
      PrintTokenizeUsage(stdout);
      return 0;
    } else if (!arg.empty() && arg[0] == '-') {
      std::fprintf(stderr, "tokenize: unknown option '%s'\n", argv[i]);
      PrintTokenizeUsage(stderr);
      return 2;
    } else if (model_dir.empty()) {
      model_dir = std::string(arg);
    } else {
      std::fprintf(stderr, "tokenize: unexpected argument '%s'\n", argv[i]);
      PrintTokenizeUsage(stderr);
      return 2;
    }
  }
  if (model_dir.empty()) {
    std::fprintf(stderr, "tokenize: MODEL_DIR is required\n");
    PrintTokenizeUsage(stderr);
    return 2;
  }
  auto tokenizer = Tokenizer::LoadFromDir(model_dir);
  if (!tokenizer.ok()) {
    std::fprintf(stderr, "tokenize: %s\n", std::string(tokenizer.status().message()).c_str());
    return 2;
  }
  std::string text, error;
  if (!ReadAllStdin(&text, &error)) {
    std::fprintf(stderr, "tokenize: %s\n", error.c_str());
    return 2;
  }
  size_t bad = 0;
  if (!IsValidUtf8(text, &bad)) {
    std::fprintf(stderr, "tokenize: stdin is not valid UTF-8 (first bad byte at offset %zu)\n",
                 bad);
    return 2;
  }
  auto ids = (*tokenizer)->TryEncode(text, add_special);
  if (!ids.ok()) {
    std::fprintf(stderr, "tokenize: %s\n", std::string(ids.status().message()).c_str());
    return 2;
  }
  std::string out = "[";
  for (size_t i = 0; i < ids->size(); ++i) {
    if (i > 0) out.push_back(',');
    out += std::to_string((*ids)[i]);
  }
  out += "]\n";
  if (std::fwrite(out.data(), 1, out.size(), stdout) != out.size() || std::fflush(stdout) != 0) {
    std::fprintf(stderr, "tokenize: writing stdout: %s\n", std::strerror(errno));
    return 1;
  }
  return 0;
}

}  // namespace lorad
