#include "worker/config/config_path_policy.h"

#include <filesystem>
#include <system_error>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "worker/config/config_problems.h"

namespace lorad {
namespace fs = std::filesystem;

namespace {

/// Symlinks resolved for the part that exists; the rest normalised lexically.
fs::path Canonical(const std::string& p) {
  std::error_code ec;
  fs::path c = fs::weakly_canonical(fs::path(p), ec);
  if (ec) return fs::path(p).lexically_normal();
  return c;
}

/// True when `inner` is `outer` or lies below it (component-wise, so /data2 is
/// not inside /data).
bool IsWithin(const fs::path& inner, const fs::path& outer) {
  auto i = inner.begin();
  for (auto o = outer.begin(); o != outer.end(); ++o) {
    if (o->empty()) continue;  // trailing slash
    if (i == inner.end() || *i != *o) return false;
    ++i;
  }
  return true;
}

/// Adds a problem when `value` is relative, or lies outside every root.
void CheckOnePath(const std::string& key, const std::string& value,
                  const std::vector<std::string>& allowed_roots, ConfigProblems& problems) {
  if (value.empty()) return;
  if (!fs::path(value).is_absolute()) {
    problems.Add(key,
                 absl::StrCat("must be an absolute path after resolution, got \"", value, "\""));
    return;
  }
  std::vector<fs::path> roots;
  for (const std::string& r : allowed_roots) {
    if (!r.empty()) roots.push_back(Canonical(r));
  }
  if (roots.empty()) return;
  const fs::path real = Canonical(value);
  bool inside = false;
  for (const fs::path& root : roots) inside = inside || IsWithin(real, root);
  if (inside) return;
  std::string shown_roots;
  for (const fs::path& root : roots) {
    absl::StrAppend(&shown_roots, shown_roots.empty() ? "" : ", ", root.string());
  }
  problems.Add(key, absl::StrCat(value,
                                 real.string() != value
                                     ? absl::StrCat(" (resolves to ", real.string(), ")")
                                     : std::string(),
                                 " is outside the allowed roots (", shown_roots, ")"));
}

}  // namespace

absl::Status CheckPathUnderRoots(const std::string& key, const std::string& path,
                                 const std::vector<std::string>& allowed_roots) {
  ConfigProblems problems;
  if (path.empty()) problems.Add(key, "empty");
  CheckOnePath(key, path, allowed_roots, problems);
  return problems.ToStatus();
}

bool PathsOverlap(const std::string& a, const std::string& b) {
  if (a.empty() || b.empty()) return false;
  const fs::path ca = Canonical(a);
  const fs::path cb = Canonical(b);
  return IsWithin(ca, cb) || IsWithin(cb, ca);
}

bool PathWithin(const std::string& inner, const std::string& outer) {
  if (inner.empty() || outer.empty()) return false;
  return IsWithin(Canonical(inner), Canonical(outer));
}

size_t ValidUtf8PrefixLength(std::string_view s) {
  size_t i = 0;
  const size_t n = s.size();
  while (i < n) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    size_t len = 0;
    uint32_t cp = 0;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      len = 2;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4;
      cp = c & 0x07;
    } else {
      return i;
    }
    if (i + len > n) return i;
    for (size_t k = 1; k < len; ++k) {
      const unsigned char cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return i;
      cp = (cp << 6) | (cc & 0x3F);
    }
    // Overlong forms, UTF-16 surrogates and code points past U+10FFFF are invalid.
    static constexpr uint32_t kMinForLength[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMinForLength[len] || (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF) return i;
    i += len;
  }
  return n;
}

bool IsValidUtf8(std::string_view s) { return ValidUtf8PrefixLength(s) == s.size(); }

absl::Status CheckPathsUnderRoots(const TrainConfig& config,
                                  const std::vector<std::string>& allowed_roots) {
  ConfigProblems problems;
  std::vector<std::pair<std::string, std::string>> paths = {{"base_model", config.base_model},
                                                            {"output_dir", config.output_dir}};
  for (size_t i = 0; i < config.datasets.size(); ++i) {
    paths.emplace_back(absl::StrCat("datasets[", i, "].path"), config.datasets[i].path);
  }
  paths.emplace_back("lora_model_dir", config.lora_model_dir);
  paths.emplace_back("resume_from_checkpoint", config.resume_from_checkpoint);
  paths.emplace_back("dataset_prepared_path", config.dataset_prepared_path);

  for (const auto& [key, value] : paths) CheckOnePath(key, value, allowed_roots, problems);
  if (!config.output_dir.empty() && !config.base_model.empty()) {
    const fs::path out = Canonical(config.output_dir);
    const fs::path model = Canonical(config.base_model);
    if (IsWithin(out, model) || IsWithin(model, out)) {
      problems.Add("output_dir", absl::StrCat(config.output_dir,
                                              " overlaps the base model's directory ",
                                              config.base_model,
                                              ": training output must not be written there"));
    }
  }
  return problems.ToStatus();
}

}  // namespace lorad
