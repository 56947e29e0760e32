// The drafter directory (native/model/drafter_file.h), the one reader and writer of Apple's drafter format: the
// repository's drafter reads as trained; what writeDrafterDirectory writes (F32, F16, BF16) reads back; malformed
// directories fail with a coded error naming the file and the field, and a config declaring more residual blocks
// than its weights file holds fails before anything is sized by it.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <string>

#include "core/error.h"
#include "model/drafter_file.h"
#include "model/half.h"
#include "temp_files.h"

using namespace redrafter;
using namespace redrafter::model;

namespace {

template <class F>
std::string errorOf(F f, ErrorCode* code = nullptr) {
  try {
    f();
  } catch (const Error& e) {
    if (code) *code = e.code();
    return e.what();
  }
  return "";
}

void writeText(const std::string& path, const std::string& text) { std::ofstream(path, std::ios::binary) << text; }

// A safetensors file holding one F32 tensor "x" of shape [1].
void writeTinySafetensors(const std::string& path) {
  const std::string header = "{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}";
  std::ofstream f(path, std::ios::binary);
  uint64_t n = header.size();
  f.write(reinterpret_cast<const char*>(&n), 8);
  f << header;
  f.write("\0\0\0\0", 4);
}

const char* kConfig =
    "{\"model_type\": \"recurrent_drafting_drafter\", \"vocab_size\": 8, \"hidden_size\": 4, \"exit_dim\": 8, "
    "\"num_draft_layers\": 0, \"rnn\": true}";

}  // namespace

TEST_CASE("the repository's drafter reads as trained") {
  DrafterWeights d = readDrafterDirectory(std::string(REDRAFTER_SOURCE_DIR) + "/models/stories260K-drafter");
  CHECK(d.config.vocabSize == 512);
  CHECK(d.config.hiddenSize == 64);
  CHECK(d.config.exitDim == 128);
  CHECK(d.config.numDraftLayers == 2);
  CHECK(d.config.rnn);
  CHECK_FALSE(d.config.hasInputProj());
  float sum = 0;
  for (float v : d.data) sum += std::fabs(v);
  CHECK(sum > 0);  // trained weights, not the zeros it started from
  const DrafterConfig c = readDrafterConfig(std::string(REDRAFTER_SOURCE_DIR) + "/models/stories260K-drafter");
  CHECK(c.numDraftLayers == 2);
}

TEST_CASE("what writeDrafterDirectory writes reads back: F32 exactly, F16 and BF16 as their rounding") {
  DrafterConfig c;
  c.vocabSize = 11, c.hiddenSize = 3, c.exitDim = 5, c.numDraftLayers = 2, c.rnn = true;
  DrafterWeights w = DrafterWeights::zeros(c, "test");
  for (size_t i = 0; i < w.data.size(); ++i) w.data[i] = std::sin(float(i) * 0.37f) * 1.7f;
  const std::string dir = test::tempPath("drafter-write");
  for (DType dtype : {DType::F32, DType::F16, DType::BF16}) {
    writeDrafterDirectory(dir, w, dtype, {{"step", "12"}});
    DrafterWeights r = readDrafterDirectory(dir);
    CHECK(r.config.vocabSize == 11);
    CHECK(r.config.exitDim == 5);
    CHECK(r.config.numDraftLayers == 2);
    CHECK(r.config.rnn);
    REQUIRE(r.data.size() == w.data.size());
    for (size_t i = 0; i < w.data.size(); ++i) {
      const float want = dtype == DType::F32   ? w.data[i]
                         : dtype == DType::F16 ? fp16ToF32(f32ToFp16(w.data[i]))
                                               : bf16ToF32(f32ToBf16(w.data[i]));
      if (r.data[i] != want) {
        FAIL("value " << i << ": " << r.data[i] << " != " << want);
        break;
      }
    }
  }
  std::ifstream config(dir + "/config.json");
  std::string text((std::istreambuf_iterator<char>(config)), std::istreambuf_iterator<char>());
  CHECK(text.find("\"model_type\": \"recurrent_drafting_drafter\"") != std::string::npos);
  CHECK(text.find("\"torch_dtype\": \"bfloat16\"") != std::string::npos);
  const std::vector<uint8_t> bytes = test::readFile(dir + "/model.safetensors");
  const std::string head(bytes.begin() + 8, bytes.begin() + 200);
  CHECK(head.find("\"__metadata__\":{\"format\":\"pt\",\"step\":\"12\"}") != std::string::npos);
  CHECK((8 + (bytes[0] | bytes[1] << 8)) % 8 == 0);
  ErrorCode code{};
  CHECK(errorOf([&] { writeDrafterDirectory(dir, w, DType::Q8_0); }, &code).find("dtype must be") == 0);
  CHECK(code == ErrorCode::InvalidArgument);
  std::system(("rm -rf " + dir).c_str());
}

