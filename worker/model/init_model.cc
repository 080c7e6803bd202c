#include "worker/model/init_model.h"

#include <cmath>
#include <cstring>
#include <system_error>
#include <vector>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "worker/base/file_util.h"
#include "worker/base/status_macros.h"
#include "worker/model/model_layout.h"
#include "worker/tokenizer/bpe_trainer.h"
#include "worker/tokenizer/bundled_corpus.h"

namespace lorad {
namespace {

// A self-contained normal generator (splitmix64 + Box-Muller in double) rather
// than LibTorch's: the files must be byte-identical for a seed on any machine
// and LibTorch version, and this keeps init-model free of LibTorch.
class NormalStream {
 public:
  explicit NormalStream(uint64_t seed) : state_(seed) {}
  double Next() {
    if (has_spare_) {
      has_spare_ = false;
      return spare_;
    }
    // u1 in (0, 1] so log(u1) is finite.
    const double u1 = (static_cast<double>(NextBits() >> 11) + 1.0) * 0x1.0p-53;
    const double u2 = static_cast<double>(NextBits() >> 11) * 0x1.0p-53;
    const double radius = std::sqrt(-2.0 * std::log(u1));
    spare_ = radius * std::sin(2.0 * M_PI * u2);
    has_spare_ = true;
    return radius * std::cos(2.0 * M_PI * u2);
  }

