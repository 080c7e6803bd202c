// Read-only mmapped safetensors files and multi-shard collections.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "worker/base/file_util.h"
#include "worker/base/status_macros.h"
#include "worker/formats/json_util.h"
#include "worker/formats/safetensors.h"

namespace lorad {
namespace fs = std::filesystem;
namespace {

// An index file is small JSON; anything bigger is not one.
constexpr uint64_t kMaxIndexBytes = 64ull << 20;

// Pickle-based weight files, which can execute code when loaded: never read.
bool IsPickleWeightFile(const fs::path& p) {
  std::string name = p.filename().string();
  std::string ext = p.extension().string();
  return ext == ".bin" || ext == ".pt" || ext == ".pth" || ext == ".ckpt" || ext == ".pkl" ||
         name == "pytorch_model.bin.index.json";
}

// A shard named in an index must be a plain file name in the same directory.
bool IsPlainFileName(const std::string& name) {
  return !name.empty() && name != "." && name != ".." && name.find('/') == std::string::npos &&
         name.find('\0') == std::string::npos;
}

}  // namespace

absl::StatusOr<std::unique_ptr<SafetensorsFile>> SafetensorsFile::Open(const fs::path& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoToStatus(errno, "open", path);
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    int err = errno;
    ::close(fd);
    return ErrnoToStatus(err, "stat", path);
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return absl::InvalidArgumentError(absl::StrCat(path.string(), ": not a regular file"));
  }
  size_t size = static_cast<size_t>(st.st_size);
  if (size < 8) {
    ::close(fd);
    return absl::InvalidArgumentError(absl::StrCat(
        path.string(), ": file is ", size, " bytes, too small for the 8-byte header length"));
  }
  // MAP_PRIVATE + PROT_READ: the weights are never written through the mapping,
  // and pages stay shared with the page cache (no copy until someone writes).
  void* map = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  int err = errno;
  ::close(fd);  // the mapping keeps the file alive
  if (map == MAP_FAILED) return ErrnoToStatus(err, "mmap", path);

  std::unique_ptr<SafetensorsFile> file(new SafetensorsFile());
  file->path_ = path;
  file->map_ = static_cast<const uint8_t*>(map);
  file->map_size_ = size;
  auto header = ParseSafetensorsHeader({file->map_, size}, path.string());
  if (!header.ok()) return header.status();
  file->header_ = std::move(*header);
  for (size_t i = 0; i < file->header_.tensors.size(); ++i) {
    file->index_.emplace(file->header_.tensors[i].name, i);
  }
  // Tensors are read once, front to back, when the model loads.
  ::madvise(map, size, MADV_SEQUENTIAL);
  return file;
}

SafetensorsFile::~SafetensorsFile() {
  if (map_ != nullptr) ::munmap(const_cast<uint8_t*>(map_), map_size_);
}

const TensorInfo* SafetensorsFile::Find(std::string_view name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &header_.tensors[it->second];
}

std::span<const uint8_t> SafetensorsFile::Data(const TensorInfo& info) const {
  return {map_ + header_.data_offset + info.begin, static_cast<size_t>(info.end - info.begin)};
}

void SafetensorsFile::ReleasePages(const TensorInfo& info) const {
  const uintptr_t page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  const uintptr_t begin = reinterpret_cast<uintptr_t>(map_ + header_.data_offset + info.begin);
  const uintptr_t end = reinterpret_cast<uintptr_t>(map_ + header_.data_offset + info.end);
  // The mapping is read-only and never written, so dropping a page loses
  // nothing (a neighbour sharing an edge page just reads it again).
  const uintptr_t first = begin / page * page, last = (end + page - 1) / page * page;
  if (last > first) ::madvise(reinterpret_cast<void*>(first), last - first, MADV_DONTNEED);
}

absl::StatusOr<std::unique_ptr<SafetensorsCollection>> SafetensorsCollection::OpenFile(
    const fs::path& path) {
  LORAD_ASSIGN_OR_RETURN(auto file, SafetensorsFile::Open(path));
  auto c = std::unique_ptr<SafetensorsCollection>(new SafetensorsCollection());
  for (const TensorInfo& t : file->header().tensors) c->entries_[t.name] = {file.get(), &t};
  c->files_.push_back(std::move(file));
  return c;
}

