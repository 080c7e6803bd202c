#include "worker/tokenizer/pcre_regex.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "absl/strings/str_cat.h"
#include "worker/tokenizer/utf8_util.h"

namespace lorad {

namespace {

// Per-thread match state: match data big enough for group 0, and a JIT stack
// that can grow to 4 MiB, so long runs of whitespace (\s+(?!\S)) cannot exhaust it.
struct ThreadMatchState {
  pcre2_match_data* data = nullptr;
  pcre2_match_context* context = nullptr;
  pcre2_jit_stack* jit_stack = nullptr;
  ThreadMatchState() {
    data = pcre2_match_data_create(1, nullptr);
    context = pcre2_match_context_create(nullptr);
    jit_stack = pcre2_jit_stack_create(64 * 1024, 4 * 1024 * 1024, nullptr);
    if (context != nullptr && jit_stack != nullptr) {
      pcre2_jit_stack_assign(context, nullptr, jit_stack);
    }
  }
  ~ThreadMatchState() {
    pcre2_match_data_free(data);
    pcre2_match_context_free(context);
    pcre2_jit_stack_free(jit_stack);
  }
};

ThreadMatchState& MatchState() {
  thread_local ThreadMatchState state;
  return state;
}

std::string PcreErrorText(int code) {
  PCRE2_UCHAR buf[256];
  if (pcre2_get_error_message(code, buf, sizeof(buf)) < 0) return absl::StrCat("error ", code);
  return std::string(reinterpret_cast<const char*>(buf));
}

}  // namespace

absl::StatusOr<std::unique_ptr<PcreRegex>> PcreRegex::Compile(std::string_view pattern,
                                                              std::string_view where) {
  if (!IsValidUtf8(pattern)) {
    return absl::InvalidArgumentError(absl::StrCat(std::string(where), ": pattern is not UTF-8"));
  }
  int err = 0;
  PCRE2_SIZE err_off = 0;
  pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                                   PCRE2_UTF | PCRE2_UCP, &err, &err_off, nullptr);
  if (code == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(std::string(where), ": bad regex at offset ",
                                                   err_off, ": ", PcreErrorText(err), " in /",
                                                   std::string(pattern), "/"));
  }
  std::unique_ptr<PcreRegex> re(new PcreRegex());
  re->code_ = code;
  re->pattern_ = std::string(pattern);
  re->jit_ = pcre2_jit_compile(code, PCRE2_JIT_COMPLETE) == 0;
  return re;
}

absl::StatusOr<std::unique_ptr<PcreRegex>> PcreRegex::CompileLiteral(std::string_view literal,
                                                                     std::string_view where) {
  std::string quoted;
  for (const char c : literal) {
    if (std::string_view("\\^$.|?*+()[]{}").find(c) != std::string_view::npos)
      quoted.push_back('\\');
    quoted.push_back(c);
  }
  return Compile(quoted, where);
}

PcreRegex::~PcreRegex() { pcre2_code_free(static_cast<pcre2_code*>(code_)); }

absl::Status PcreRegex::FindAll(std::string_view text,
                                std::vector<std::pair<size_t, size_t>>* out) const {
  auto* code = static_cast<pcre2_code*>(code_);
  ThreadMatchState& st = MatchState();
  if (st.data == nullptr || st.context == nullptr) {
    return absl::ResourceExhaustedError("pcre2: cannot allocate match data");
  }
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  size_t pos = 0;
  while (pos <= text.size()) {
    int rc;
    if (jit_) {
      rc =
          pcre2_jit_match(code, subject, text.size(), pos, PCRE2_NO_UTF_CHECK, st.data, st.context);
    } else {
      rc = pcre2_match(code, subject, text.size(), pos, PCRE2_NO_UTF_CHECK, st.data, st.context);
    }
    if (rc == PCRE2_ERROR_NOMATCH) break;
    if (rc < 0 && jit_) {
      // JIT resource limits: retry this position with the interpreter.
      rc = pcre2_match(code, subject, text.size(), pos, PCRE2_NO_UTF_CHECK, st.data, st.context);
      if (rc == PCRE2_ERROR_NOMATCH) break;
    }
    if (rc < 0) {
      return absl::ResourceExhaustedError(
          absl::StrCat("regex /", pattern_, "/ failed: ", PcreErrorText(rc)));
    }
    const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(st.data);
    const size_t b = ov[0], e = ov[1];
    out->emplace_back(b, e);
    if (e > b) {
      pos = e;
    } else {
      if (b >= text.size()) break;
      size_t len = 1;
      DecodeUtf8At(text, b, &len);
      pos = b + len;
    }
  }
  return absl::OkStatus();
}

}  // namespace lorad
