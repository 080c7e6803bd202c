// A few KB of English text, written for lorad, to train init-model's tokenizer.
#pragma once

#include <string_view>

namespace lorad {

/// Plain English prose (ASCII) with some numbers, punctuation and code.
std::string_view BundledCorpus();

}  // namespace lorad
