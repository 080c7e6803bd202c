// Header parsing and validation for safetensors, following the checks of the
// reference implementation (huggingface/safetensors src/tensor.rs) so that a
// file it refuses is refused here too, with a message naming file and tensor.
#include <algorithm>
#include <cstring>
#include <limits>
#include <set>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "worker/base/status_macros.h"
#include "worker/formats/json_util.h"
#include "worker/formats/safetensors.h"

namespace lorad {
namespace {

using nlohmann::json;

// As the reference: a larger header is refused before it is parsed.
constexpr uint64_t kMaxHeaderBytes = 100'000'000;

struct DTypeEntry {
  DType dtype;
  const char* name;
  size_t size;
};
constexpr DTypeEntry kDTypes[] = {
    {DType::kBool, "BOOL", 1}, {DType::kU8, "U8", 1},          {DType::kI8, "I8", 1},
    {DType::kI16, "I16", 2},   {DType::kU16, "U16", 2},        {DType::kF16, "F16", 2},
    {DType::kBF16, "BF16", 2}, {DType::kI32, "I32", 4},        {DType::kU32, "U32", 4},
    {DType::kF32, "F32", 4},   {DType::kF64, "F64", 8},        {DType::kI64, "I64", 8},
    {DType::kU64, "U64", 8},   {DType::kF8E4M3, "F8_E4M3", 1}, {DType::kF8E5M2, "F8_E5M2", 1},
};

absl::Status Invalid(std::string_view source, const std::string& msg) {
  return absl::InvalidArgumentError(absl::StrCat(std::string(source), ": ", msg));
}

// A JSON value that must be a non-negative integer (safetensors uses usize).
bool AsUnsigned(const json& v, uint64_t* out) {
  if (v.is_number_unsigned()) {
    *out = v.get<uint64_t>();
    return true;
  }
  if (v.is_number_integer() && v.get<int64_t>() >= 0) {
    *out = static_cast<uint64_t>(v.get<int64_t>());
    return true;
  }
  return false;
}

absl::StatusOr<TensorInfo> ParseTensorEntry(const std::string& name, const json& v,
                                            std::string_view source) {
  auto bad = [&](const std::string& msg) {
    return Invalid(source, absl::StrCat("tensor '", name, "': ", msg));
  };
  if (!v.is_object()) return bad("entry is not a JSON object");
  TensorInfo info;
  info.name = name;
  auto dt = v.find("dtype");
  if (dt == v.end() || !dt->is_string()) return bad("missing or non-string \"dtype\"");
  auto dtype = ParseDType(dt->get_ref<const std::string&>());
  if (!dtype.ok()) return bad(std::string(dtype.status().message()));
  info.dtype = *dtype;

  auto shape = v.find("shape");
  if (shape == v.end() || !shape->is_array()) return bad("missing or non-array \"shape\"");
  for (const json& d : *shape) {
    uint64_t dim = 0;
    if (!AsUnsigned(d, &dim) || dim > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      return bad(absl::StrCat("shape entry ", d.dump(), " is not a non-negative integer"));
    }
    info.shape.push_back(static_cast<int64_t>(dim));
  }

  auto offs = v.find("data_offsets");
  if (offs == v.end() || !offs->is_array() || offs->size() != 2 ||
      !AsUnsigned((*offs)[0], &info.begin) || !AsUnsigned((*offs)[1], &info.end)) {
    return bad("\"data_offsets\" must be [begin, end] with non-negative integers");
  }
  return info;
}

// Expected byte size of a tensor, or an error on overflow (a hostile header can
// claim shapes whose product wraps around).
absl::StatusOr<uint64_t> ByteSize(const TensorInfo& info, std::string_view source) {
  uint64_t n = 1;
  for (int64_t d : info.shape) {
    // Every partial product must fit int64 too: numel() multiplies in that order.
    if (__builtin_mul_overflow(n, static_cast<uint64_t>(d), &n) ||
        n > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      return Invalid(source, absl::StrCat("tensor '", info.name, "': shape overflows"));
    }
  }
  uint64_t bytes = 0;
  if (__builtin_mul_overflow(n, static_cast<uint64_t>(DTypeSize(info.dtype)), &bytes) ||
      n > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
    return Invalid(source, absl::StrCat("tensor '", info.name, "': byte size overflows"));
  }
  return bytes;
}

}  // namespace

absl::StatusOr<DType> ParseDType(std::string_view name) {
  for (const auto& e : kDTypes) {
    if (name == e.name) return e.dtype;
  }
  return absl::InvalidArgumentError(absl::StrCat("unknown dtype \"", std::string(name), "\""));
}

std::string_view DTypeName(DType dtype) {
  for (const auto& e : kDTypes) {
    if (e.dtype == dtype) return e.name;
  }
  return "?";
}

size_t DTypeSize(DType dtype) {
  for (const auto& e : kDTypes) {
    if (e.dtype == dtype) return e.size;
  }
  return 0;
}

int64_t TensorInfo::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;  // validated against overflow when parsed
  return n;
}

