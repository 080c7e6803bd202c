#include "worker/config/hub_cache.h"

#include <cstdlib>
#include <system_error>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "worker/base/file_util.h"

namespace lorad {
namespace fs = std::filesystem;

namespace {

bool IsHubIdChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         c == '.' || c == '_' || c == '-';
}

bool IsHubIdPart(std::string_view part) {
  if (part.empty() || part.size() > 96) return false;
  if (part.front() == '.' || part.front() == '-') return false;
  if (part.find("..") != std::string_view::npos) return false;
  for (char c : part) {
    if (!IsHubIdChar(c)) return false;
  }
  return true;
}

std::string GetEnv(const char* name) {
  const char* v = std::getenv(name);
  return v == nullptr ? std::string() : std::string(v);
}

std::string DownloadHint(std::string_view repo_id) {
  return absl::StrCat("download it first with `huggingface-cli download ", std::string(repo_id),
                      "` (or `hf download ", std::string(repo_id),
                      "`), or give a local directory instead");
}

}  // namespace

bool LooksLikeHubId(std::string_view spec) {
  const size_t slash = spec.find('/');
  if (slash == std::string_view::npos) return false;
  if (spec.find('/', slash + 1) != std::string_view::npos) return false;
  return IsHubIdPart(spec.substr(0, slash)) && IsHubIdPart(spec.substr(slash + 1));
}

fs::path HubCacheDir() {
  // Same precedence as huggingface_hub's constants.py.
  if (std::string v = GetEnv("HF_HUB_CACHE"); !v.empty()) return fs::path(v);
  if (std::string v = GetEnv("HF_HOME"); !v.empty()) return fs::path(v) / "hub";
  if (std::string v = GetEnv("XDG_CACHE_HOME"); !v.empty()) {
    return fs::path(v) / "huggingface" / "hub";
  }
  std::string home = GetEnv("HOME");
  if (home.empty()) home = "/root";
  return fs::path(home) / ".cache" / "huggingface" / "hub";
}

absl::StatusOr<fs::path> ResolveHubModel(std::string_view repo_id) {
  if (!LooksLikeHubId(repo_id)) {
    return absl::InvalidArgumentError(
        absl::StrCat("\"", std::string(repo_id), "\" is not a hub id of the form org/name"));
  }
  const size_t slash = repo_id.find('/');
  const std::string folder = absl::StrCat("models--", std::string(repo_id.substr(0, slash)), "--",
                                          std::string(repo_id.substr(slash + 1)));
  const fs::path cache = HubCacheDir();
  const fs::path repo_dir = cache / folder;
  const fs::path snapshots = repo_dir / "snapshots";
  std::error_code ec;
  if (!fs::is_directory(snapshots, ec)) {
    return absl::NotFoundError(absl::StrCat("hub model ", std::string(repo_id),
                                            " is not in the local Hugging Face cache (",
                                            repo_dir.string(), "): ", DownloadHint(repo_id)));
  }
  // refs/main holds the commit hash the cache's "main" points to.
  auto ref = ReadFileToString(repo_dir / "refs" / "main", 4096);
  if (ref.ok()) {
    std::string rev = *ref;
    while (!rev.empty() && (rev.back() == '\n' || rev.back() == '\r' || rev.back() == ' ')) {
      rev.pop_back();
    }
    // A revision is a hex hash; refuse anything that could walk out of snapshots/.
    bool sane = !rev.empty() && rev.size() <= 128;
    for (char c : rev) sane = sane && IsHubIdChar(c) && c != '.';
    if (sane && fs::is_directory(snapshots / rev, ec)) return snapshots / rev;
    return absl::NotFoundError(absl::StrCat(
        "hub model ", std::string(repo_id), ": refs/main names snapshot \"", rev,
        "\" which is not in ", snapshots.string(), ": ", DownloadHint(repo_id)));
  }
  std::vector<fs::path> found;
  for (const auto& entry : fs::directory_iterator(snapshots, ec)) {
    if (entry.is_directory(ec)) found.push_back(entry.path());
  }
  if (found.empty()) {
    return absl::NotFoundError(absl::StrCat("hub model ", std::string(repo_id),
                                            " has no snapshot in ", snapshots.string(), ": ",
                                            DownloadHint(repo_id)));
  }
  if (found.size() > 1) {
    return absl::FailedPreconditionError(absl::StrCat(
        "hub model ", std::string(repo_id), " has ", found.size(), " snapshots in ",
        snapshots.string(),
        " and no refs/main to choose one: set base_model to the snapshot directory you mean"));
  }
  return found.front();
}

}  // namespace lorad
