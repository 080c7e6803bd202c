// Fuzzes tokenizer.json loading (lorad::Tokenizer::FromJson); a tokenizer it
// accepts must encode and decode a short text without crashing.
#include <cstdint>
#include <string_view>

#include "worker/tokenizer/tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto tok = lorad::Tokenizer::FromJson(text, "", "fuzz/tokenizer.json");
  if (!tok.ok()) return 0;
  auto ids = (*tok)->Encode("Hello, wörld! 123 <|im_start|>", /*add_special_tokens=*/true);
  (void)(*tok)->Decode(ids, /*skip_special_tokens=*/false);
  return 0;
}
