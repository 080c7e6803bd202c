// `loractl completion bash|zsh`: completion scripts generated from the verb
// table (verb_table.h), so they always match the parser.  Job ids complete
// from `loractl list -o name`.  The same text is committed under
// client/completion/ for packagers; a test keeps the copies in sync.
#pragma once

#include <string>

namespace lorad {

std::string BashCompletionScript();
std::string ZshCompletionScript();

}  // namespace lorad