absl::StatusOr<SafetensorsHeader> ParseSafetensorsHeader(std::span<const uint8_t> file_bytes,
                                                         std::string_view source) {
  if (file_bytes.size() < 8) {
    return Invalid(source, absl::StrCat("file is ", file_bytes.size(),
                                        " bytes, too small for the 8-byte header length"));
  }
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | file_bytes[static_cast<size_t>(i)];
  if (n > kMaxHeaderBytes) {
    return Invalid(source, absl::StrCat("header length ", n, " exceeds the limit of ",
                                        kMaxHeaderBytes, " bytes"));
  }
  if (8 + n > file_bytes.size()) {
    return Invalid(source, absl::StrCat("header length ", n, " runs past the end of the file (",
                                        file_bytes.size(), " bytes); truncated file?"));
  }
  std::string_view text(reinterpret_cast<const char*>(file_bytes.data()) + 8,
                        static_cast<size_t>(n));
  if (text.empty() || text.front() != '{') {
    return Invalid(source, "header does not start with '{' (not a safetensors file?)");
  }
  auto root_or = ParseJsonObject(text, source, /*reject_duplicate_top_keys=*/true);
  if (!root_or.ok()) return root_or.status();
  const json& root = *root_or;

  SafetensorsHeader header;
  header.data_offset = 8 + n;
  for (auto it = root.begin(); it != root.end(); ++it) {
    if (it.key() == "__metadata__") {
      if (it->is_null()) continue;
      if (!it->is_object()) return Invalid(source, "\"__metadata__\" is not an object");
      for (auto m = it->begin(); m != it->end(); ++m) {
        if (!m->is_string()) {
          return Invalid(
              source, absl::StrCat("\"__metadata__\" value for \"", m.key(), "\" is not a string"));
        }
        header.metadata[m.key()] = m->get<std::string>();
      }
      continue;
    }
    LORAD_ASSIGN_OR_RETURN(TensorInfo info, ParseTensorEntry(it.key(), *it, source));
    header.tensors.push_back(std::move(info));
  }

  // The reference sorts by (begin, end) and then requires a gap-free tiling.
  std::sort(header.tensors.begin(), header.tensors.end(),
            [](const TensorInfo& a, const TensorInfo& b) {
              return std::tie(a.begin, a.end, a.name) < std::tie(b.begin, b.end, b.name);
            });
  uint64_t pos = 0;
  for (const TensorInfo& t : header.tensors) {
    if (t.begin != pos || t.end < t.begin) {
      return Invalid(source, absl::StrCat("tensor '", t.name, "': data_offsets [", t.begin, ", ",
                                          t.end, "] do not start where the previous tensor ends (",
                                          pos, "): hole or overlap"));
    }
    LORAD_ASSIGN_OR_RETURN(uint64_t bytes, ByteSize(t, source));
    if (t.end - t.begin != bytes) {
      return Invalid(source, absl::StrCat("tensor '", t.name,
                                          "': ", std::string(DTypeName(t.dtype)), " shape needs ",
                                          bytes, " bytes but data_offsets span ", t.end - t.begin));
    }
    pos = t.end;
  }
  uint64_t data_bytes = file_bytes.size() - header.data_offset;
  if (pos != data_bytes) {
    return Invalid(source, absl::StrCat("tensors cover ", pos, " data bytes but the file holds ",
                                        data_bytes, " after the header (truncated or padded?)"));
  }
  return header;
}

}  // namespace lorad
