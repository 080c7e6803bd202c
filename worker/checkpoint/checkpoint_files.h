// File names inside a lorad checkpoint directory and an adapter directory,
// shared by the trainer (writer) and the resume logic (reader).
#pragma once

namespace lorad {

inline constexpr const char* kAdapterConfigFile = "adapter_config.json";
inline constexpr const char* kAdapterWeightsFile = "adapter_model.safetensors";
inline constexpr const char* kAdapterPickleFile = "adapter_model.bin";
/// lorad's exact-resume state (step, data cursor, RNG, resolved config, ...).
inline constexpr const char* kTrainingStateFile = "training_state.json";
/// AdamW moments and step counts.
inline constexpr const char* kOptimizerStateFile = "optimizer.safetensors";
/// Loss history, as the HF Trainer's file of the same name.
inline constexpr const char* kTrainerStateFile = "trainer_state.json";

}  // namespace lorad
