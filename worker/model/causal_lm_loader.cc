// LoadCausalLm: config + safetensors → CausalLm, validating every tensor.
#include <torch/torch.h>

#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "spdlog/spdlog.h"
#include "worker/base/status_macros.h"
#include "worker/model/causal_lm.h"
#include "worker/model/model_layout.h"
#include "worker/model/tensor_io.h"

namespace lorad {
namespace {

std::string ShapeText(const std::vector<int64_t>& shape) {
  return absl::StrCat("[", absl::StrJoin(shape, ", "), "]");
}

absl::Status ValidateConfig(const ModelConfig& c, const std::filesystem::path& dir) {
  const std::string where = (dir / "config.json").string();
  auto bad = [&](const std::string& msg) {
    return absl::InvalidArgumentError(absl::StrCat(where, ": ", msg));
  };
  if (c.vocab_size <= 0 || c.hidden_size <= 0 || c.intermediate_size <= 0 ||
      c.num_hidden_layers <= 0 || c.num_attention_heads <= 0 || c.num_key_value_heads <= 0 ||
      c.head_dim <= 0) {
    return bad("vocab_size, hidden_size, intermediate_size, num_hidden_layers, heads and "
               "head_dim must be positive");
  }
  if (c.head_dim % 2 != 0) return bad(absl::StrCat("head_dim ", c.head_dim, " must be even (RoPE)"));
  if (c.num_attention_heads % c.num_key_value_heads != 0) {
    return bad(absl::StrCat("num_attention_heads ", c.num_attention_heads,
                            " is not a multiple of num_key_value_heads ", c.num_key_value_heads));
  }
  if (c.hidden_act != "silu") {
    return absl::UnimplementedError(
        absl::StrCat(where, ": hidden_act \"", c.hidden_act, "\" is not supported (silu)"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::shared_ptr<CausalLmImpl>> LoadCausalLmImpl(
    const std::filesystem::path& model_dir, const ModelConfig& config,
    const LoadOptions& options) {
  LORAD_RETURN_IF_ERROR(ValidateConfig(config, model_dir));
  if (options.base_dtype != torch::kFloat32 && options.base_dtype != torch::kBFloat16 &&
      options.base_dtype != torch::kFloat16 && options.base_dtype != torch::kFloat64) {
    return absl::InvalidArgumentError("base dtype must be fp32, bf16, fp16 or fp64");
  }
  LORAD_ASSIGN_OR_RETURN(std::unique_ptr<SafetensorsCollection> files,
                         SafetensorsCollection::OpenModelDir(model_dir));
  std::shared_ptr<SafetensorsCollection> weights(std::move(files));
  try {
    auto model = std::make_shared<CausalLmImpl>(config, options);
    std::set<std::string> expected_names;
    for (const TensorShape& want : ExpectedTensorShapes(config)) {
      expected_names.insert(want.name);
      SafetensorsCollection::Entry e = weights->Find(want.name);
      if (e.file == nullptr) {
        return absl::NotFoundError(absl::StrCat(
            model_dir.string(), ": the weights lack tensor '", want.name, "' (shape ",
            ShapeText(want.shape), ", needed by ", config.architecture_name, " with this config)"));
      }
      if (e.info->shape != want.shape) {
        return absl::InvalidArgumentError(absl::StrCat(
            e.file->path().string(), ": tensor '", want.name, "' has shape ",
            ShapeText(e.info->shape), ", config.json implies ", ShapeText(want.shape)));
      }
      LORAD_ASSIGN_OR_RETURN(torch::Tensor t, LoadTensor(*e.file, *e.info, options.base_dtype));
      if (!options.device.is_cpu()) t = t.to(options.device);
      LORAD_RETURN_IF_ERROR(model->SetBaseTensor(want.name, t));
    }
    for (const std::string& name : weights->Names()) {
      if (expected_names.count(name)) continue;
      // Tied checkpoints sometimes store lm_head anyway; old Llama checkpoints
      // store rotary inv_freq buffers.  Neither is used.
      model->unexpected_tensors_.push_back(name);
    }
    if (!model->unexpected_tensors_.empty()) {
      std::vector<std::string> shown(
          model->unexpected_tensors_.begin(),
          model->unexpected_tensors_.begin() +
              std::min<size_t>(10, model->unexpected_tensors_.size()));
      spdlog::warn("{}: {} tensor(s) not used by {}: {}{}", model_dir.string(),
                   model->unexpected_tensors_.size(), config.architecture_name,
                   absl::StrJoin(shown, ", "),
                   model->unexpected_tensors_.size() > shown.size() ? ", ..." : "");
    }
    model->inv_freq_ = model->inv_freq_.to(options.device);
    model->weights_ = std::move(weights);
    return model;
  } catch (const c10::Error& e) {
    return absl::InternalError(absl::StrCat("loading ", model_dir.string(), ": ",
                                            e.what_without_backtrace()));
  } catch (const std::bad_alloc&) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "out of memory loading ", model_dir.string(), " (", weights->TotalBytes(), " bytes)"));
  }
}

absl::StatusOr<CausalLm> LoadCausalLm(const std::filesystem::path& model_dir,
                                      const ModelConfig& config, const LoadOptions& options) {
  LORAD_ASSIGN_OR_RETURN(std::shared_ptr<CausalLmImpl> impl,
                         LoadCausalLmImpl(model_dir, config, options));
  return CausalLm(std::move(impl));
}

}  // namespace lorad
