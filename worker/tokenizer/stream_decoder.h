// Token ids → text one token at a time, for streaming generated text.  A
// byte-level token can end in the middle of a UTF-8 character, and decoders
// such as SentencePiece's strip or join differently at the start of a text, so
// decoding each token alone is wrong.  As text-generation-inference does, each
// step decodes a short window of recent tokens twice (without and with the
// new ones) and emits the difference once it no longer ends in U+FFFD.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "worker/tokenizer/tokenizer.h"

namespace lorad {

class StreamDecoder {
 public:
  /// `tokenizer` must outlive this object.
  StreamDecoder(const Tokenizer& tokenizer, bool skip_special_tokens)
      : tokenizer_(tokenizer), skip_special_(skip_special_tokens) {}

  /// Adds one token; returns the text that became final (empty while an
  /// incomplete UTF-8 sequence waits for its remaining bytes).
  std::string Push(int32_t id);
  /// The text still held back at the end (an incomplete sequence then decodes
  /// to U+FFFD, as a full decode would).
  std::string Finish();

 private:
  std::string Window(size_t begin, size_t end) const;

  const Tokenizer& tokenizer_;
  bool skip_special_;
  std::vector<int32_t> ids_;
  size_t prefix_offset_ = 0;  // start of the context window
  size_t read_offset_ = 0;    // tokens whose text was emitted
};

}  // namespace lorad
