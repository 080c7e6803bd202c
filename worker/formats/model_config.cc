// config.json of Llama-family models, with the defaults of transformers'
// LlamaConfig / MistralConfig / Qwen2Config, validated before any allocation.
#include "worker/formats/model_config.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "worker/base/file_util.h"
#include "worker/base/status_macros.h"
#include "worker/formats/json_util.h"

namespace lorad {
namespace {

using nlohmann::json;

constexpr uint64_t kMaxConfigBytes = 16ull << 20;

struct ArchInfo {
  Architecture arch;
  const char* class_name;
  const char* model_type;
  // transformers' defaults for the keys a config.json may omit.
  int64_t vocab_size, hidden_size, intermediate_size, layers, heads;
  int64_t kv_heads;  // 0: = heads
  int64_t max_position_embeddings;
  int64_t bos, eos;  // -1: None
};
constexpr ArchInfo kArchs[] = {
    {Architecture::kLlama, "LlamaForCausalLM", "llama", 32000, 4096, 11008, 32, 32, 0, 2048, 1, 2},
    {Architecture::kMistral, "MistralForCausalLM", "mistral", 32000, 4096, 14336, 32, 32, 8,
     4096 * 32, 1, 2},
    {Architecture::kQwen2, "Qwen2ForCausalLM", "qwen2", 151936, 4096, 22016, 32, 32, 0, 32768, -1,
     -1},
};
constexpr const char* kSupported = "LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM";

const ArchInfo& Info(Architecture a) {
  for (const auto& i : kArchs) {
    if (i.arch == a) return i;
  }
  return kArchs[0];
}

absl::Status Bad(std::string_view source, const std::string& msg) {
  return absl::InvalidArgumentError(absl::StrCat(std::string(source), ": ", msg));
}

absl::StatusOr<const ArchInfo*> ResolveArchitecture(const json& root, std::string_view source) {
  auto arch = root.find("architectures");
  if (arch != root.end() && arch->is_array() && !arch->empty()) {
    if (!(*arch)[0].is_string()) return Bad(source, "key 'architectures': expected strings");
    std::string name = (*arch)[0].get<std::string>();
    for (const auto& i : kArchs) {
      if (name == i.class_name) return &i;
    }
    return absl::UnimplementedError(absl::StrCat(std::string(source), ": architecture \"", name,
                                                 "\" is not supported; supported: ", kSupported));
  }
  auto mt = root.find("model_type");
  if (mt != root.end() && mt->is_string()) {
    std::string type = mt->get<std::string>();
    for (const auto& i : kArchs) {
      if (type == i.model_type) return &i;
    }
    return absl::UnimplementedError(absl::StrCat(std::string(source), ": model_type \"", type,
                                                 "\" is not supported; supported: ", kSupported));
  }
  return Bad(source, absl::StrCat("neither 'architectures' nor 'model_type' is set; supported: ",
                                  kSupported));
}

// rope_scaling (transformers ≤ 4.x) or rope_parameters (v5): the same fields,
// with the type under "rope_type" or the older "type".
absl::Status ParseRope(const json& obj, const std::string& key, std::string_view source,
                       ModelConfig* c) {
  std::string where = absl::StrCat(std::string(source), " ", key);
  JsonFields f(obj, where);
  LORAD_ASSIGN_OR_RETURN(auto theta, f.Double("rope_theta"));
  if (theta) c->rope_theta = *theta;
  LORAD_ASSIGN_OR_RETURN(auto type, f.String("rope_type"));
  if (!type) {
    LORAD_ASSIGN_OR_RETURN(type, f.String("type"));
  }
  std::string t = type.value_or("default");
  RopeScaling& rs = c->rope_scaling;
  auto need = [&](const std::string& k, double* out) -> absl::Status {
    LORAD_ASSIGN_OR_RETURN(auto v, f.Double(k));
    if (!v) return f.Error(k, absl::StrCat("required for rope_type \"", t, "\""));
    *out = *v;
    return absl::OkStatus();
  };
  if (t == "default") {
    rs.type = RopeScaling::Type::kNone;
  } else if (t == "linear") {
    rs.type = RopeScaling::Type::kLinear;
    LORAD_RETURN_IF_ERROR(need("factor", &rs.factor));
  } else if (t == "llama3") {
    rs.type = RopeScaling::Type::kLlama3;
    double orig = 0;
    LORAD_RETURN_IF_ERROR(need("factor", &rs.factor));
    LORAD_RETURN_IF_ERROR(need("low_freq_factor", &rs.low_freq_factor));
    LORAD_RETURN_IF_ERROR(need("high_freq_factor", &rs.high_freq_factor));
    LORAD_RETURN_IF_ERROR(need("original_max_position_embeddings", &orig));
    if (orig < 1 || orig > (1 << 24) || orig != std::floor(orig)) {
      return f.Error("original_max_position_embeddings", "must be a positive integer ≤ 2^24");
    }
    rs.original_max_position_embeddings = static_cast<int64_t>(orig);
    if (!(rs.low_freq_factor > 0) || !(rs.high_freq_factor > rs.low_freq_factor)) {
      return f.Error("high_freq_factor", "llama3 needs 0 < low_freq_factor < high_freq_factor");
    }
  } else {
    return absl::UnimplementedError(
        absl::StrCat(where, ": rope_type \"", t,
                     "\" is not supported yet (supported: default, linear, llama3)"));
  }
  if (rs.type != RopeScaling::Type::kNone && !(rs.factor >= 1.0 && rs.factor <= 1024.0)) {
    return f.Error("factor", absl::StrCat("must be in [1, 1024], got ", rs.factor));
  }
  return absl::OkStatus();
}

absl::Status ParseTokenIds(const JsonFields& f, const ArchInfo& a, ModelConfig* c) {
  auto one = [&](const std::string& key, int64_t dflt, int64_t* out) -> absl::Status {
    if (!f.Has(key)) {
      *out = dflt;
      return absl::OkStatus();
    }
    LORAD_ASSIGN_OR_RETURN(auto v, f.Int(key));
    *out = v.value_or(-1);
    return absl::OkStatus();
  };
  LORAD_RETURN_IF_ERROR(one("bos_token_id", a.bos, &c->bos_token_id));
  LORAD_RETURN_IF_ERROR(one("pad_token_id", -1, &c->pad_token_id));
  c->eos_token_ids.clear();
  if (!f.Has("eos_token_id")) {
    if (a.eos >= 0) c->eos_token_ids.push_back(a.eos);
  } else if (auto list = f.IntList("eos_token_id"); list.ok()) {
    if (*list) c->eos_token_ids = **list;
  } else {
    LORAD_ASSIGN_OR_RETURN(auto v, f.Int("eos_token_id"));
    if (v) c->eos_token_ids.push_back(*v);
  }
  return absl::OkStatus();
}

absl::Status Validate(const ModelConfig& c, std::string_view source) {
  auto range = [&](const char* key, int64_t v, int64_t lo, int64_t hi) -> absl::Status {
    if (v < lo || v > hi) {
      return Bad(source, absl::StrCat("key '", key, "': ", v, " is outside [", lo, ", ", hi, "]"));
    }
    return absl::OkStatus();
  };
  LORAD_RETURN_IF_ERROR(range("vocab_size", c.vocab_size, 1, int64_t{1} << 24));
  LORAD_RETURN_IF_ERROR(range("hidden_size", c.hidden_size, 1, 65536));
  LORAD_RETURN_IF_ERROR(range("intermediate_size", c.intermediate_size, 1, int64_t{1} << 20));
  LORAD_RETURN_IF_ERROR(range("num_hidden_layers", c.num_hidden_layers, 1, 1024));
  LORAD_RETURN_IF_ERROR(range("num_attention_heads", c.num_attention_heads, 1, 1024));
  LORAD_RETURN_IF_ERROR(range("num_key_value_heads", c.num_key_value_heads, 1, 1024));
  LORAD_RETURN_IF_ERROR(range("head_dim", c.head_dim, 2, 1024));
  LORAD_RETURN_IF_ERROR(
      range("max_position_embeddings", c.max_position_embeddings, 1, int64_t{1} << 24));
  LORAD_RETURN_IF_ERROR(range("sliding_window", c.sliding_window, 0, int64_t{1} << 24));
  if (c.head_dim % 2 != 0) {
    return Bad(source,
               absl::StrCat("head_dim ", c.head_dim, " must be even (RoPE rotates halves)"));
  }
  if (c.num_attention_heads % c.num_key_value_heads != 0) {
    return Bad(source,
               absl::StrCat("num_attention_heads ", c.num_attention_heads,
                            " is not a multiple of num_key_value_heads ", c.num_key_value_heads));
  }
  if (!(c.initializer_range > 0 && c.initializer_range <= 1)) {
    return Bad(source,
               absl::StrCat("key 'initializer_range': ", c.initializer_range, " not in (0, 1]"));
  }
  if (!(c.rms_norm_eps > 0 && c.rms_norm_eps < 1)) {
    return Bad(source, absl::StrCat("key 'rms_norm_eps': ", c.rms_norm_eps, " not in (0, 1)"));
  }
  if (!(c.rope_theta > 0 && std::isfinite(c.rope_theta))) {
    return Bad(source, absl::StrCat("key 'rope_theta': ", c.rope_theta, " must be positive"));
  }
  for (int64_t id : c.eos_token_ids) {
    LORAD_RETURN_IF_ERROR(range("eos_token_id", id, 0, c.vocab_size - 1));
  }
  if (c.bos_token_id >= 0)
    LORAD_RETURN_IF_ERROR(range("bos_token_id", c.bos_token_id, 0, c.vocab_size - 1));
  if (c.pad_token_id >= 0)
    LORAD_RETURN_IF_ERROR(range("pad_token_id", c.pad_token_id, 0, c.vocab_size - 1));
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<ModelConfig> ParseModelConfig(std::string_view json_text, std::string_view source) {
  LORAD_ASSIGN_OR_RETURN(json root, ParseJsonObject(json_text, source));
  LORAD_ASSIGN_OR_RETURN(const ArchInfo* a, ResolveArchitecture(root, source));
  JsonFields f(root, source);
  ModelConfig c;
  c.architecture = a->arch;
  c.architecture_name = a->class_name;
  c.model_type = a->model_type;

  auto int_or = [&](const char* key, int64_t dflt, int64_t* out) -> absl::Status {
    LORAD_ASSIGN_OR_RETURN(auto v, f.Int(key));
    *out = v.value_or(dflt);
    return absl::OkStatus();
  };
  LORAD_RETURN_IF_ERROR(int_or("vocab_size", a->vocab_size, &c.vocab_size));
  LORAD_RETURN_IF_ERROR(int_or("hidden_size", a->hidden_size, &c.hidden_size));
  LORAD_RETURN_IF_ERROR(int_or("intermediate_size", a->intermediate_size, &c.intermediate_size));
  LORAD_RETURN_IF_ERROR(int_or("num_hidden_layers", a->layers, &c.num_hidden_layers));
  LORAD_RETURN_IF_ERROR(int_or("num_attention_heads", a->heads, &c.num_attention_heads));
  // Absent → the class default; explicit null → num_attention_heads (as transformers).
  LORAD_RETURN_IF_ERROR(
      int_or("num_key_value_heads",
             a->kv_heads > 0 && !f.Has("num_key_value_heads") ? a->kv_heads : c.num_attention_heads,
             &c.num_key_value_heads));
  LORAD_RETURN_IF_ERROR(
      int_or("max_position_embeddings", a->max_position_embeddings, &c.max_position_embeddings));
  if (c.num_attention_heads < 1 || c.hidden_size < 1) {
    return Bad(source, "hidden_size and num_attention_heads must be positive");
  }
  LORAD_ASSIGN_OR_RETURN(auto head_dim, f.Int("head_dim"));
  if (head_dim) {
    c.head_dim = *head_dim;
  } else {
    if (c.hidden_size % c.num_attention_heads != 0) {
      return Bad(source, absl::StrCat("hidden_size ", c.hidden_size,
                                      " is not divisible by num_attention_heads ",
                                      c.num_attention_heads, " and head_dim is not given"));
    }
    c.head_dim = c.hidden_size / c.num_attention_heads;
  }
  LORAD_ASSIGN_OR_RETURN(auto eps, f.Double("rms_norm_eps"));
  c.rms_norm_eps = eps.value_or(1e-6);
  LORAD_ASSIGN_OR_RETURN(auto init_range, f.Double("initializer_range"));
  c.initializer_range = init_range.value_or(0.02);
  LORAD_ASSIGN_OR_RETURN(auto theta, f.Double("rope_theta"));
  c.rope_theta = theta.value_or(10000.0);
  if (f.HasValue("rope_parameters")) {
    if (!root["rope_parameters"].is_object())
      return f.Error("rope_parameters", "expected an object");
    LORAD_RETURN_IF_ERROR(ParseRope(root["rope_parameters"], "rope_parameters", source, &c));
  }
  if (f.HasValue("rope_scaling")) {
    if (!root["rope_scaling"].is_object()) return f.Error("rope_scaling", "expected an object");
    LORAD_RETURN_IF_ERROR(ParseRope(root["rope_scaling"], "rope_scaling", source, &c));
  }
  LORAD_ASSIGN_OR_RETURN(auto tie, f.Bool("tie_word_embeddings"));
  c.tie_word_embeddings = tie.value_or(false);
  LORAD_ASSIGN_OR_RETURN(auto act, f.String("hidden_act"));
  c.hidden_act = act.value_or("silu");
  if (c.hidden_act == "swish") c.hidden_act = "silu";  // the same function in transformers
  if (c.hidden_act != "silu") {
    return absl::UnimplementedError(absl::StrCat(std::string(source), ": hidden_act \"",
                                                 c.hidden_act, "\" is not supported (only silu)"));
  }

  LORAD_ASSIGN_OR_RETURN(auto attn_bias, f.Bool("attention_bias"));
  LORAD_ASSIGN_OR_RETURN(auto mlp_bias, f.Bool("mlp_bias"));
  c.attention_bias = attn_bias.value_or(false);
  c.mlp_bias = mlp_bias.value_or(false);
  if (a->arch == Architecture::kQwen2) {
    // Qwen2Attention: q/k/v always carry a bias, o_proj never; no MLP bias.
    c.qkv_bias = true;
    c.o_bias = false;
    c.mlp_bias = false;
    LORAD_ASSIGN_OR_RETURN(auto use_sw, f.Bool("use_sliding_window"));
    if (use_sw.value_or(false)) {
      LORAD_ASSIGN_OR_RETURN(auto sw, f.Int("sliding_window"));
      LORAD_ASSIGN_OR_RETURN(auto mwl, f.Int("max_window_layers"));
      // Layers at index ≥ max_window_layers use the window; we support all-or-none.
      int64_t first = mwl.value_or(28);
      if (sw && *sw > 0 && first < c.num_hidden_layers) {
        if (first > 0) {
          return absl::UnimplementedError(absl::StrCat(
              std::string(source), ": Qwen2 sliding window on only some layers (max_window_layers ",
              first, " of ", c.num_hidden_layers, ") is not supported"));
        }
        c.sliding_window = *sw;
      }
    }
  } else {
    c.qkv_bias = c.o_bias = (a->arch == Architecture::kLlama) && c.attention_bias;
    if (a->arch == Architecture::kMistral) {
      c.mlp_bias = false;
      if (!f.Has("sliding_window")) {
        c.sliding_window = 4096;  // MistralConfig's default
      } else {
        LORAD_ASSIGN_OR_RETURN(auto sw, f.Int("sliding_window"));
        c.sliding_window = sw.value_or(0);
      }
    }
  }

  LORAD_ASSIGN_OR_RETURN(auto dtype, f.String("torch_dtype"));
  if (!dtype) {
    LORAD_ASSIGN_OR_RETURN(dtype, f.String("dtype"));
  }
  std::string dt = dtype.value_or("float32");
  if (dt.rfind("torch.", 0) == 0) dt = dt.substr(6);
  if (dt == "auto") dt = "float32";
  if (dt != "float32" && dt != "bfloat16" && dt != "float16") {
    return Bad(source, absl::StrCat("key 'torch_dtype': \"", dt,
                                    "\" is not one of float32, bfloat16, float16"));
  }
  c.torch_dtype = dt;
  LORAD_RETURN_IF_ERROR(ParseTokenIds(f, *a, &c));
  LORAD_RETURN_IF_ERROR(Validate(c, source));
  return c;
}

absl::StatusOr<ModelConfig> LoadModelConfig(const std::filesystem::path& model_dir) {
  std::filesystem::path p = model_dir / "config.json";
  LORAD_ASSIGN_OR_RETURN(std::string text, ReadFileToString(p, kMaxConfigBytes));
  return ParseModelConfig(text, p.string());
}

std::string ModelConfigToJson(const ModelConfig& c) {
  nlohmann::ordered_json j;
  j["architectures"] = {c.architecture_name.empty() ? Info(c.architecture).class_name
                                                    : c.architecture_name};
  j["model_type"] = c.model_type.empty() ? Info(c.architecture).model_type : c.model_type;
  j["vocab_size"] = c.vocab_size;
  j["hidden_size"] = c.hidden_size;
  j["intermediate_size"] = c.intermediate_size;
  j["num_hidden_layers"] = c.num_hidden_layers;
  j["num_attention_heads"] = c.num_attention_heads;
  j["num_key_value_heads"] = c.num_key_value_heads;
  j["head_dim"] = c.head_dim;
  j["hidden_act"] = c.hidden_act;
  j["rms_norm_eps"] = c.rms_norm_eps;
  j["initializer_range"] = c.initializer_range;
  j["rope_theta"] = c.rope_theta;
  switch (c.rope_scaling.type) {
    case RopeScaling::Type::kNone:
      j["rope_scaling"] = nullptr;
      break;
    case RopeScaling::Type::kLinear:
      j["rope_scaling"] = {{"rope_type", "linear"}, {"factor", c.rope_scaling.factor}};
      break;
    case RopeScaling::Type::kLlama3:
      j["rope_scaling"] = {
          {"rope_type", "llama3"},
          {"factor", c.rope_scaling.factor},
          {"low_freq_factor", c.rope_scaling.low_freq_factor},
          {"high_freq_factor", c.rope_scaling.high_freq_factor},
          {"original_max_position_embeddings", c.rope_scaling.original_max_position_embeddings}};
      break;
  }
  j["max_position_embeddings"] = c.max_position_embeddings;
  j["tie_word_embeddings"] = c.tie_word_embeddings;
  switch (c.architecture) {
    case Architecture::kLlama:
      j["attention_bias"] = c.attention_bias;
      j["mlp_bias"] = c.mlp_bias;
      break;
    case Architecture::kMistral:
      j["sliding_window"] = c.sliding_window > 0 ? nlohmann::ordered_json(c.sliding_window)
                                                 : nlohmann::ordered_json(nullptr);
      break;
    case Architecture::kQwen2:
      j["use_sliding_window"] = c.sliding_window > 0;
      j["sliding_window"] = c.sliding_window > 0 ? c.sliding_window : 4096;
      j["max_window_layers"] = c.sliding_window > 0 ? 0 : c.num_hidden_layers;
      break;
  }
  j["bos_token_id"] = c.bos_token_id >= 0 ? nlohmann::ordered_json(c.bos_token_id)
                                          : nlohmann::ordered_json(nullptr);
  if (c.eos_token_ids.empty()) {
    j["eos_token_id"] = nullptr;
  } else if (c.eos_token_ids.size() == 1) {
    j["eos_token_id"] = c.eos_token_ids[0];
  } else {
    j["eos_token_id"] = c.eos_token_ids;
  }
  j["pad_token_id"] = c.pad_token_id >= 0 ? nlohmann::ordered_json(c.pad_token_id)
                                          : nlohmann::ordered_json(nullptr);
  j["torch_dtype"] = c.torch_dtype;
  j["use_cache"] = true;
  return j.dump(2) + "\n";
}

}  // namespace lorad
