#include "worker/formats/safetensors.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "worker/base/file_util.h"

namespace lorad {
namespace {

namespace fs = std::filesystem;

std::span<const uint8_t> Bytes(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

// A file made by hand: length prefix + header text + `data_bytes` zero bytes.
std::string RawFile(const std::string& header, size_t data_bytes) {
  std::string out(8, '\0');
  uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  return out + header + std::string(data_bytes, '\0');
}

class SafetensorsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("lorad_st_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

TEST(SafetensorsHeaderTest, AcceptsMinimalAndSpacePaddedHeaders) {
  auto h = ParseSafetensorsHeader(Bytes(RawFile("{}", 0)), "x");
  ASSERT_TRUE(h.ok()) << h.status();
  EXPECT_TRUE(h->tensors.empty());
  EXPECT_EQ(h->data_offset, 10u);
  std::string hdr = R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  hdr += "     ";
  auto h2 = ParseSafetensorsHeader(Bytes(RawFile(hdr, 8)), "x");
  ASSERT_TRUE(h2.ok()) << h2.status();
  ASSERT_EQ(h2->tensors.size(), 1u);
  EXPECT_EQ(h2->tensors[0].numel(), 2);
}

TEST(SafetensorsHeaderTest, SortsByOffsetAndAcceptsRankZeroAndEmpty) {
  std::string hdr = R"({"z":{"dtype":"I64","shape":[],"data_offsets":[0,8]},)"
                    R"("a":{"dtype":"F16","shape":[3],"data_offsets":[8,14]},)"
                    R"("e":{"dtype":"BF16","shape":[0,5],"data_offsets":[14,14]}})";
  auto h = ParseSafetensorsHeader(Bytes(RawFile(hdr, 14)), "x");
  ASSERT_TRUE(h.ok()) << h.status();
  ASSERT_EQ(h->tensors.size(), 3u);
  EXPECT_EQ(h->tensors[0].name, "z");
  EXPECT_EQ(h->tensors[0].numel(), 1);
  EXPECT_EQ(h->tensors[1].name, "a");
  EXPECT_EQ(h->tensors[2].name, "e");
  EXPECT_EQ(h->tensors[2].numel(), 0);
}

struct BadCase {
  const char* what;
  std::string file;
  const char* expect_in_message;
};

TEST(SafetensorsHeaderTest, RefusesHostileAndBrokenHeaders) {
  std::string huge_len(8, '\0');
  uint64_t n = 100'000'001;
  for (int i = 0; i < 8; ++i) huge_len[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  std::string past_end = RawFile("{}", 0);
  past_end[0] = 50;
  const std::string t1 = R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  std::vector<BadCase> cases = {
      {"short", "abc", "too small"},
      {"huge header length", huge_len + "{}", "exceeds the limit"},
      {"header past end", past_end, "runs past the end"},
      {"not an object start", RawFile("[1,2]", 0), "does not start with '{'"},
      {"invalid json", RawFile("{\"a\":", 0), "invalid JSON"},
      {"duplicate",
       RawFile(R"({"t":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
               R"("t":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
               8),
       "duplicate key \"t\""},
      {"unknown dtype", RawFile(R"({"t":{"dtype":"F128","shape":[1],"data_offsets":[0,16]}})", 16),
       "unknown dtype"},
      {"negative dim", RawFile(R"({"t":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", 4),
       "tensor 't': shape entry -1"},
      {"float dim", RawFile(R"({"t":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}})", 4),
       "shape entry 1.5"},
      {"overflow",
       RawFile(R"({"t":{"dtype":"F32","shape":[4294967296,4294967296],)"
               R"("data_offsets":[0,4]}})",
               4),
       "tensor 't': shape overflows"},
      {"partial product overflow",
       RawFile(R"({"t":{"dtype":"F32","shape":[4294967296,2147483648,0],"data_offsets":[0,0]}})",
               0),
       "tensor 't': shape overflows"},
      {"size mismatch", RawFile(R"({"t":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8),
       "needs 12 bytes but data_offsets span 8"},
      {"hole", RawFile(R"({"t":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", 8),
       "hole or overlap"},
      {"overlap",
       RawFile(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
               R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
               12),
       "tensor 'b'"},
      {"trailing data", RawFile(t1, 9), "file holds 9"},
      {"truncated data", RawFile(t1, 7), "file holds 7"},
      {"metadata value", RawFile(R"({"__metadata__":{"k":1}})", 0), "not a string"},
      {"offsets arity", RawFile(R"({"t":{"dtype":"F32","shape":[1],"data_offsets":[0]}})", 4),
       "data_offsets"},
      {"missing dtype", RawFile(R"({"t":{"shape":[1],"data_offsets":[0,4]}})", 4), "dtype"},
      {"deep nesting",
       RawFile("{\"__metadata__\":" + std::string(200, '[') + std::string(200, ']') + "}", 0),
       "nested deeper"},
      // A header that claims a 1 TB tensor in a small file: refused from the
      // offsets alone, nothing is allocated for it.
      {"1TB claim",
       RawFile(R"({"t":{"dtype":"F32","shape":[274877906944],)"
               R"("data_offsets":[0,1099511627776]}})",
               16),
       "tensors cover 1099511627776 data bytes"},
  };
  for (const BadCase& c : cases) {
    auto h = ParseSafetensorsHeader(Bytes(c.file), "bad.safetensors");
    ASSERT_FALSE(h.ok()) << c.what;
    EXPECT_EQ(h.status().code(), absl::StatusCode::kInvalidArgument) << c.what;
    std::string msg(h.status().message());
    EXPECT_NE(msg.find("bad.safetensors"), std::string::npos) << c.what << ": " << msg;
    EXPECT_NE(msg.find(c.expect_in_message), std::string::npos) << c.what << ": " << msg;
  }
}

TEST(SafetensorsHeaderTest, DTypeNamesRoundTrip) {
  for (const char* name : {"BOOL", "U8", "I8", "I16", "U16", "F16", "BF16", "I32", "U32", "F32",
                           "F64", "I64", "U64", "F8_E4M3", "F8_E5M2"}) {
    auto d = ParseDType(name);
    ASSERT_TRUE(d.ok()) << name;
    EXPECT_EQ(DTypeName(*d), name);
    EXPECT_GT(DTypeSize(*d), 0u);
  }
  EXPECT_EQ(DTypeSize(DType::kBF16), 2u);
  EXPECT_EQ(DTypeSize(DType::kF64), 8u);
  EXPECT_FALSE(ParseDType("f32").ok());
}

TEST_F(SafetensorsTest, WriterRoundTripsSortedPaddedWithDefaultMetadata) {
  std::vector<float> w = {1.f, 2.f, 3.f, 4.f, 5.f, 6.f};
  std::vector<int64_t> ids = {-1, 1ll << 50};
  double scalar = 2.5;
  std::vector<TensorBlob> blobs = {
      {"zeta.weight", DType::kF32, {2, 3}, {reinterpret_cast<uint8_t*>(w.data()), 24}},
      {"alpha", DType::kI64, {2}, {reinterpret_cast<uint8_t*>(ids.data()), 16}},
      {"mid.scalar", DType::kF64, {}, {reinterpret_cast<uint8_t*>(&scalar), 8}},
      {"empty", DType::kBF16, {0, 7}, {}},
  };
  fs::path p = dir_ / "t.safetensors";
  ASSERT_TRUE(WriteSafetensors(p, blobs).ok());
  auto raw = ReadFileToString(p);
  ASSERT_TRUE(raw.ok());
  uint64_t n = 0;
  std::memcpy(&n, raw->data(), 8);
  EXPECT_EQ(n % 8, 0u);
  std::string header = raw->substr(8, n);
  // Keys sorted: metadata first, then tensors by name in offset order.
  EXPECT_EQ(header.find(R"({"__metadata__":{"format":"pt"},"alpha":)"), 0u) << header;
  EXPECT_LT(header.find("\"empty\""), header.find("\"mid.scalar\""));
  EXPECT_LT(header.find("\"mid.scalar\""), header.find("\"zeta.weight\""));

  auto f = SafetensorsFile::Open(p);
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ((*f)->header().metadata.at("format"), "pt");
  const TensorInfo* zw = (*f)->Find("zeta.weight");
  ASSERT_NE(zw, nullptr);
  EXPECT_EQ(zw->shape, (std::vector<int64_t>{2, 3}));
  auto data = (*f)->Data(*zw);
  ASSERT_EQ(data.size(), 24u);
  EXPECT_EQ(std::memcmp(data.data(), w.data(), 24), 0);
  // The reference writer's padding keeps data aligned for mmapped views.
  EXPECT_EQ(reinterpret_cast<uintptr_t>(data.data()) % 4, 0u);
  const TensorInfo* a = (*f)->Find("alpha");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(std::memcmp((*f)->Data(*a).data(), ids.data(), 16), 0);
  const TensorInfo* s = (*f)->Find("mid.scalar");
  ASSERT_NE(s, nullptr);
  EXPECT_TRUE(s->shape.empty());
  EXPECT_EQ(std::memcmp((*f)->Data(*s).data(), &scalar, 8), 0);
  ASSERT_NE((*f)->Find("empty"), nullptr);
  EXPECT_EQ((*f)->Data(*(*f)->Find("empty")).size(), 0u);
  EXPECT_EQ((*f)->Find("nope"), nullptr);
}

TEST_F(SafetensorsTest, WriterKeepsGivenMetadataAndRefusesBadBlobs) {
  float v = 1;
  std::vector<TensorBlob> ok = {{"x", DType::kF32, {1}, {reinterpret_cast<uint8_t*>(&v), 4}}};
  std::string s = SerializeSafetensors(ok, {{"step", "12"}});
  auto h = ParseSafetensorsHeader(Bytes(s), "mem");
  ASSERT_TRUE(h.ok()) << h.status();
  EXPECT_EQ(h->metadata.at("step"), "12");
  EXPECT_EQ(h->metadata.count("format"), 0u);

  std::vector<TensorBlob> wrong_size = {
      {"x", DType::kF32, {2}, {reinterpret_cast<uint8_t*>(&v), 4}}};
  auto st = WriteSafetensors(dir_ / "bad.safetensors", wrong_size);
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(std::string(st.message()).find("tensor 'x'"), std::string::npos) << st;
  std::vector<TensorBlob> dup = {ok[0], ok[0]};
  EXPECT_FALSE(WriteSafetensors(dir_ / "dup.safetensors", dup).ok());
  EXPECT_TRUE(SerializeSafetensors(dup).empty());
}

TEST_F(SafetensorsTest, ReadsFileWrittenByPython) {
  fs::path p = dir_ / "py.safetensors";
  std::string cmd = std::string("python3 ") + LORAD_SOURCE_DIR +
                    "/tests/formats/write_safetensors.py " + p.string();
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  auto f = SafetensorsFile::Open(p);
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ((*f)->header().metadata.at("writer"), "python");
  const TensorInfo* b = (*f)->Find("b.weight");
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->dtype, DType::kF32);
  float vals[6];
  std::memcpy(vals, (*f)->Data(*b).data(), 24);  // unaligned header: copy, as the glue does
  EXPECT_FLOAT_EQ(vals[0], 1.0f);
  EXPECT_FLOAT_EQ(vals[2], 3.5f);
  EXPECT_FLOAT_EQ(vals[5], 1e-3f);
  const TensorInfo* a = (*f)->Find("a.bias");
  ASSERT_NE(a, nullptr);
  int64_t ints[2];
  std::memcpy(ints, (*f)->Data(*a).data(), 16);
  EXPECT_EQ(ints[0], -7);
  EXPECT_EQ(ints[1], int64_t{1} << 40);
  const TensorInfo* sc = (*f)->Find("scalar");
  ASSERT_NE(sc, nullptr);
  EXPECT_TRUE(sc->shape.empty());
  double d;
  std::memcpy(&d, (*f)->Data(*sc).data(), 8);
  EXPECT_DOUBLE_EQ(d, 3.141592653589793);
  ASSERT_NE((*f)->Find("empty"), nullptr);
  EXPECT_EQ((*f)->Find("empty")->numel(), 0);
  EXPECT_EQ((*f)->Find("half")->dtype, DType::kF16);
}

TEST_F(SafetensorsTest, PythonReadsOurFile) {
  std::vector<float> w = {0.5f, -1.25f};
  std::vector<int64_t> i = {42};
  fs::path p = dir_ / "ours.safetensors";
  ASSERT_TRUE(
      WriteSafetensors(p, {{"w", DType::kF32, {2}, {reinterpret_cast<uint8_t*>(w.data()), 8}},
                           {"i", DType::kI64, {1, 1}, {reinterpret_cast<uint8_t*>(i.data()), 8}}})
          .ok());
  fs::path out = dir_ / "out.jsonl";
  std::string cmd = std::string("python3 ") + LORAD_SOURCE_DIR +
                    "/tests/formats/read_safetensors.py " + p.string() + " > " + out.string();
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  auto text = ReadFileToString(out);
  ASSERT_TRUE(text.ok());
  EXPECT_NE(text->find(R"({"metadata": {"format": "pt"}})"), std::string::npos) << *text;
  EXPECT_NE(text->find(R"({"name": "i", "dtype": "I64", "shape": [1, 1], "values": [42]})"),
            std::string::npos)
      << *text;
  EXPECT_NE(text->find(R"({"name": "w", "dtype": "F32", "shape": [2], "values": [0.5, -1.25]})"),
            std::string::npos)
      << *text;
}

TEST_F(SafetensorsTest, OpenRefusesMissingEmptyAndDirectory) {
  EXPECT_EQ(SafetensorsFile::Open(dir_ / "missing.safetensors").status().code(),
            absl::StatusCode::kNotFound);
  ASSERT_TRUE(WriteFileDurably(dir_ / "empty.safetensors", "").ok());
  auto e = SafetensorsFile::Open(dir_ / "empty.safetensors");
  EXPECT_FALSE(e.ok());
  EXPECT_NE(std::string(e.status().message()).find("empty.safetensors"), std::string::npos);
  EXPECT_FALSE(SafetensorsFile::Open(dir_).ok());
}

}  // namespace
}  // namespace lorad
