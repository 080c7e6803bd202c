#include "worker/checkpoint/adapter_reader.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>

#include "worker/base/file_util.h"

namespace lorad {
namespace {

namespace fs = std::filesystem;

// An adapter directory built by hand from PEFT's documented format (safetensors
// bytes assembled here, not by lorad's writer): keys
// base_model.model.<module>.lora_A.weight [r, in] and .lora_B.weight [out, r].
struct HandTensor {
  std::string key;
  std::vector<int64_t> shape;
  float fill;
};

std::string HandSafetensors(const std::vector<HandTensor>& tensors) {
  std::string header = "{";
  std::string data;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const HandTensor& t = tensors[i];
    int64_t n = 1;
    std::string shape;
    for (size_t d = 0; d < t.shape.size(); ++d) {
      n *= t.shape[d];
      shape += (d ? "," : "") + std::to_string(t.shape[d]);
    }
    size_t begin = data.size();
    for (int64_t k = 0; k < n; ++k) {
      float v = t.fill + 0.01f * static_cast<float>(k);
      data.append(reinterpret_cast<const char*>(&v), 4);
    }
    header += (i ? "," : "") + std::string("\"") + t.key + R"(":{"dtype":"F32","shape":[)" + shape +
              "],\"data_offsets\":[" + std::to_string(begin) + "," + std::to_string(data.size()) +
              "]}";
  }
  header += "}";
  std::string out(8, '\0');
  uint64_t len = header.size();
  std::memcpy(out.data(), &len, 8);  // little-endian host
  return out + header + data;
}

constexpr const char* kConfig = R"({"peft_type":"LORA","task_type":"CAUSAL_LM",
  "base_model_name_or_path":"org/tiny","r":2,"lora_alpha":4,"lora_dropout":0.0,
  "target_modules":["q_proj","v_proj"],"bias":"none","fan_in_fan_out":false,
  "use_rslora":false,"use_dora":false,"modules_to_save":null,"init_lora_weights":true,
  "rank_pattern":{},"alpha_pattern":{"v_proj":8}})";

class AdapterReaderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("lorad_adapter_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  void Make(const std::string& config, const std::vector<HandTensor>& tensors) {
    ASSERT_TRUE(WriteFileDurably(dir_ / "adapter_config.json", config).ok());
    ASSERT_TRUE(
        WriteFileDurably(dir_ / "adapter_model.safetensors", HandSafetensors(tensors)).ok());
  }
  std::vector<HandTensor> Standard(const std::string& prefix, const std::string& infix) {
    return {{prefix + "model.layers.0.self_attn.q_proj.lora_A" + infix + ".weight", {2, 8}, 0.5f},
            {prefix + "model.layers.0.self_attn.q_proj.lora_B" + infix + ".weight", {8, 2}, 0.0f},
            {prefix + "model.layers.1.self_attn.v_proj.lora_A" + infix + ".weight", {2, 8}, 1.0f},
            {prefix + "model.layers.1.self_attn.v_proj.lora_B" + infix + ".weight", {4, 2}, 2.0f}};
  }
  std::map<std::string, std::pair<int64_t, int64_t>> Model() {
    return {{"model.layers.0.self_attn.q_proj", {8, 8}},
            {"model.layers.0.self_attn.v_proj", {8, 4}},
            {"model.layers.1.self_attn.q_proj", {8, 8}},
            {"model.layers.1.self_attn.v_proj", {8, 4}}};
  }
  fs::path dir_;
};

TEST_F(AdapterReaderTest, ReadsPeftAdapterBuiltByHand) {
  Make(kConfig, Standard("base_model.model.", ""));
  auto a = ReadAdapterDir(dir_);
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->config.r, 2);
  ASSERT_EQ(a->modules.size(), 2u);
  const LoraPair& q = a->modules.at("model.layers.0.self_attn.q_proj");
  EXPECT_EQ(q.a.shape, (std::vector<int64_t>{2, 8}));
  EXPECT_EQ(q.b.shape, (std::vector<int64_t>{8, 2}));
  EXPECT_EQ(q.rank, 2);
  EXPECT_DOUBLE_EQ(q.alpha, 4);
  EXPECT_DOUBLE_EQ(q.scaling, 2.0);  // alpha / r
  float first;
  std::memcpy(&first, q.a_data.data() + 4, 4);
  EXPECT_FLOAT_EQ(first, 0.51f);
  const LoraPair& v = a->modules.at("model.layers.1.self_attn.v_proj");
  EXPECT_DOUBLE_EQ(v.alpha, 8);  // alpha_pattern
  EXPECT_DOUBLE_EQ(v.scaling, 4.0);
  EXPECT_EQ(v.b_data.size(), 4u * 2 * 4);
  EXPECT_TRUE(ValidateAdapterForModel(*a, Model()).ok());
}