TEST_CASE("malformed drafter directories fail naming the file and the field") {
  ErrorCode code{};
  CHECK(errorOf([] { readDrafterDirectory("/nonexistent-drafter"); }, &code).find("/nonexistent-drafter/config.json") == 0);
  CHECK(code == ErrorCode::Io);
  const std::string dir = test::tempPath("drafter-dir");
  std::system(("mkdir -p " + dir).c_str());
  writeText(dir + "/config.json", "{\"model_type\": \"recurrent_drafting_drafter\", \"vocab_size\": 8, \"rnn\": fals}");
  CHECK(errorOf([&] { readDrafterDirectory(dir); }, &code).find("config.json: not valid JSON") != std::string::npos);
  CHECK(code == ErrorCode::InvalidModel);
  writeText(dir + "/config.json", "{\"model_type\": \"llama\"}");
  CHECK(errorOf([&] { readDrafterDirectory(dir); }).find("config.json: model_type must be \"recurrent_drafting_drafter\", got \"llama\"") != std::string::npos);
  writeText(dir + "/config.json", "{\"model_type\": \"recurrent_drafting_drafter\", \"vocab_size\": 8.5}");
  CHECK(errorOf([&] { readDrafterDirectory(dir); }).find("config.json: vocab_size must be an integer >= 1, got 8.5") != std::string::npos);
  writeText(dir + "/config.json", std::string(kConfig).replace(std::string(kConfig).find("true"), 4, "\"yes\""));
  CHECK(errorOf([&] { readDrafterDirectory(dir); }).find("config.json: rnn must be a boolean, got \"yes\"") != std::string::npos);
  writeText(dir + "/config.json", std::string(200, '[') );
  CHECK(errorOf([&] { readDrafterDirectory(dir); }, &code).find("nested too deeply") != std::string::npos);
  CHECK(code == ErrorCode::InvalidModel);

  writeText(dir + "/config.json", kConfig);
  writeTinySafetensors(dir + "/model.safetensors");
  CHECK(errorOf([&] { readDrafterDirectory(dir); }).find("model.safetensors: unexpected tensor x for " + dir + "/config.json") != std::string::npos);
  {
    // a safetensors file whose header length runs past its end
    std::ofstream f(dir + "/model.safetensors", std::ios::binary);
    uint64_t n = 1000;
    f.write(reinterpret_cast<const char*>(&n), 8);
    f << "{}";
  }
  CHECK(errorOf([&] { readDrafterDirectory(dir); }, &code).find("header length 1000 exceeds the file") != std::string::npos);
  CHECK(code == ErrorCode::InvalidModel);
  std::system(("rm -rf " + dir).c_str());
}

TEST_CASE("a config declaring more residual blocks than the weights file holds fails at once, naming both files") {
  const std::string dir = test::tempPath("drafter-layers");
  std::system(("mkdir -p " + dir).c_str());
  writeTinySafetensors(dir + "/model.safetensors");
  for (const char* layers : {"1000000000", "1000000", "65"}) {
    std::string config = kConfig;
    config.replace(config.find("\"num_draft_layers\": 0"), 21, std::string("\"num_draft_layers\": ") + layers);
    writeText(dir + "/config.json", config);
    ErrorCode code{};
    const std::string why = errorOf([&] { readDrafterDirectory(dir); }, &code);
    CHECK(code == ErrorCode::InvalidModel);
    CHECK(why.find("config.json: num_draft_layers " + std::string(layers) + " is more residual blocks than " + dir +
                   "/model.safetensors can hold (it has 1 tensors)") != std::string::npos);
  }
  std::system(("rm -rf " + dir).c_str());
}
