#include "worker/model/merge_adapter.h"

#include <torch/torch.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "nlohmann/json.hpp"
#include "worker/base/file_util.h"
#include "worker/base/status_macros.h"
#include "worker/checkpoint/adapter_reader.h"
#include "worker/formats/json_util.h"
#include "worker/formats/model_config.h"
#include "worker/formats/safetensors_stream_writer.h"
#include "worker/model/model_layout.h"
#include "worker/model/tensor_io.h"

namespace lorad {
namespace fs = std::filesystem;
namespace {

// Files of an HF model directory besides the weights that a merged model needs
// to load and run as the base did.
constexpr const char* kCopiedFiles[] = {
    "generation_config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "tokenizer.model",
    "vocab.json",
    "merges.txt",
    "added_tokens.json",
    "chat_template.jinja",
};

bool IsFloat(DType d) {
  return d == DType::kF32 || d == DType::kF16 || d == DType::kBF16 || d == DType::kF64;
}

std::string TorchDtypeName(DType d) {
  switch (d) {
    case DType::kBF16:
      return "bfloat16";
    case DType::kF16:
      return "float16";
    default:
      return "float32";
  }
}

absl::StatusOr<DType> DtypeFromConfigName(const std::string& name, const fs::path& config) {
  if (name == "float32") return DType::kF32;
  if (name == "bfloat16") return DType::kBF16;
  if (name == "float16") return DType::kF16;
  return absl::InvalidArgumentError(absl::StrCat(config.string(), ": torch_dtype \"", name,
                                                 "\" is not float32, bfloat16 or float16; "
                                                 "choose the output with --dtype"));
}

/// One tensor of the merged model and where it comes from.
struct OutTensor {
  std::string name;
  const SafetensorsFile* file = nullptr;
  const TensorInfo* info = nullptr;
  DType dtype = DType::kF32;  // written dtype
  uint64_t bytes = 0;
  const LoraPair* lora = nullptr;  // set for an adapted linear's weight
};

/// transformers (huggingface_hub split_torch_state_dict_into_shards): tensors
/// in order; a shard closes when the next tensor would overflow it; a tensor
/// larger than the limit gets a shard of its own.
std::vector<std::vector<size_t>> PlanShards(const std::vector<OutTensor>& tensors, uint64_t max) {
  std::vector<std::vector<size_t>> shards;
  std::vector<size_t> current;
  uint64_t size = 0;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const uint64_t b = tensors[i].bytes;
    if (b > max) {
      shards.push_back({i});
      continue;
    }
    if (!current.empty() && size + b > max) {
      shards.push_back(std::move(current));
      current.clear();
      size = 0;
    }
    current.push_back(i);
    size += b;
  }
  if (!current.empty()) shards.push_back(std::move(current));
  return shards;
}

std::string ShardName(size_t index, size_t count) {
  if (count == 1) return "model.safetensors";
  return absl::StrFormat("model-%05d-of-%05d.safetensors", index + 1, count);
}

bool IsWeightFile(const std::string& name) {
  return name == "model.safetensors.index.json" ||
         (name.rfind("model", 0) == 0 && name.size() > 12 &&
          name.compare(name.size() - 12, 12, ".safetensors") == 0);
}

/// Removes the temporary directory unless released.
class TempDirGuard {
 public:
  explicit TempDirGuard(fs::path dir) : dir_(std::move(dir)) {}
  ~TempDirGuard() {
    if (dir_.empty()) return;
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  TempDirGuard(const TempDirGuard&) = delete;
  TempDirGuard& operator=(const TempDirGuard&) = delete;
  void Release() { dir_.clear(); }

 private:
  fs::path dir_;
};

bool SamePath(const fs::path& a, const fs::path& b) {
  std::error_code ec1, ec2;
  const fs::path ca = fs::weakly_canonical(a, ec1), cb = fs::weakly_canonical(b, ec2);
  return !ec1 && !ec2 && ca == cb;
}

absl::Status CheckOutDir(const MergeOptions& o) {
  if (o.out_dir.empty()) return absl::InvalidArgumentError("--out DIR is required");
  if (SamePath(o.out_dir, o.model_dir) || SamePath(o.out_dir, o.adapter_dir)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--out ", o.out_dir.string(), " is an input directory; merge into a new directory"));
  }
  std::error_code ec;
  if (!fs::exists(o.out_dir, ec)) return absl::OkStatus();
  if (!fs::is_directory(o.out_dir, ec)) {
    return absl::FailedPreconditionError(
        absl::StrCat("--out ", o.out_dir.string(), " exists and is not a directory"));
  }
  if (!fs::is_empty(o.out_dir, ec) && !o.force) {
    return absl::FailedPreconditionError(absl::StrCat(
        "--out ", o.out_dir.string(), " is not empty; choose another directory or pass --force"));
  }
  return absl::OkStatus();
}

/// The merged model's tensors in transformers' state-dict order (then any
/// extra stored tensors, sorted), each with its source and written dtype.
absl::StatusOr<std::vector<OutTensor>> PlanTensors(const ModelConfig& config,
                                                   const SafetensorsCollection& weights,
                                                   const AdapterWeights& adapter, DType dtype,
                                                   const fs::path& model_dir) {
  std::vector<OutTensor> out;
  std::set<std::string> planned;
  auto add = [&](const std::string& name) {
    SafetensorsCollection::Entry e = weights.Find(name);
    OutTensor t;
    t.name = name;
    t.file = e.file;
    t.info = e.info;
    t.dtype = IsFloat(e.info->dtype) ? dtype : e.info->dtype;
    t.bytes = static_cast<uint64_t>(e.info->numel()) * DTypeSize(t.dtype);
    out.push_back(std::move(t));
    planned.insert(name);
  };
  for (const TensorShape& want : ExpectedTensorShapes(config)) {
    SafetensorsCollection::Entry e = weights.Find(want.name);
    if (e.file == nullptr) {
      return absl::NotFoundError(absl::StrCat(model_dir.string(), ": the weights lack tensor '",
                                              want.name, "' (needed by ", config.architecture_name,
                                              " with this config)"));
    }
    if (e.info->shape != want.shape || !IsFloat(e.info->dtype)) {
      return absl::InvalidArgumentError(absl::StrCat(
          e.file->path().string(), ": tensor '", want.name, "' has dtype ",
          std::string(DTypeName(e.info->dtype)), " and a shape other than config.json implies"));
    }
    add(want.name);
  }
  std::vector<std::string> extra;
  for (const std::string& name : weights.Names()) {
    if (!planned.count(name)) extra.push_back(name);
  }
  std::sort(extra.begin(), extra.end());
  for (const std::string& name : extra) add(name);

  std::map<std::string, size_t> index;
  for (size_t i = 0; i < out.size(); ++i) index[out[i].name] = i;
  for (const auto& [module, pair] : adapter.modules) {
    auto it = index.find(module + ".weight");
    if (it == index.end()) {
      return absl::NotFoundError(absl::StrCat("adapted module ", module, " has no ", module,
                                              ".weight in ", model_dir.string()));
    }
    out[it->second].lora = &pair;
  }
  return out;
}

/// Writes one tensor of the merged model; for an adapted linear W + s·B·A in
/// fp32, rounded once to the output dtype.
absl::Status WriteTensor(const OutTensor& t, const SafetensorsFile& adapter_file,
                         SafetensorsStreamWriter& writer) {
  if (t.lora == nullptr && t.dtype == t.info->dtype) {
    LORAD_RETURN_IF_ERROR(writer.Write(t.name, t.file->Data(*t.info)));
    t.file->ReleasePages(*t.info);
    return absl::OkStatus();
  }
  LORAD_ASSIGN_OR_RETURN(torch::Dtype out_dtype, TorchDtypeFor(t.dtype));
  torch::Tensor result;
  try {
    if (t.lora != nullptr) {
      LORAD_ASSIGN_OR_RETURN(torch::Tensor w, LoadTensor(*t.file, *t.info, torch::kFloat32));
      // An F32 tensor may be a read-only view of the mapping: own it first.
      if (t.info->dtype == DType::kF32) w = w.clone();
      LORAD_ASSIGN_OR_RETURN(torch::Tensor a, LoadTensor(adapter_file, t.lora->a, torch::kFloat32));
      LORAD_ASSIGN_OR_RETURN(torch::Tensor b, LoadTensor(adapter_file, t.lora->b, torch::kFloat32));
      w.addmm_(b, a, /*beta=*/1.0, /*alpha=*/t.lora->scaling);
      result = w.to(out_dtype).contiguous();
    } else {
      LORAD_ASSIGN_OR_RETURN(torch::Tensor w, LoadTensor(*t.file, *t.info, out_dtype));
      result = w.contiguous();
    }
  } catch (const c10::Error& e) {
    return absl::InternalError(
        absl::StrCat("merging tensor '", t.name, "': ", e.what_without_backtrace()));
  }
  LORAD_RETURN_IF_ERROR(
      writer.Write(t.name, std::span<const uint8_t>(static_cast<const uint8_t*>(result.data_ptr()),
                                                    static_cast<size_t>(result.nbytes()))));
  t.file->ReleasePages(*t.info);
  if (t.lora != nullptr) {
    adapter_file.ReleasePages(t.lora->a);
    adapter_file.ReleasePages(t.lora->b);
  }
  return absl::OkStatus();
}

/// config.json as the base has it (unknown keys kept), with the new dtype.
absl::Status WriteConfig(const fs::path& model_dir, const fs::path& dir, DType dtype) {
  const fs::path src = model_dir / "config.json";
  LORAD_ASSIGN_OR_RETURN(std::string text, ReadFileToString(src, 64 << 20));
  LORAD_ASSIGN_OR_RETURN(nlohmann::json root, ParseJsonObject(text, src.string()));
  root["torch_dtype"] = TorchDtypeName(dtype);
  if (root.contains("dtype")) root["dtype"] = TorchDtypeName(dtype);  // transformers v5 spelling
  return WriteFileDurably(dir / "config.json", root.dump(2) + "\n");
}

/// Moves the finished temporary directory to out_dir: a rename when out_dir is
/// absent or empty; with --force into an existing directory, file by file,
/// then the old model's weight files that the new one does not have go.
absl::Status MoveIntoPlace(const fs::path& tmp, const fs::path& out,
                           const std::vector<std::string>& weight_files) {
  std::error_code ec;
  if (fs::exists(out, ec) && fs::is_empty(out, ec)) fs::remove(out, ec);
  if (!fs::exists(out, ec)) {
    fs::rename(tmp, out, ec);
    if (ec) return ErrnoToStatus(ec.value(), "rename to " + out.string(), tmp);
    return FsyncDirectory(out.parent_path().empty() ? fs::path(".") : out.parent_path());
  }
  const std::set<std::string> fresh(weight_files.begin(), weight_files.end());
  for (const auto& entry : fs::directory_iterator(out, ec)) {
    const std::string name = entry.path().filename().string();
    if (IsWeightFile(name) && !fresh.count(name) && entry.is_regular_file()) {
      fs::remove(entry.path(), ec);
      if (ec) return ErrnoToStatus(ec.value(), "remove stale weights", entry.path());
    }
  }
  for (const auto& entry : fs::directory_iterator(tmp, ec)) {
    fs::rename(entry.path(), out / entry.path().filename(), ec);
    if (ec) return ErrnoToStatus(ec.value(), "move into " + out.string(), entry.path());
  }
  fs::remove(tmp, ec);
  return FsyncDirectory(out);
}

}  // namespace

absl::StatusOr<MergeReport> MergeAdapter(
    const MergeOptions& options, const std::function<void(const MergeProgress&)>& on_shard) {
  if (options.dtype && *options.dtype != DType::kF32 && *options.dtype != DType::kBF16 &&
      *options.dtype != DType::kF16) {
    return absl::InvalidArgumentError("the merged dtype must be f32, bf16 or f16");
  }
  if (options.max_shard_bytes == 0) {
    return absl::InvalidArgumentError("the shard size must be positive");
  }
  std::error_code ec;
  if (!fs::is_directory(options.model_dir, ec)) {
    return absl::NotFoundError(
        absl::StrCat("model directory ", options.model_dir.string(), " does not exist"));
  }
  if (!fs::is_directory(options.adapter_dir, ec)) {
    return absl::NotFoundError(
        absl::StrCat("adapter directory ", options.adapter_dir.string(), " does not exist"));
  }
  LORAD_RETURN_IF_ERROR(CheckOutDir(options));
  LORAD_ASSIGN_OR_RETURN(ModelConfig config, LoadModelConfig(options.model_dir));
  LORAD_ASSIGN_OR_RETURN(AdapterWeights adapter, ReadAdapterDir(options.adapter_dir));
  std::map<std::string, std::pair<int64_t, int64_t>> shapes;
  for (const LinearModule& m : AdaptableLinears(config))
    shapes[m.path] = {m.in_features, m.out_features};
  if (auto s = ValidateAdapterForModel(adapter, shapes); !s.ok()) {
    return absl::Status(s.code(), absl::StrCat(options.adapter_dir.string(), ": ", s.message()));
  }
  MergeReport report;
  if (options.dtype) {
    report.dtype = *options.dtype;
  } else {
    LORAD_ASSIGN_OR_RETURN(
        report.dtype, DtypeFromConfigName(config.torch_dtype, options.model_dir / "config.json"));
  }
  LORAD_ASSIGN_OR_RETURN(std::unique_ptr<SafetensorsCollection> weights,
                         SafetensorsCollection::OpenModelDir(options.model_dir));
  LORAD_ASSIGN_OR_RETURN(std::vector<OutTensor> tensors,
                         PlanTensors(config, *weights, adapter, report.dtype, options.model_dir));
  const std::vector<std::vector<size_t>> shards = PlanShards(tensors, options.max_shard_bytes);

  // "DIR/" names DIR: the temporary sibling must not land inside it.
  const fs::path out =
      options.out_dir.filename().empty() ? options.out_dir.parent_path() : options.out_dir;
  const fs::path tmp = (out.parent_path().empty() ? fs::path(".") : out.parent_path()) /
                       absl::StrCat(".", out.filename().string(), ".merge-", ::getpid());
  fs::remove_all(tmp, ec);
  fs::create_directories(tmp, ec);
  if (ec) return ErrnoToStatus(ec.value(), "create directory", tmp);
  TempDirGuard guard(tmp);

  nlohmann::json weight_map = nlohmann::json::object();
  for (size_t s = 0; s < shards.size(); ++s) {
    const std::string file_name = ShardName(s, shards.size());
    std::vector<TensorSpec> specs;
    std::map<std::string, const OutTensor*> by_name;
    uint64_t shard_bytes = 0;
    for (size_t i : shards[s]) {
      const OutTensor& t = tensors[i];
      specs.push_back({t.name, t.dtype, t.info->shape});
      by_name[t.name] = &t;
      weight_map[t.name] = file_name;
      shard_bytes += t.bytes;
    }
    LORAD_ASSIGN_OR_RETURN(auto writer,
                           SafetensorsStreamWriter::Create(tmp / file_name, std::move(specs)));
    for (const TensorSpec& spec : writer->order()) {
      // Checked per tensor: a shard of a large model takes minutes to write.
      if (options.stop != nullptr && options.stop->load()) {
        return absl::CancelledError(absl::StrCat("merge stopped in shard ", s + 1, " of ",
                                                 shards.size(), "; ", out.string(),
                                                 " was not written"));
      }
      const OutTensor& t = *by_name.at(spec.name);
      LORAD_RETURN_IF_ERROR(WriteTensor(t, *adapter.file, *writer));
      ++report.tensors;
      if (t.lora != nullptr) ++report.merged_modules;
    }
    LORAD_RETURN_IF_ERROR(writer->Finish());
    report.total_bytes += shard_bytes;
    report.weight_files.push_back(file_name);
    if (on_shard) {
      on_shard(
          {static_cast<int>(s + 1), static_cast<int>(shards.size()), out / file_name, shard_bytes});
    }
  }
  if (shards.size() > 1) {
    nlohmann::json index = {{"metadata", {{"total_size", report.total_bytes}}},
                            {"weight_map", weight_map}};
    LORAD_RETURN_IF_ERROR(
        WriteFileDurably(tmp / "model.safetensors.index.json", index.dump(2) + "\n"));
    report.weight_files.push_back("model.safetensors.index.json");
  }
  LORAD_RETURN_IF_ERROR(WriteConfig(options.model_dir, tmp, report.dtype));
  report.copied_files.push_back("config.json");
  for (const char* name : kCopiedFiles) {
    const fs::path src = options.model_dir / name;
    if (!fs::is_regular_file(src, ec)) continue;
    LORAD_ASSIGN_OR_RETURN(std::string bytes, ReadFileToString(src));
    LORAD_RETURN_IF_ERROR(WriteFileDurably(tmp / name, bytes));
    report.copied_files.push_back(name);
  }
  LORAD_RETURN_IF_ERROR(FsyncDirectory(tmp));
  LORAD_RETURN_IF_ERROR(MoveIntoPlace(tmp, out, report.weight_files));
  guard.Release();
  return report;
}

}  // namespace lorad
