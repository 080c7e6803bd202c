#include "worker/config/config_loader.h"

#include <set>
#include <system_error>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "worker/base/file_util.h"
#include "worker/base/status_macros.h"
#include "worker/config/config_overrides.h"
#include "worker/config/config_path_resolver.h"
#include "worker/config/config_problems.h"
#include "worker/config/train_config_reader.h"
#include "yaml-cpp/yaml.h"

namespace lorad {
namespace fs = std::filesystem;

namespace {

/// Line and column (1-based) of byte `offset` in `text`.
std::string LineColumn(std::string_view text, size_t offset) {
  size_t line = 1, column = 1;
  for (size_t i = 0; i < offset && i < text.size(); ++i) {
    if (text[i] == '\n') {
      ++line;
      column = 1;
    } else {
      ++column;
    }
  }
  return absl::StrCat("line ", line, ", column ", column);
}

}  // namespace

absl::StatusOr<LoadedConfig> ParseTrainConfig(std::string_view yaml_text,
                                              const fs::path& config_dir,
                                              const std::vector<std::string>& set_overrides,
                                              const ConfigLoadOptions& options) {
  if (yaml_text.size() > kMaxConfigYamlBytes) {
    return absl::InvalidArgumentError(absl::StrCat("the config is ", yaml_text.size(),
                                                   " bytes; at most ", kMaxConfigYamlBytes,
                                                   " allowed"));
  }
  if (size_t bad = ValidUtf8PrefixLength(yaml_text); bad != yaml_text.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("the config is not valid UTF-8 (", LineColumn(yaml_text, bad), ")"));
  }
  LoadedConfig loaded;
  loaded.source_yaml = std::string(yaml_text);
  ConfigProblems problems;
  try {
    YAML::Node root;
    try {
      root = YAML::Load(loaded.source_yaml);
    } catch (const YAML::ParserException& e) {
      return absl::InvalidArgumentError(absl::StrCat("malformed YAML at line ", e.mark.line + 1,
                                                     ", column ", e.mark.column + 1, ": ", e.msg));
    }
    std::set<std::string> overridden;
    for (const std::string& assignment : set_overrides) {
      if (!IsValidUtf8(assignment)) {
        problems.Add("--set", "override is not valid UTF-8");
        continue;
      }
      if (!root.IsNull() && root.IsDefined() && !root.IsMap()) break;  // reported below
      std::string key_path;
      absl::Status s = ApplySetOverride(root, assignment, &key_path);
      if (s.ok()) {
        overridden.insert(key_path);
      } else {
        problems.Add("", std::string(s.message()));
      }
    }
    if (!root.IsDefined() || root.IsNull()) {
      return absl::InvalidArgumentError(
          "the config is empty: expected a YAML mapping with at least base_model, datasets and "
          "learning_rate");
    }
    if (!root.IsMap()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "the config must be a YAML mapping of keys to values, got a ",
          root.IsSequence() ? "list" : "single value", " (line ", root.Mark().line + 1, ")"));
    }
    ReadTrainConfig(root, overridden, &loaded.config, &loaded.ignored_keys, &loaded.notes,
                    &problems);
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("the config could not be read (line ",
                                                   e.mark.line + 1, "): ", e.msg));
  }

  std::error_code ec;
  fs::path dir = config_dir.empty() ? fs::current_path(ec) : fs::absolute(config_dir, ec);
  if (ec) return absl::InvalidArgumentError(absl::StrCat("config folder: ", ec.message()));
  ResolveConfigPaths(dir, options.check_paths, &loaded.config, &loaded.notes, &problems);
  LORAD_RETURN_IF_ERROR(problems.ToStatus());
  return loaded;
}

absl::StatusOr<LoadedConfig> LoadTrainConfigFile(const fs::path& path,
                                                 const std::vector<std::string>& set_overrides,
                                                 const ConfigLoadOptions& options) {
  std::error_code ec;
  if (!fs::exists(path, ec)) {
    return absl::NotFoundError(absl::StrCat("config file not found: ", path.string()));
  }
  if (fs::is_directory(path, ec)) {
    return absl::InvalidArgumentError(
        absl::StrCat("config path is a directory, not a YAML file: ", path.string()));
  }
  auto text = ReadFileToString(path, kMaxConfigYamlBytes);
  if (!text.ok()) return text.status();
  const fs::path abs = fs::absolute(path, ec);
  auto loaded = ParseTrainConfig(*text, (ec ? path : abs).parent_path(), set_overrides, options);
  if (!loaded.ok()) {
    return absl::Status(loaded.status().code(),
                        absl::StrCat(path.string(), ":\n", loaded.status().message()));
  }
  return loaded;
}

}  // namespace lorad
