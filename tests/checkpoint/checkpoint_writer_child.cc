// Helper for checkpoint_crash_test: behaves like a training worker that
// resumes from the newest valid checkpoint in OUTPUT_DIR and then writes
// checkpoints in a loop (with save_total_limit 3), until killed or after
// COUNT checkpoints.  Each checkpoint holds an adapter-sized safetensors file
// whose values and a state file both encode the step, so the test can check
// that what verifies is also what was meant to be written.
//
//   checkpoint_writer_child OUTPUT_DIR COUNT
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "worker/base/file_util.h"
#include "worker/checkpoint/checkpoint_reader.h"
#include "worker/checkpoint/checkpoint_writer.h"
#include "worker/formats/safetensors.h"

namespace fs = std::filesystem;

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s OUTPUT_DIR COUNT\n", argv[0]);
    return 2;
  }
  fs::path out = argv[1];
  long count = std::strtol(argv[2], nullptr, 10);
  if (auto r = lorad::RemoveStaleCheckpointTemps(out); !r.ok()) {
    std::fprintf(stderr, "cleanup: %s\n", std::string(r.status().message()).c_str());
    return 1;
  }
  auto newest = lorad::FindNewestValidCheckpoint(out, nullptr);
  if (!newest.ok()) return 1;
  int64_t step = newest->has_value() ? (*newest)->step : 0;
  for (long i = 0; i < count; ++i) {
    ++step;
    // 64 KiB of float data: a few write() calls, so kills land mid-file too.
    std::vector<float> values(16384, static_cast<float>(step));
    auto st = lorad::WriteCheckpointDir(
        out / absl::StrCat("checkpoint-", step), [&](const fs::path& tmp) -> absl::Status {
          auto s = lorad::WriteSafetensors(
              tmp / "adapter_model.safetensors",
              {{"base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight",
                lorad::DType::kF32,
                {128, 128},
                {reinterpret_cast<const uint8_t*>(values.data()), values.size() * 4}}});
          if (!s.ok()) return s;
          return lorad::WriteFileDurably(tmp / "training_state.json",
                                         absl::StrCat("{\"global_step\":", step, "}"));
        });
    if (!st.ok()) {
      std::fprintf(stderr, "write: %s\n", std::string(st.message()).c_str());
      return 1;
    }
    if (auto r = lorad::ApplySaveTotalLimit(out, 3); !r.ok()) return 1;
  }
  return 0;
}
