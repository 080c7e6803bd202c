// ConfigJobValidator, merge half: what `loractl merge JOB --out DIR` needs
// resolved and checked before it is queued.
#include <filesystem>
#include <fstream>
#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "nlohmann/json.hpp"
#include "server/config_job_validator.h"
#include "worker/base/byte_size.h"
#include "worker/config/config_loader.h"
#include "worker/config/config_path_policy.h"

namespace lorad {
namespace fs = std::filesystem;
namespace {

/// The spellings `lorad-worker merge --dtype` accepts, as bf16 | f16 | f32.
std::optional<std::string> CanonicalDtype(const std::string& d) {
  if (d.empty()) return std::string();
  if (d == "bf16" || d == "bfloat16") return std::string("bf16");
  if (d == "f16" || d == "fp16" || d == "float16") return std::string("f16");
  if (d == "f32" || d == "fp32" || d == "float32") return std::string("f32");
  return std::nullopt;
}

int DtypeBytes(const std::string& torch_dtype) { return torch_dtype == "float32" ? 4 : 2; }

/// The base model of `source` as its config resolves it: a local directory,
/// or a hub id found in the local Hugging Face cache.
absl::StatusOr<std::string> SourceModelDir(const v1::Job& source) {
  const v1::JobSpec& spec = source.spec();
  std::vector<std::string> overrides(spec.set_overrides().begin(), spec.set_overrides().end());
  ConfigLoadOptions no_checks;
  no_checks.check_paths = false;  // its datasets may be gone by now: irrelevant here
  auto loaded = ParseTrainConfig(spec.config_yaml(), spec.config_dir(), overrides, no_checks);
  if (!loaded.ok()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the config of job ", source.id(), " no longer parses: ", loaded.status().message()));
  }
  std::error_code ec;
  if (fs::is_directory(loaded->config.base_model, ec)) return loaded->config.base_model;
  // A hub id resolves only with the path checks on.
  auto with_hub = ParseTrainConfig(spec.config_yaml(), spec.config_dir(), overrides);
  if (with_hub.ok() && fs::is_directory(with_hub->config.base_model, ec)) {
    return with_hub->config.base_model;
  }
  return absl::FailedPreconditionError(absl::StrCat("the base model of job ", source.id(), " (",
                                                    loaded->config.base_model,
                                                    ") is no longer there"));
}

/// Bytes of the merged model's weights: the base's safetensors, rescaled to
/// the output dtype (floats only, but nearly every byte of a model is one).
int64_t EstimateMergedBytes(const fs::path& model_dir, const std::string& out_dtype) {
  int64_t bytes = 0;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(model_dir, ec)) {
    if (entry.path().extension() != ".safetensors") continue;
    const uintmax_t size = entry.file_size(ec);
    if (!ec) bytes += static_cast<int64_t>(size);
  }
  std::ifstream in(model_dir / "config.json");
  const nlohmann::json config = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  const std::string base_dtype = config.is_object() && config.contains("torch_dtype") &&
                                         config["torch_dtype"].is_string()
                                     ? config["torch_dtype"].get<std::string>()
                                     : "float32";
  if (out_dtype.empty()) return bytes;
  const int out = out_dtype == "f32" ? 4 : 2;
  return bytes / DtypeBytes(base_dtype) * out;
}

}  // namespace

absl::StatusOr<ValidatedSpec> ConfigJobValidator::ValidateMerge(const v1::MergeSpec& spec,
                                                                const v1::Job& source) {
  std::vector<std::string> problems;
  std::string out = fs::path(spec.out_dir()).lexically_normal().string();
  while (out.size() > 1 && out.back() == '/') out.pop_back();  // "DIR/" names DIR
  if (absl::Status s = CheckPathUnderRoots("merge.out_dir", out, allowed_roots_); !s.ok()) {
    problems.push_back(std::string(s.message()));
  }
  const std::optional<std::string> dtype = CanonicalDtype(spec.dtype());
  if (!dtype) {
    problems.push_back(absl::StrCat("merge.dtype: expected bf16, f16 or f32, got \"", spec.dtype(),
                                    "\""));
  }
  uint64_t shard_bytes = 0;
  if (!spec.max_shard_size().empty()) {
    auto parsed = ParseByteSize(spec.max_shard_size());
    if (parsed.ok() && *parsed > (uint64_t{1} << 50)) {
      parsed = absl::InvalidArgumentError(absl::StrCat("size '", spec.max_shard_size(),
                                                       "' is larger than 1 PiB"));
    }
    if (!parsed.ok()) {
      problems.push_back(absl::StrCat("merge.max_shard_size: ", parsed.status().message()));
    } else {
      shard_bytes = *parsed;
    }
  }
  if (!problems.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid merge request:\n", absl::StrJoin(problems, "\n")));
  }

  // The inputs, as the source job left them.
  auto model_dir = SourceModelDir(source);
  if (!model_dir.ok()) return model_dir.status();
  const fs::path adapter_dir = source.output_dir();
  std::error_code ec;
  if (!fs::is_regular_file(fs::path(*model_dir) / "config.json", ec)) {
    return absl::FailedPreconditionError(absl::StrCat("the base model of job ", source.id(), " (",
                                                      *model_dir, ") has no config.json"));
  }
  for (const char* name : {"adapter_config.json", "adapter_model.safetensors"}) {
    if (!fs::is_regular_file(adapter_dir / name, ec)) {
      return absl::FailedPreconditionError(
          absl::StrCat("the adapter of job ", source.id(), " is not in ", adapter_dir.string(),
                       " (", name, " is missing; was the output_dir removed?)"));
    }
  }
  ValidatedSpec v;
  if (fs::exists(out, ec)) {
    if (!fs::is_directory(out, ec)) {
      return absl::FailedPreconditionError(
          absl::StrCat("merge.out_dir ", out, " exists and is not a directory"));
    }
    if (!fs::is_empty(out, ec)) {
      if (!spec.force()) {
        return absl::FailedPreconditionError(absl::StrCat(
            "merge.out_dir ", out, " is not empty; choose another directory or pass --force"));
      }
      v.warnings.push_back(absl::StrCat("merge.out_dir ", out,
                                        " is not empty: files of the same names are replaced"));
    }
  }

  v.output_dir = out;
  v.estimated_checkpoint_bytes = EstimateMergedBytes(*model_dir, *dtype);
  v.checkpoints_kept = 0;  // the merged model is written once
  v1::MergeTask& task = v.merge;
  task.set_source_job_id(source.id());
  task.set_model_dir(*model_dir);
  task.set_adapter_dir(adapter_dir.string());
  task.set_out_dir(out);
  task.set_dtype(*dtype);
  task.set_max_shard_bytes(static_cast<int64_t>(shard_bytes));
  task.set_force(spec.force());
  v.resolved_config_json = nlohmann::json{{"source_job_id", task.source_job_id()},
                                          {"model_dir", task.model_dir()},
                                          {"adapter_dir", task.adapter_dir()},
                                          {"out_dir", task.out_dir()},
                                          {"dtype", task.dtype()},
                                          {"max_shard_bytes", task.max_shard_bytes()},
                                          {"force", task.force()}}
                               .dump();
  return v;
}

}  // namespace lorad