TEST_F(AdapterReaderTest, NormalisesAdapterNameAndClassPrefixes) {
  for (const auto& [prefix, infix] : std::vector<std::pair<std::string, std::string>>{
           {"base_model.model.", ".default"}, {"", ""}, {"base_model.model.", ".my_adapter"}}) {
    Make(kConfig, Standard(prefix, infix));
    auto a = ReadAdapterDir(dir_);
    ASSERT_TRUE(a.ok()) << prefix << infix << ": " << a.status();
    EXPECT_EQ(a->modules.count("model.layers.0.self_attn.q_proj"), 1u) << prefix << infix;
  }
  // Saved from the bare decoder: "base_model.model.layers.0..." (no "model.").
  std::vector<HandTensor> bare = {
      {"base_model.model.layers.0.self_attn.q_proj.lora_A.weight", {2, 8}, 0.f},
      {"base_model.model.layers.0.self_attn.q_proj.lora_B.weight", {8, 2}, 0.f}};
  Make(kConfig, bare);
  auto a = ReadAdapterDir(dir_);
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->modules.count("model.layers.0.self_attn.q_proj"), 1u);
}

TEST_F(AdapterReaderTest, RefusesUnknownKeysAndBadShapes) {
  auto t = Standard("base_model.model.", "");
  t.push_back({"base_model.model.model.embed_tokens.weight", {4, 2}, 0.f});
  t.push_back({"base_model.model.model.layers.0.self_attn.q_proj.lora_magnitude_vector", {8}, 0.f});
  Make(kConfig, t);
  auto a = ReadAdapterDir(dir_);
  ASSERT_FALSE(a.ok());
  std::string msg(a.status().message());
  EXPECT_NE(msg.find("model.embed_tokens.weight"), std::string::npos) << msg;
  EXPECT_NE(msg.find("lora_magnitude_vector"), std::string::npos) << msg;

  Make(kConfig, {{"base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight", {2, 8}, 0.f},
                 {"base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight", {8, 3}, 0.f}});
  a = ReadAdapterDir(dir_);
  ASSERT_FALSE(a.ok());
  EXPECT_NE(std::string(a.status().message()).find("do not pair up"), std::string::npos);

  Make(kConfig, {{"base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight", {2, 8}, 0.f}});
  a = ReadAdapterDir(dir_);
  ASSERT_FALSE(a.ok());
  EXPECT_NE(std::string(a.status().message()).find("has only lora_A"), std::string::npos);

  Make(kConfig, {{"base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight", {3, 8}, 0.f},
                 {"base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight", {8, 3}, 0.f}});
  a = ReadAdapterDir(dir_);
  ASSERT_FALSE(a.ok());
  EXPECT_NE(std::string(a.status().message()).find("rank 3 in the weights but 2"),
            std::string::npos)
      << a.status();
}

TEST_F(AdapterReaderTest, RefusesUnsupportedPeftOptionsByName) {
  struct Case {
    const char* option;
    const char* expect;
  };
  std::vector<Case> cases = {{R"("use_dora":true)", "use_dora"},
                             {R"("modules_to_save":["lm_head"])", "modules_to_save"},
                             {R"("bias":"all")", "bias"},
                             {R"("fan_in_fan_out":true)", "fan_in_fan_out"},
                             {R"("init_lora_weights":"pissa_niter_4")", "pissa"},
                             {R"("lora_bias":true)", "lora_bias"},
                             {R"("layer_replication":[[0,2]])", "layer_replication"}};
  for (const Case& c : cases) {
    std::string config =
        std::string(R"({"peft_type":"LORA","r":2,"target_modules":["q_proj"],)") + c.option + "}";
    Make(config, Standard("base_model.model.", ""));
    auto a = ReadAdapterDir(dir_);
    ASSERT_FALSE(a.ok()) << c.option;
    EXPECT_EQ(a.status().code(), absl::StatusCode::kUnimplemented) << c.option;
    EXPECT_NE(std::string(a.status().message()).find(c.expect), std::string::npos) << a.status();
  }
  // gaussian / false only change the initialisation, not the loaded math.
  Make(R"({"peft_type":"LORA","r":2,"lora_alpha":4,"init_lora_weights":"gaussian",)"
       R"("alpha_pattern":{"v_proj":8}})",
       Standard("base_model.model.", ""));
  EXPECT_TRUE(ReadAdapterDir(dir_).ok());
}

