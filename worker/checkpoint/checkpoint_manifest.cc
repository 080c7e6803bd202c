#include "worker/checkpoint/checkpoint_manifest.h"

#include <algorithm>
#include <set>

#include "absl/strings/str_cat.h"
#include "worker/base/sha256.h"
#include "worker/base/status_macros.h"
#include "worker/formats/json_util.h"

namespace lorad {
namespace fs = std::filesystem;
namespace {

// A manifest lists a handful of files; far more means it is not ours.
constexpr size_t kMaxManifestFiles = 100000;

bool IsSafeRelativeName(const std::string& name) {
  if (name.empty() || name.size() > 4096 || name.front() == '/' ||
      name.find('\0') != std::string::npos || name.find('\\') != std::string::npos) {
    return false;
  }
  size_t start = 0;
  while (start <= name.size()) {
    size_t end = name.find('/', start);
    if (end == std::string::npos) end = name.size();
    std::string_view part(name.data() + start, end - start);
    if (part.empty() || part == "." || part == "..") return false;
    start = end + 1;
  }
  return true;
}

bool IsHexDigest(const std::string& s) {
  return s.size() == 64 && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

}  // namespace

absl::StatusOr<CheckpointManifest> ParseCheckpointManifest(std::string_view json_text,
                                                           std::string_view source) {
  LORAD_ASSIGN_OR_RETURN(nlohmann::json root, ParseJsonObject(json_text, source));
  JsonFields f(root, source);
  CheckpointManifest m;
  LORAD_ASSIGN_OR_RETURN(auto format, f.String("format"));
  if (format.value_or("") != kCheckpointManifestFormat) {
    return f.Error("format", absl::StrCat("expected \"", kCheckpointManifestFormat, "\""));
  }
  LORAD_ASSIGN_OR_RETURN(auto version, f.Int("format_version"));
  if (!version || *version != kCheckpointFormatVersion) {
    return f.Error("format_version",
                   absl::StrCat("this build reads version ", kCheckpointFormatVersion));
  }
  m.format_version = static_cast<int>(*version);
  LORAD_ASSIGN_OR_RETURN(auto complete, f.Bool("complete"));
  m.complete = complete.value_or(false);
  LORAD_ASSIGN_OR_RETURN(auto name, f.String("name"));
  m.name = name.value_or("");
  auto files = root.find("files");
  if (files == root.end() || !files->is_array()) return f.Error("files", "expected a list");
  if (files->size() > kMaxManifestFiles) return f.Error("files", "too many entries");
  std::set<std::string> seen;
  for (const auto& e : *files) {
    if (!e.is_object()) return f.Error("files", "entries must be objects");
    JsonFields ef(e, absl::StrCat(std::string(source), " files[]"));
    LORAD_ASSIGN_OR_RETURN(auto fname, ef.String("name"));
    LORAD_ASSIGN_OR_RETURN(auto size, ef.Int("size"));
    LORAD_ASSIGN_OR_RETURN(auto sha, ef.String("sha256"));
    if (!fname || !IsSafeRelativeName(*fname) || *fname == kCheckpointManifestFile) {
      return ef.Error("name", absl::StrCat("not a safe relative file name: ",
                                           JsonSnippet(e.value("name", nlohmann::json()))));
    }
    if (!size || *size < 0)
      return ef.Error("size", absl::StrCat("missing or negative for ", *fname));
    if (!sha || !IsHexDigest(*sha)) {
      return ef.Error("sha256", absl::StrCat("not a lowercase hex SHA-256 for ", *fname));
    }
    if (!seen.insert(*fname).second) return f.Error("files", absl::StrCat(*fname, " listed twice"));
    m.files.push_back({*fname, static_cast<uint64_t>(*size), *sha});
  }
  std::sort(m.files.begin(), m.files.end(),
            [](const ManifestEntry& a, const ManifestEntry& b) { return a.name < b.name; });
  return m;
}

std::string CheckpointManifestToJson(const CheckpointManifest& m) {
  nlohmann::ordered_json j;
  j["format"] = kCheckpointManifestFormat;
  j["format_version"] = m.format_version;
  j["name"] = m.name;
  nlohmann::ordered_json files = nlohmann::ordered_json::array();
  for (const ManifestEntry& e : m.files) {
    files.push_back({{"name", e.name}, {"size", e.size}, {"sha256", e.sha256}});
  }
  j["files"] = std::move(files);
  // Last key: a reader that somehow saw a prefix of this file cannot parse it.
  j["complete"] = m.complete;
  return j.dump(2) + "\n";
}

absl::StatusOr<std::vector<ManifestEntry>> ScanCheckpointFiles(const fs::path& dir,
                                                               bool with_checksums) {
  std::vector<ManifestEntry> out;
  std::error_code ec;
  fs::recursive_directory_iterator it(dir, fs::directory_options::none, ec), end;
  if (ec)
    return absl::NotFoundError(absl::StrCat("cannot list ", dir.string(), ": ", ec.message()));
  for (; it != end; it.increment(ec)) {
    if (ec) return absl::InternalError(absl::StrCat("listing ", dir.string(), ": ", ec.message()));
    const fs::directory_entry& e = *it;
    fs::file_status st = e.symlink_status(ec);
    if (fs::is_directory(st)) continue;
    std::string rel = fs::relative(e.path(), dir, ec).generic_string();
    if (rel == kCheckpointManifestFile) continue;
    if (!fs::is_regular_file(st)) {
      return absl::InvalidArgumentError(
          absl::StrCat(e.path().string(),
                       ": not a regular file (symlinks are not allowed in a "
                       "checkpoint)"));
    }
    std::string sha;
    if (with_checksums) {
      LORAD_ASSIGN_OR_RETURN(sha, Sha256File(e.path()));
    }
    uint64_t size = fs::file_size(e.path(), ec);
    if (ec)
      return absl::InternalError(absl::StrCat("stat ", e.path().string(), ": ", ec.message()));
    out.push_back({rel, size, sha});
  }
  std::sort(out.begin(), out.end(),
            [](const ManifestEntry& a, const ManifestEntry& b) { return a.name < b.name; });
  return out;
}

}  // namespace lorad
