// Fuzzes training_state.json (a checkpoint's step, schedule, data cursor,
// environment and progress): an accepted state must be sane (no negative
// counts) and survive a write/parse round trip unchanged.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "worker/train/training_state_json.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto s = lorad::ParseTrainingStateJson(text, "fuzz/training_state.json");
  if (!s.ok()) return 0;
  if (s->optimizer_step < 0 || s->total_steps < 0 || s->warmup_steps < 0 ||
      s->progress.global_step < 0 || s->cursor.epoch < 0 || s->cursor.position < 0) {
    std::abort();
  }
  auto back = lorad::ParseTrainingStateJson(lorad::TrainingStateJson(*s), "round-trip");
  if (!back.ok() || back->cursor != s->cursor || back->optimizer_step != s->optimizer_step ||
      back->progress.global_step != s->progress.global_step) {
    std::abort();
  }
  return 0;
}
