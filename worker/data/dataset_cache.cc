#include "worker/data/dataset_cache.h"

#include <array>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "worker/base/file_util.h"
#include "worker/base/sha256.h"
#include "worker/base/status_macros.h"

namespace lorad {
namespace {

constexpr char kMagic[8] = {'L', 'O', 'R', 'A', 'D', 'T', 'O', 'K'};
constexpr uint32_t kVersion = 1;
constexpr size_t kFingerprintLen = 64;
constexpr size_t kHeaderLen = 8 + 4 + 4 + kFingerprintLen + 8;
constexpr size_t kChecksumLen = 32;

void PutU32(std::string* out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}
void PutU64(std::string* out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}

// Bounds-checked little-endian reader over the payload.
class Reader {
 public:
  Reader(const char* p, size_t n) : p_(reinterpret_cast<const uint8_t*>(p)), n_(n) {}
  bool U32(uint32_t* v) {
    if (n_ - pos_ < 4) return false;
    *v = 0;
    for (int i = 0; i < 4; ++i) *v |= static_cast<uint32_t>(p_[pos_ + i]) << (8 * i);
    pos_ += 4;
    return true;
  }
  bool U64(uint64_t* v) {
    if (n_ - pos_ < 8) return false;
    *v = 0;
    for (int i = 0; i < 8; ++i) *v |= static_cast<uint64_t>(p_[pos_ + i]) << (8 * i);
    pos_ += 8;
    return true;
  }
  size_t left() const { return n_ - pos_; }
  bool done() const { return pos_ == n_; }

 private:
  const uint8_t* p_;
  size_t n_;
  size_t pos_ = 0;
};

void PutSplit(std::string* out, const std::vector<Sample>& samples) {
  PutU64(out, samples.size());
  for (const Sample& s : samples) {
    PutU32(out, static_cast<uint32_t>(s.input_ids.size()));
    for (int32_t id : s.input_ids) PutU32(out, static_cast<uint32_t>(id));
    for (int32_t l : s.labels) PutU32(out, static_cast<uint32_t>(l));
  }
}

bool GetSplit(Reader* r, int64_t max_sample_len, std::vector<Sample>* samples) {
  uint64_t n = 0;
  // Every sample takes at least 4 bytes: bound the count before reserving.
  if (!r->U64(&n) || n > r->left() / 4) return false;
  samples->resize(n);
  for (Sample& s : *samples) {
    uint32_t len = 0;
    if (!r->U32(&len) || len > static_cast<uint64_t>(max_sample_len) ||
        uint64_t{len} * 8 > r->left()) {
      return false;
    }
    s.input_ids.resize(len);
    s.labels.resize(len);
    uint32_t v = 0;
    for (auto& id : s.input_ids) {
      r->U32(&v);
      id = static_cast<int32_t>(v);
    }
    for (auto& l : s.labels) {
      r->U32(&v);
      l = static_cast<int32_t>(v);
    }
  }
  return true;
}

}  // namespace

std::filesystem::path DatasetCache::PathFor(const std::string& fingerprint) const {
  return dir_ / (fingerprint + ".tokens");
}

std::string DatasetCache::Encode(const std::string& fingerprint, const CachedData& data) {
  std::string payload;
  const DataBuildReport& c = data.counters;
  const std::array<int64_t, 6> counters = {c.records,       c.bad_lines_skipped, c.samples,
                                           c.truncated,     c.dropped_short,
                                           c.dropped_untrainable};
  PutU64(&payload, counters.size());
  for (int64_t v : counters) PutU64(&payload, static_cast<uint64_t>(v));
  PutSplit(&payload, data.train);
  PutSplit(&payload, data.eval);

  std::string out(kMagic, sizeof(kMagic));
  PutU32(&out, kVersion);
  PutU32(&out, 0);
  std::string fp = fingerprint;
  fp.resize(kFingerprintLen, ' ');
  out += fp;
  PutU64(&out, payload.size());
  out += payload;
  Sha256 h;
  h.Update(payload);
  std::array<uint8_t, 32> digest = h.Finish();
  out.append(reinterpret_cast<const char*>(digest.data()), digest.size());
  return out;
}

absl::StatusOr<CachedData> DatasetCache::Decode(const std::string& bytes,
                                                const std::string& fingerprint,
                                                int64_t max_sample_len) {
  auto corrupt = [](const std::string& why) {
    return absl::DataLossError(absl::StrCat("tokenized-data cache: ", why));
  };
  if (bytes.size() < kHeaderLen + kChecksumLen) return corrupt("file too short");
  if (std::memcmp(bytes.data(), kMagic, sizeof(kMagic)) != 0) return corrupt("bad magic");
  Reader header(bytes.data() + 8, kHeaderLen - 8);
  uint32_t version = 0, reserved = 0;
  header.U32(&version);
  header.U32(&reserved);
  if (version != kVersion) return corrupt(absl::StrCat("unsupported version ", version));
  std::string fp = bytes.substr(16, kFingerprintLen);
  std::string want = fingerprint;
  want.resize(kFingerprintLen, ' ');
  if (fp != want) return corrupt("written for another fingerprint");
  Reader len_reader(bytes.data() + 16 + kFingerprintLen, 8);
  uint64_t payload_len = 0;
  len_reader.U64(&payload_len);
  if (payload_len != bytes.size() - kHeaderLen - kChecksumLen) return corrupt("size mismatch");
  const char* payload = bytes.data() + kHeaderLen;
  Sha256 h;
  h.Update(payload, payload_len);
  std::array<uint8_t, 32> digest = h.Finish();
  if (std::memcmp(digest.data(), payload + payload_len, kChecksumLen) != 0) {
    return corrupt("checksum mismatch");
  }
  Reader r(payload, payload_len);
  uint64_t n_counters = 0;
  if (!r.U64(&n_counters) || n_counters != 6) return corrupt("bad counters");
  std::array<int64_t, 6> counters{};
  for (int64_t& v : counters) {
    uint64_t u = 0;
    if (!r.U64(&u)) return corrupt("truncated counters");
    v = static_cast<int64_t>(u);
  }
  CachedData data;
  data.counters.records = counters[0];
  data.counters.bad_lines_skipped = counters[1];
  data.counters.samples = counters[2];
  data.counters.truncated = counters[3];
  data.counters.dropped_short = counters[4];
  data.counters.dropped_untrainable = counters[5];
  if (!GetSplit(&r, max_sample_len, &data.train) || !GetSplit(&r, max_sample_len, &data.eval) ||
      !r.done()) {
    return corrupt("malformed samples");
  }
  return data;
}

absl::StatusOr<CachedData> DatasetCache::Load(const std::string& fingerprint,
                                              int64_t max_sample_len) const {
  const std::filesystem::path path = PathFor(fingerprint);
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    return absl::NotFoundError(absl::StrCat("no cache file ", path.string()));
  }
  LORAD_ASSIGN_OR_RETURN(std::string bytes, ReadFileToString(path, uint64_t{64} << 30));
  return Decode(bytes, fingerprint, max_sample_len);
}

absl::Status DatasetCache::Store(const std::string& fingerprint, const CachedData& data) const {
  std::error_code ec;
  std::filesystem::create_directories(dir_, ec);
  if (ec) {
    return absl::UnavailableError(
        absl::StrCat("cannot create cache directory ", dir_.string(), ": ", ec.message()));
  }
  return WriteFileAtomically(PathFor(fingerprint), Encode(fingerprint, data));
}

}  // namespace lorad
