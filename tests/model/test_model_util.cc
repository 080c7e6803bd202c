#include "tests/model/test_model_util.h"

#include <unistd.h>

#include "worker/base/file_util.h"
#include "worker/base/status_macros.h"
#include "worker/formats/safetensors.h"
#include "worker/model/model_layout.h"
#include "worker/model/tensor_io.h"
#include "worker/model/torch_compat.h"

namespace lorad::testing {

std::filesystem::path MakeTempDir(const std::string& name) {
  const char* root = std::getenv("TEST_TMPDIR");
  std::filesystem::path base = root ? root : std::filesystem::temp_directory_path();
  std::filesystem::path dir =
      base / ("lorad-model-test-" + std::to_string(::getpid())) / name;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

ModelConfig SmallLlamaConfig() {
  ModelConfig c;
  c.architecture = Architecture::kLlama;
  c.architecture_name = "LlamaForCausalLM";
  c.model_type = "llama";
  c.vocab_size = 61;
  c.hidden_size = 32;
  c.intermediate_size = 48;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 4;
  c.num_key_value_heads = 2;
  c.head_dim = 12;
  c.rms_norm_eps = 1e-5;
  c.rope_theta = 10000.0;
  c.max_position_embeddings = 128;
  c.bos_token_id = 1;
  c.eos_token_ids = {2};
  return c;
}

absl::StatusOr<ModelConfig> WriteRandomTestModel(const ModelConfig& written,
                                                 const std::filesystem::path& dir,
                                                 uint64_t seed) {
  LORAD_RETURN_IF_ERROR(WriteFileDurably(dir / "config.json", ModelConfigToJson(written)));
  LORAD_ASSIGN_OR_RETURN(ModelConfig config, LoadModelConfig(dir));
  torch::Generator gen = torch_compat::MakeCpuGenerator(seed);
  std::vector<std::pair<std::string, torch::Tensor>> named;
  for (const TensorShape& t : ExpectedTensorShapes(config)) {
    torch::Tensor v = torch::empty(t.shape, torch::kFloat32);
    const bool norm = t.name.find("norm.weight") != std::string::npos;
    const bool bias = t.name.size() > 5 && t.name.substr(t.name.size() - 5) == ".bias";
    v.normal_(0.0, norm || bias ? 0.1 : 0.2, gen);
    if (norm) v.add_(1.0);
    named.emplace_back(t.name, v);
  }
  LORAD_ASSIGN_OR_RETURN(TensorBlobs blobs, MakeTensorBlobs(named));
  LORAD_RETURN_IF_ERROR(WriteSafetensors(dir / "model.safetensors", blobs.blobs));
  return config;
}

}  // namespace lorad::testing