 private:
  uint64_t NextBits() {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }
  uint64_t state_;
  double spare_ = 0;
  bool has_spare_ = false;
};

uint16_t FloatToBf16(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  bits += 0x7FFF + ((bits >> 16) & 1);  // round to nearest even (no NaNs here)
  return static_cast<uint16_t>(bits >> 16);
}

uint16_t FloatToF16(float f) {
  // Values here are small normals or exact 0/1; handle the normal range and
  // flush tiny values to zero.
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  const uint32_t sign = (bits >> 16) & 0x8000;
  const int32_t exp = static_cast<int32_t>((bits >> 23) & 0xFF) - 127 + 15;
  uint32_t mant = bits & 0x7FFFFF;
  if (exp <= 0) return static_cast<uint16_t>(sign);
  if (exp >= 31) return static_cast<uint16_t>(sign | 0x7C00);
  uint32_t h = (static_cast<uint32_t>(exp) << 10) | (mant >> 13);
  const uint32_t rest = mant & 0x1FFF;
  if (rest > 0x1000 || (rest == 0x1000 && (h & 1))) ++h;  // nearest even
  return static_cast<uint16_t>(sign | h);
}

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

absl::StatusOr<ModelConfig> PresetConfig(const std::string& preset) {
  ModelConfig c;
  c.architecture = Architecture::kLlama;
  c.architecture_name = "LlamaForCausalLM";
  c.model_type = "llama";
  c.hidden_act = "silu";
  c.rms_norm_eps = 1e-5;
  c.rope_theta = 10000.0;
  c.tie_word_embeddings = false;
  if (preset == "tiny") {
    // ~280k parameters with the ~660-token tokenizer; GQA (4 heads, 2 KV heads)
    // on purpose so the smallest model exercises the repeat_kv path.
    c.hidden_size = 64;
    c.intermediate_size = 192;
    c.num_hidden_layers = 4;
    c.num_attention_heads = 4;
    c.num_key_value_heads = 2;
    c.head_dim = 16;
    c.max_position_embeddings = 2048;
    c.torch_dtype = "float32";
    // transformers' 0.02 is tuned for H in the thousands.  At H = 64 the final
    // RMSNorm output has norm 8, so with 0.02 every logit stays within ±1.3 and a
    // LoRA-only run (lm_head and norms frozen) cannot fit even a repetitive text:
    // its loss floors near 5 from ln V ≈ 6.5.  0.1 lets the adapters do real work.
    c.initializer_range = 0.1;
  } else if (preset == "bench-100m") {
    // Llama shape: 14 layers × (4·768² attention + 3·768·2048 MLP) = 99.1M, plus
    // embedding and lm_head (V × 768 each) ≈ 100.1M with the bundled tokenizer.
    c.hidden_size = 768;
    c.intermediate_size = 2048;
    c.num_hidden_layers = 14;
    c.num_attention_heads = 12;
    c.num_key_value_heads = 12;
    c.head_dim = 64;
    c.max_position_embeddings = 4096;
    c.torch_dtype = "bfloat16";
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown preset '", preset, "' (known: tiny, bench-100m)"));
  }
  return c;
}

absl::Status WriteRandomModel(const ModelConfig& config, const std::filesystem::path& dir,
                              uint64_t seed, DType dtype) {
  if (dtype != DType::kF32 && dtype != DType::kBF16 && dtype != DType::kF16) {
    return absl::InvalidArgumentError("init dtype must be F32, BF16 or F16");
  }
  const std::vector<TensorShape> shapes = ExpectedTensorShapes(config);
  const size_t elem = DTypeSize(dtype);
  std::vector<std::vector<uint8_t>> storage;
  storage.reserve(shapes.size());
  std::vector<TensorBlob> blobs;
  NormalStream normal(seed);
  for (const TensorShape& t : shapes) {
    int64_t n = 1;
    for (int64_t d : t.shape) n *= d;
    std::vector<uint8_t> bytes(static_cast<size_t>(n) * elem);
    // transformers' _init_weights: Linear/Embedding normal(0, initializer_range),
    // biases 0, RMSNorm weights 1.
    const bool is_norm = EndsWith(t.name, "norm.weight");
    const bool is_bias = EndsWith(t.name, ".bias");
    for (int64_t i = 0; i < n; ++i) {
      const float v = is_norm ? 1.0f : is_bias ? 0.0f : static_cast<float>(config.initializer_range * normal.Next());
      uint8_t* dst = bytes.data() + i * elem;
      if (dtype == DType::kF32) {
        std::memcpy(dst, &v, 4);
      } else {
        const uint16_t h = dtype == DType::kBF16 ? FloatToBf16(v) : FloatToF16(v);
        std::memcpy(dst, &h, 2);
      }
    }
    storage.push_back(std::move(bytes));
    blobs.push_back({t.name, dtype, t.shape, std::span<const uint8_t>(storage.back())});
  }
  ModelConfig written = config;
  written.torch_dtype = dtype == DType::kF32 ? "float32" : dtype == DType::kBF16 ? "bfloat16"
                                                                                 : "float16";
  LORAD_RETURN_IF_ERROR(WriteFileDurably(dir / "config.json", ModelConfigToJson(written)));
  return WriteSafetensors(dir / "model.safetensors", blobs);
}

absl::Status InitModel(const InitModelOptions& options) {
  LORAD_ASSIGN_OR_RETURN(ModelConfig config, PresetConfig(options.preset));
  if (options.out.empty()) return absl::InvalidArgumentError("--out DIR is required");
  std::error_code ec;
  if (std::filesystem::exists(options.out, ec)) {
    if (!std::filesystem::is_directory(options.out, ec)) {
      return absl::FailedPreconditionError(
          absl::StrCat(options.out.string(), " exists and is not a directory"));
    }
    if (!std::filesystem::is_empty(options.out, ec) && !options.force) {
      return absl::FailedPreconditionError(absl::StrCat(
          options.out.string(), " is not empty; choose another --out or pass --force"));
    }
  }
  std::filesystem::create_directories(options.out, ec);
  if (ec) {
    return absl::InternalError(
        absl::StrCat("cannot create ", options.out.string(), ": ", ec.message()));
  }

  BpeTrainerOptions tok_options;  // BOS, EOS, pad, <|im_start|>, <|im_end|>
  LORAD_ASSIGN_OR_RETURN(
      TrainedTokenizerFiles tok,
      TrainByteLevelBpe({std::string(BundledCorpus())}, tok_options));
  // vocab_size and special ids from the trained tokenizer.json.
  const nlohmann::json tj = nlohmann::json::parse(tok.tokenizer_json, nullptr, false);
  if (tj.is_discarded() || !tj.contains("model") || !tj["model"].contains("vocab")) {
    return absl::InternalError("the BPE trainer produced an unreadable tokenizer.json");
  }
  int64_t max_id = -1;
  for (const auto& [token, id] : tj["model"]["vocab"].items()) {
    max_id = std::max<int64_t>(max_id, id.get<int64_t>());
  }
  const nlohmann::json added = tj.value("added_tokens", nlohmann::json::array());
  for (const auto& t : added) max_id = std::max<int64_t>(max_id, t.value("id", int64_t{-1}));
  auto special_id = [&](const std::string& content) -> int64_t {
    for (const auto& t : added) {
      if (t.value("content", "") == content) return t.value("id", int64_t{-1});
    }
    return -1;
  };
  config.bos_token_id = special_id(tok_options.special_tokens[0]);
  config.eos_token_ids = {special_id(tok_options.special_tokens[1])};
  config.pad_token_id = special_id(tok_options.special_tokens[2]);
  if (config.bos_token_id < 0 || config.eos_token_ids[0] < 0 || config.pad_token_id < 0) {
    return absl::InternalError("the trained tokenizer lacks its BOS/EOS/pad tokens");
  }
  config.vocab_size = max_id + 1;

  LORAD_RETURN_IF_ERROR(WriteFileDurably(options.out / "tokenizer.json", tok.tokenizer_json));
  LORAD_RETURN_IF_ERROR(
      WriteFileDurably(options.out / "tokenizer_config.json", tok.tokenizer_config_json));
  const DType dtype = config.torch_dtype == "bfloat16" ? DType::kBF16 : DType::kF32;
  LORAD_RETURN_IF_ERROR(WriteRandomModel(config, options.out, options.seed, dtype));
  return FsyncDirectory(options.out);
}

}  // namespace lorad
