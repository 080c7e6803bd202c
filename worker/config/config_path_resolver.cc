#include "worker/config/config_path_resolver.h"

#include <system_error>

#include "absl/strings/str_cat.h"
#include "worker/config/hub_cache.h"

namespace lorad {
namespace fs = std::filesystem;

namespace {

std::string Resolve(const fs::path& config_dir, const std::string& p) {
  if (p.empty()) return p;
  const fs::path path(p);
  return (path.is_absolute() ? path : config_dir / path).lexically_normal().string();
}

/// A directory input that may also be a hub id (base_model, lora_model_dir).
void ResolveModelDir(const fs::path& config_dir, bool check_paths, const std::string& key,
                     std::string* value, std::vector<std::string>* notes,
                     ConfigProblems* problems) {
  if (value->empty()) return;
  const std::string spec = *value;
  const std::string local = Resolve(config_dir, spec);
  *value = local;
  if (!check_paths) return;
  std::error_code ec;
  if (fs::exists(local, ec)) {
    if (!fs::is_directory(local, ec)) problems->Add(key, absl::StrCat("not a directory: ", local));
    return;
  }
  if (!LooksLikeHubId(spec)) {
    problems->Add(key, absl::StrCat("directory not found: ", local));
    return;
  }
  auto snapshot = ResolveHubModel(spec);
  if (!snapshot.ok()) {
    // "org/name" may equally be a mistyped relative path: say both.
    problems->Add(key, absl::StrCat("directory not found: ", local, "; as a hub id: ",
                                    snapshot.status().message()));
    return;
  }
  *value = snapshot->string();
  notes->push_back(absl::StrCat(key, " ", spec, " → ", *value, " (local Hugging Face cache)"));
}

bool HasSupportedDataExtension(const fs::path& p) {
  const std::string ext = p.extension().string();
  return ext == ".jsonl" || ext == ".json" || ext == ".txt";
}

void ResolveDatasetPath(const fs::path& config_dir, bool check_paths, size_t index,
                        DatasetSpec* spec, ConfigProblems* problems) {
  if (spec->path.empty()) return;
  const std::string key = absl::StrCat("datasets[", index, "].path");
  const std::string spelled = spec->path;
  spec->path = Resolve(config_dir, spelled);
  if (!check_paths) return;
  std::error_code ec;
  if (!fs::exists(spec->path, ec)) {
    if (LooksLikeHubId(spelled) && fs::path(spelled).extension().empty()) {
      problems->Add(key, absl::StrCat(
                             "\"", spelled,
                             "\" looks like a Hugging Face hub dataset id; lorad reads local "
                             "files only: download it with `huggingface-cli download "
                             "--repo-type dataset ",
                             spelled, " --local-dir DIR` and set path to a .jsonl, .json or "
                                      ".txt file in DIR"));
    } else {
      problems->Add(key, absl::StrCat("file not found: ", spec->path));
    }
    return;
  }
  if (fs::is_directory(spec->path, ec)) {
    problems->Add(key, absl::StrCat("is a directory (", spec->path,
                                    "); point path at a .jsonl, .json or .txt file"));
  } else if (!HasSupportedDataExtension(spec->path)) {
    problems->Add(key, absl::StrCat("unsupported file type \"",
                                    fs::path(spec->path).extension().string(), "\" (",
                                    spec->path, "; supported: .jsonl, .json, .txt)"));
  }
}

}  // namespace

void ResolveConfigPaths(const fs::path& config_dir, bool check_paths, TrainConfig* config,
                        std::vector<std::string>* notes, ConfigProblems* problems) {
  config->config_dir = config_dir.lexically_normal().string();
  ResolveModelDir(config_dir, check_paths, "base_model", &config->base_model, notes, problems);
  ResolveModelDir(config_dir, check_paths, "lora_model_dir", &config->lora_model_dir, notes,
                  problems);
  for (size_t i = 0; i < config->datasets.size(); ++i) {
    ResolveDatasetPath(config_dir, check_paths, i, &config->datasets[i], problems);
  }
  config->output_dir = Resolve(config_dir, config->output_dir);
  config->dataset_prepared_path = Resolve(config_dir, config->dataset_prepared_path);
  if (!config->resume_from_checkpoint.empty()) {
    config->resume_from_checkpoint = Resolve(config_dir, config->resume_from_checkpoint);
    std::error_code ec;
    if (check_paths && !fs::is_directory(config->resume_from_checkpoint, ec)) {
      problems->Add("resume_from_checkpoint",
                    absl::StrCat("directory not found: ", config->resume_from_checkpoint));
    }
  }
}

}  // namespace lorad