absl::StatusOr<std::unique_ptr<SafetensorsCollection>> SafetensorsCollection::OpenModelDir(
    const fs::path& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    return absl::NotFoundError(absl::StrCat(dir.string(), ": not a directory"));
  }
  fs::path index_path = dir / "model.safetensors.index.json";
  if (fs::exists(index_path, ec)) {
    LORAD_ASSIGN_OR_RETURN(std::string text, ReadFileToString(index_path, kMaxIndexBytes));
    LORAD_ASSIGN_OR_RETURN(nlohmann::json root, ParseJsonObject(text, index_path.string()));
    auto wm = root.find("weight_map");
    if (wm == root.end() || !wm->is_object() || wm->empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(index_path.string(), ": missing or empty \"weight_map\" object"));
    }
    auto c = std::unique_ptr<SafetensorsCollection>(new SafetensorsCollection());
    std::map<std::string, SafetensorsFile*> shards;
    for (auto it = wm->begin(); it != wm->end(); ++it) {
      if (!it->is_string() || !IsPlainFileName(it->get<std::string>())) {
        return absl::InvalidArgumentError(
            absl::StrCat(index_path.string(), ": weight_map[\"", it.key(),
                         "\"] must be a file name in the same directory, got ", JsonSnippet(*it)));
      }
      shards.emplace(it->get<std::string>(), nullptr);
    }
    for (auto& [name, ptr] : shards) {
      fs::path shard_path = dir / name;
      if (!fs::exists(shard_path, ec)) {
        return absl::NotFoundError(absl::StrCat(index_path.string(), " names shard ", name,
                                                ", which does not exist in ", dir.string()));
      }
      LORAD_ASSIGN_OR_RETURN(auto file, SafetensorsFile::Open(shard_path));
      ptr = file.get();
      for (const TensorInfo& t : file->header().tensors) {
        auto [pos, inserted] = c->entries_.emplace(t.name, Entry{file.get(), &t});
        if (!inserted) {
          return absl::InvalidArgumentError(
              absl::StrCat(dir.string(), ": tensor '", t.name, "' is stored in two shards: ",
                           pos->second.file->path().filename().string(), " and ", name));
        }
      }
      c->files_.push_back(std::move(file));
    }
    for (auto it = wm->begin(); it != wm->end(); ++it) {
      auto e = c->entries_.find(it.key());
      const std::string& shard = it->get_ref<const std::string&>();
      if (e == c->entries_.end() || e->second.file != shards[shard]) {
        return absl::InvalidArgumentError(absl::StrCat(index_path.string(), ": tensor '", it.key(),
                                                       "' is listed in shard ", shard,
                                                       " but that shard does not contain it"));
      }
    }
    return c;
  }
  fs::path single = dir / "model.safetensors";
  if (fs::exists(single, ec)) return OpenFile(single);

  std::vector<std::string> pickles;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    if (IsPickleWeightFile(e.path())) pickles.push_back(e.path().filename().string());
  }
  std::sort(pickles.begin(), pickles.end());
  if (!pickles.empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        dir.string(), " holds only pickle weights (", absl::StrJoin(pickles, ", "),
        "): pickle weights are not loaded; convert to safetensors (pickle files can execute "
        "code when loaded), e.g. with transformers' save_pretrained(safe_serialization=True)"));
  }
  return absl::NotFoundError(
      absl::StrCat(dir.string(), ": no model.safetensors or model.safetensors.index.json found"));
}

SafetensorsCollection::Entry SafetensorsCollection::Find(std::string_view name) const {
  auto it = entries_.find(name);
  return it == entries_.end() ? Entry{nullptr, nullptr} : it->second;
}

std::vector<std::string> SafetensorsCollection::Names() const {
  std::vector<std::string> out;
  out.reserve(entries_.size());
  for (const auto& [name, e] : entries_) out.push_back(name);
  return out;
}

uint64_t SafetensorsCollection::TotalBytes() const {
  uint64_t total = 0;
  for (const auto& [name, e] : entries_) total += e.info->end - e.info->begin;
  return total;
}

}  // namespace lorad
