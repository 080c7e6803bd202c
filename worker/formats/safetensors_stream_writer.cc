#include "worker/formats/safetensors_stream_writer.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <set>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "worker/base/file_util.h"

namespace lorad {

absl::StatusOr<SafetensorsLayout> SafetensorsLayout::Make(
    std::vector<TensorSpec> tensors, const std::map<std::string, std::string>& metadata) {
  std::sort(tensors.begin(), tensors.end(),
            [](const TensorSpec& a, const TensorSpec& b) { return a.name < b.name; });
  SafetensorsLayout layout;
  std::set<std::string_view> names;
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  nlohmann::ordered_json meta = nlohmann::ordered_json::object();
  if (metadata.empty()) {
    meta["format"] = "pt";
  } else {
    for (const auto& [k, v] : metadata) meta[k] = v;
  }
  header["__metadata__"] = std::move(meta);
  for (const TensorSpec& t : tensors) {
    if (t.name.empty() || t.name == "__metadata__") {
      return absl::InvalidArgumentError(absl::StrCat("invalid tensor name \"", t.name, "\""));
    }
    if (!names.insert(t.name).second) {
      return absl::InvalidArgumentError(absl::StrCat("tensor '", t.name, "' given twice"));
    }
    uint64_t n = 1;
    for (int64_t d : t.shape) {
      if (d < 0 || __builtin_mul_overflow(n, static_cast<uint64_t>(d), &n)) {
        return absl::InvalidArgumentError(absl::StrCat("tensor '", t.name, "': invalid shape"));
      }
    }
    uint64_t bytes = 0, end = 0;
    if (__builtin_mul_overflow(n, DTypeSize(t.dtype), &bytes) ||
        __builtin_add_overflow(layout.data_bytes, bytes, &end)) {
      return absl::InvalidArgumentError(absl::StrCat("tensor '", t.name, "': size overflows"));
    }
    header[t.name] = {{"dtype", std::string(DTypeName(t.dtype))},
                      {"shape", t.shape},
                      {"data_offsets", {layout.data_bytes, end}}};
    layout.sizes.push_back(bytes);
    layout.data_bytes = end;
  }
  std::string json = header.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
  json.append((8 - json.size() % 8) % 8, ' ');
  const uint64_t n = json.size();
  layout.header.reserve(8 + json.size());
  for (int i = 0; i < 8; ++i) layout.header.push_back(static_cast<char>((n >> (8 * i)) & 0xff));
  layout.header += json;
  layout.order = std::move(tensors);
  return layout;
}

absl::StatusOr<std::unique_ptr<SafetensorsStreamWriter>> SafetensorsStreamWriter::Create(
    const std::filesystem::path& path, std::vector<TensorSpec> tensors,
    const std::map<std::string, std::string>& metadata) {
  auto layout = SafetensorsLayout::Make(std::move(tensors), metadata);
  if (!layout.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(path.string(), ": ", layout.status().message()));
  }
  std::unique_ptr<SafetensorsStreamWriter> w(new SafetensorsStreamWriter());
  w->path_ = path;
  w->layout_ = std::move(*layout);
  w->fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (w->fd_ < 0) return ErrnoToStatus(errno, "create", path);
  const std::string& header = w->layout_.header;
  if (auto s = WriteAllToFd(w->fd_, header, path); !s.ok()) return s;
  return w;
}

SafetensorsStreamWriter::~SafetensorsStreamWriter() {
  if (fd_ >= 0) ::close(fd_);
}

absl::Status SafetensorsStreamWriter::Write(std::string_view name, std::span<const uint8_t> data) {
  if (fd_ < 0) return absl::FailedPreconditionError(absl::StrCat(path_.string(), ": closed"));
  if (next_ >= layout_.order.size() || layout_.order[next_].name != name) {
    return absl::FailedPreconditionError(absl::StrCat(
        path_.string(), ": tensor '", std::string(name), "' written out of order (expected '",
        next_ < layout_.order.size() ? layout_.order[next_].name : "<none>", "')"));
  }
  if (data.size() != layout_.sizes[next_]) {
    return absl::InvalidArgumentError(absl::StrCat(path_.string(), ": tensor '", std::string(name),
                                                   "': ", data.size(),
                                                   " bytes given, shape and "
                                                   "dtype need ",
                                                   layout_.sizes[next_]));
  }
  const std::string_view bytes(reinterpret_cast<const char*>(data.data()), data.size());
  if (auto s = WriteAllToFd(fd_, bytes, path_); !s.ok()) return s;
  ++next_;
  return absl::OkStatus();
}

absl::Status SafetensorsStreamWriter::Finish() {
  if (fd_ < 0) return absl::FailedPreconditionError(absl::StrCat(path_.string(), ": closed"));
  if (next_ != layout_.order.size()) {
    return absl::FailedPreconditionError(
        absl::StrCat(path_.string(), ": ", layout_.order.size() - next_,
                     " tensor(s) not written, next '", layout_.order[next_].name, "'"));
  }
  const int fd = fd_;
  fd_ = -1;
  if (::fsync(fd) != 0) {
    const int err = errno;
    ::close(fd);
    return ErrnoToStatus(err, "fsync", path_);
  }
  if (::close(fd) != 0) return ErrnoToStatus(errno, "close", path_);
  return absl::OkStatus();
}

}  // namespace lorad