TEST_F(AdapterReaderTest, RefusesPickleAndMissingFiles) {
  EXPECT_EQ(ReadAdapterDir(dir_).status().code(), absl::StatusCode::kNotFound);
  ASSERT_TRUE(WriteFileDurably(dir_ / "adapter_model.bin", "\x80\x02").ok());
  auto a = ReadAdapterDir(dir_);
  EXPECT_EQ(a.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(std::string(a.status().message()).find("adapter_model.bin"), std::string::npos);
  fs::remove(dir_ / "adapter_model.bin");
  ASSERT_TRUE(WriteFileDurably(dir_ / "adapter_config.json", kConfig).ok());
  a = ReadAdapterDir(dir_);
  EXPECT_EQ(a.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(std::string(a.status().message()).find("adapter_model.safetensors"), std::string::npos);
}

TEST_F(AdapterReaderTest, ValidationNamesBothSides) {
  Make(kConfig, Standard("base_model.model.", ""));
  auto a = ReadAdapterDir(dir_);
  ASSERT_TRUE(a.ok());
  auto model = Model();
  model["model.layers.0.self_attn.q_proj"] = {16, 16};
  model.erase("model.layers.1.self_attn.v_proj");
  model.erase("model.layers.0.self_attn.v_proj");
  auto s = ValidateAdapterForModel(*a, model);
  ASSERT_FALSE(s.ok());
  std::string msg(s.message());
  EXPECT_NE(msg.find("model.layers.0.self_attn.q_proj: adapter lora_A [2, 8] / lora_B [8, 2] need "
                     "in=8, out=8; the base model's layer has in=16, out=16"),
            std::string::npos)
      << msg;
  EXPECT_NE(msg.find("adapter module model.layers.1.self_attn.v_proj does not exist"),
            std::string::npos)
      << msg;
  EXPECT_NE(msg.find("target_modules v_proj match no module"), std::string::npos) << msg;
}

TEST_F(AdapterReaderTest, WriterUsesPeftKeysAndReadsBack) {
  std::vector<float> a(2 * 8, 0.25f), b(8 * 2, -1.0f);
  AdapterConfig config;
  config.r = 2;
  config.lora_alpha = 16;
  config.use_rslora = true;
  config.target_modules = {"q_proj"};
  fs::path out = dir_ / "out";
  ASSERT_TRUE(WriteAdapterDir(out, config,
                              {{"model.layers.0.self_attn.q_proj.lora_A.weight",
                                DType::kF32,
                                {2, 8},
                                {reinterpret_cast<uint8_t*>(a.data()), a.size() * 4}},
                               {"model.layers.0.self_attn.q_proj.lora_B",
                                DType::kF32,
                                {8, 2},
                                {reinterpret_cast<uint8_t*>(b.data()), b.size() * 4}}})
                  .ok());
  auto f = SafetensorsFile::Open(out / "adapter_model.safetensors");
  ASSERT_TRUE(f.ok());
  EXPECT_NE((*f)->Find("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight"), nullptr);
  EXPECT_NE((*f)->Find("base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight"), nullptr);
  auto back = ReadAdapterDir(out);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_DOUBLE_EQ(back->modules.at("model.layers.0.self_attn.q_proj").scaling,
                   16.0 / std::sqrt(2.0));
  EXPECT_FALSE(WriteAdapterDir(dir_ / "bad", config,
                               {{"model.layers.0.q_proj.weight",
                                 DType::kF32,
                                 {2, 8},
                                 {reinterpret_cast<uint8_t*>(a.data()), a.size() * 4}}})
                   .ok());
}

}  // namespace
}  // namespace lorad
