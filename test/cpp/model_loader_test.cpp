// Loading llama2.c checkpoints (v0 float32, runq v2 int8) from the real fixtures.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <vector>

#include "core/error.h"
#include "model/half.h"
#include "model/weights.h"
#include "fixtures.h"

using namespace redrafter;
using namespace redrafter::model;

namespace {

std::vector<uint8_t> readAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

std::string writeTemp(const std::string& name, const std::vector<uint8_t>& bytes) {
  std::string path = std::string(std::getenv("TMPDIR") ? std::getenv("TMPDIR") : "/tmp") + "/redrafter-test-" + name;
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  out.close();
  REQUIRE_MESSAGE(out.good(), "could not write " << path);  // Windows: a file still mapped cannot be rewritten
  return path;
}

float valueAt(const TensorView& t, int64_t row, int64_t col) {
  int64_t i = row * t.cols + col;
  switch (t.type) {
    case DType::F32: return static_cast<const float*>(t.data)[i];
    case DType::Q8_G_F32: return float(static_cast<const int8_t*>(t.data)[i]) * t.scales[i / t.groupSize];
    default: FAIL("unexpected type"); return 0;
  }
}

void expectStoriesConfig(const ModelConfig& c) {
  CHECK(c.dim == 64);
  CHECK(c.hiddenDim == 172);
  CHECK(c.nLayers == 5);
  CHECK(c.nHeads == 8);
  CHECK(c.nKvHeads == 4);
  CHECK(c.vocabSize == 512);
  CHECK(c.contextLength == 512);
  CHECK(c.tiedClassifier);
  CHECK(c.headDim() == 8);
  CHECK(c.kvDim() == 32);
  CHECK(c.normEps == doctest::Approx(1e-5f));
  CHECK(c.ropeTheta == 10000.0f);
}

}  // namespace

TEST_CASE("llama2.c v0 stories260K loads memory-mapped with the README's config") {
  std::string path = test::fixture("stories260K.bin");
  auto w = loadModelWeights(path);
  CHECK(w->format == "llama2c");
  CHECK(w->path == path);
  expectStoriesConfig(w->config);
  REQUIRE(w->layers.size() == 5);
  CHECK(w->tokenEmbedding.type == DType::F32);
  CHECK(w->tokenEmbedding.rows == 512);
  CHECK(w->tokenEmbedding.cols == 64);
  CHECK(w->output.data == w->tokenEmbedding.data);
  CHECK(w->layers[0].wk.rows == 32);
  CHECK(w->layers[4].w2.rows == 64);
  CHECK(w->layers[4].w2.cols == 172);
  CHECK(w->owned.empty());
  // Values are the file's bytes at llama2.c's offsets.
  auto bytes = readAll(path);
  float first;
  std::memcpy(&first, bytes.data() + 28, 4);
  CHECK(static_cast<const float*>(w->tokenEmbedding.data)[0] == first);
  const int64_t D = 64, L = 5, V = 512, H = 172, KV = 32;
  int64_t finalNormOffset = 28 + 4 * (V * D + L * D + L * D * D * 2 + L * KV * D * 2 + L * D + L * H * D * 3);
  float fn;
  std::memcpy(&fn, bytes.data() + finalNormOffset, 4);
  CHECK(static_cast<const float*>(w->finalNorm.data)[0] == fn);
  std::vector<float> row(64);
  embeddingRow(*w, 7, row.data());
  CHECK(row[3] == static_cast<const float*>(w->tokenEmbedding.data)[7 * 64 + 3]);
  CHECK_THROWS_AS(embeddingRow(*w, 512, row.data()), Error);
}

TEST_CASE("runq v2 stories260K_q80 dequantises close to the float32 model") {
  auto f = loadModelWeights(test::fixture("stories260K.bin"));
  auto q = loadModelWeights(test::fixture("stories260K_q80.bin"));
  CHECK(q->format == "llama2c-q8");
  expectStoriesConfig(q->config);
  CHECK(q->tokenEmbedding.type == DType::Q8_G_F32);
  CHECK(q->tokenEmbedding.groupSize == 32);
  CHECK(q->layers[0].attnNorm.type == DType::F32);
  CHECK(q->output.data == q->tokenEmbedding.data);
  auto compare = [](const TensorView& a, const TensorView& b) {
    REQUIRE(a.rows == b.rows);
    REQUIRE(a.cols == b.cols);
    double maxAbs = 0, maxErr = 0;
    for (int64_t r = 0; r < a.rows; ++r)
      for (int64_t c = 0; c < a.cols; ++c) {
        float x = valueAt(a, r, c), y = valueAt(b, r, c);
        maxAbs = std::max(maxAbs, double(std::fabs(x)));
        maxErr = std::max(maxErr, double(std::fabs(x - y)));
      }
    // symmetric int8 groups: error <= half a step of the group's max / 127
    CHECK(maxErr <= maxAbs / 127.0 * 0.5 + 1e-7);
    CHECK(maxAbs > 0);
  };
  compare(f->tokenEmbedding, q->tokenEmbedding);
  for (int l = 0; l < 5; ++l) {
    compare(f->layers[l].wq, q->layers[l].wq);
    compare(f->layers[l].wk, q->layers[l].wk);
    compare(f->layers[l].wv, q->layers[l].wv);
    compare(f->layers[l].wo, q->layers[l].wo);
    compare(f->layers[l].w1, q->layers[l].w1);
    compare(f->layers[l].w2, q->layers[l].w2);
    compare(f->layers[l].w3, q->layers[l].w3);
    compare(f->layers[l].attnNorm, q->layers[l].attnNorm);
    compare(f->layers[l].ffnNorm, q->layers[l].ffnNorm);
  }
  compare(f->finalNorm, q->finalNorm);
  std::vector<float> a(64), b(64);
  embeddingRow(*f, 300, a.data());
  embeddingRow(*q, 300, b.data());
  for (int i = 0; i < 64; ++i) CHECK(std::fabs(a[i] - b[i]) < 0.05f);
}

TEST_CASE("bad llama2.c files are InvalidModel errors naming the file") {
  auto bytes = readAll(test::fixture("stories260K.bin"));
  auto expectInvalid = [](const std::vector<uint8_t>& data, const char* name, const char* needle) {
    std::string path = writeTemp(name, data);
    try {
      loadModelWeights(path);
      FAIL("loaded a bad file: " << name);
    } catch (const Error& e) {
      CHECK(e.code() == ErrorCode::InvalidModel);
      CHECK(std::string(e.what()).find(path) != std::string::npos);
      CHECK_MESSAGE(std::string(e.what()).find(needle) != std::string::npos, e.what());
    }
    std::remove(path.c_str());
  };
  auto truncated = bytes;
  truncated.resize(bytes.size() - 1);
  expectInvalid(truncated, "trunc.bin", "implies");
  auto negDim = bytes;
  int32_t v = -64;
  std::memcpy(negDim.data(), &v, 4);
  expectInvalid(negDim, "negdim.bin", "dim");
  auto hugeLayers = bytes;
  v = 1 << 30;
  std::memcpy(hugeLayers.data() + 8, &v, 4);
  expectInvalid(hugeLayers, "hugelayers.bin", "n_layers");
  auto bigButConsistent = bytes;
  v = 4096;
  std::memcpy(bigButConsistent.data() + 8, &v, 4);
  expectInvalid(bigButConsistent, "biglayers.bin", "implies");
  auto badHeads = bytes;
  v = 3;
  std::memcpy(badHeads.data() + 16, &v, 4);
  expectInvalid(badHeads, "badheads.bin", "n_kv_heads");
  expectInvalid(std::vector<uint8_t>(10, 0), "tiny.bin", "too short");
  auto q = readAll(test::fixture("stories260K_q80.bin"));
  auto badGroup = q;
  v = 0;
  std::memcpy(badGroup.data() + 37, &v, 4);
  expectInvalid(badGroup, "badgroup.bin", "group_size");
  auto qTrunc = q;
  qTrunc.resize(300);
  expectInvalid(qTrunc, "qtrunc.bin", "implies");
}

TEST_CASE("a missing model file is an Io error naming it") {
  try {
    loadModelWeights("/nonexistent/redrafter/model.bin");
    FAIL("loaded a missing file");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::Io);
    CHECK(std::string(e.what()).find("/nonexistent/redrafter/model.bin") != std::string::npos);
  }
}

TEST_CASE("fp16 and bf16 conversions round to nearest even") {
  CHECK(f32ToFp16(1.0f) == 0x3c00);
  CHECK(f32ToFp16(-2.0f) == 0xc000);
  CHECK(f32ToFp16(65504.0f) == 0x7bff);
  CHECK(f32ToFp16(65520.0f) == 0x7c00);
  CHECK(f32ToFp16(5.960464477539063e-08f) == 0x0001);  // smallest subnormal
  CHECK(f32ToFp16(6.103515625e-05f) == 0x0400);        // smallest normal
  CHECK(fp16ToF32(0x0001) == 5.960464477539063e-08f);
  CHECK(fp16ToF32(0x3555) == doctest::Approx(0.333251953125));
  for (uint32_t h = 0; h < 0x7c00; ++h) CHECK(f32ToFp16(fp16ToF32(uint16_t(h))) == h);
  CHECK(f32ToBf16(1.0f) == 0x3f80);
  CHECK(bf16ToF32(0x3f80) == 1.0f);
  CHECK(f32ToBf16(1.00390625f) == 0x3f80);  // halfway, rounds to even
}

namespace {
void appendFloats(std::vector<uint8_t>& out, const TensorView& t) {
  const uint8_t* p = static_cast<const uint8_t*>(t.data);
  out.insert(out.end(), p, p + 4 * t.rows * t.cols);
}
template <class T>
void appendValue(std::vector<uint8_t>& out, T v) {
  const uint8_t* p = reinterpret_cast<const uint8_t*>(&v);
  out.insert(out.end(), p, p + sizeof(T));
}
bool sameValues(const TensorView& a, const TensorView& b) {
  return a.rows == b.rows && a.cols == b.cols &&
         std::memcmp(a.data, b.data, size_t(4 * a.rows * a.cols)) == 0;
}
}  // namespace

TEST_CASE("llama2.c version 1 (ak42 header, float32) loads the same weights as version 0") {
  auto v0 = loadModelWeights(test::fixture("stories260K.bin"));
  const ModelConfig& c = v0->config;
  std::vector<uint8_t> bytes;
  appendValue<uint32_t>(bytes, 0x616b3432);
  appendValue<int32_t>(bytes, 1);
  for (int32_t v : {c.dim, c.hiddenDim, c.nLayers, c.nHeads, c.nKvHeads, c.vocabSize, c.contextLength})
    appendValue<int32_t>(bytes, v);
  bytes.push_back(1);  // shared classifier
  bytes.resize(256, 0);
  for (const auto& l : v0->layers) appendFloats(bytes, l.attnNorm);
  for (const auto& l : v0->layers) appendFloats(bytes, l.ffnNorm);
  appendFloats(bytes, v0->finalNorm);
  appendFloats(bytes, v0->tokenEmbedding);
  for (TensorView LayerWeights::*m : {&LayerWeights::wq, &LayerWeights::wk, &LayerWeights::wv, &LayerWeights::wo,
                                      &LayerWeights::w1, &LayerWeights::w2, &LayerWeights::w3})
    for (const auto& l : v0->layers) appendFloats(bytes, l.*m);
  std::string path = writeTemp("v1.bin", bytes);
  auto v1 = loadModelWeights(path);
  CHECK(v1->format == "llama2c");
  expectStoriesConfig(v1->config);
  CHECK(sameValues(v0->tokenEmbedding, v1->tokenEmbedding));
  CHECK(sameValues(v0->finalNorm, v1->finalNorm));
  for (size_t l = 0; l < 5; ++l) {
    CHECK(sameValues(v0->layers[l].attnNorm, v1->layers[l].attnNorm));
    CHECK(sameValues(v0->layers[l].ffnNorm, v1->layers[l].ffnNorm));
    CHECK(sameValues(v0->layers[l].wk, v1->layers[l].wk));
    CHECK(sameValues(v0->layers[l].w2, v1->layers[l].w2));
    CHECK(sameValues(v0->layers[l].w3, v1->layers[l].w3));
  }
  CHECK(v1->output.data == v1->tokenEmbedding.data);
  v1.reset();  // unmapped: Windows refuses to rewrite a mapped file
  // One byte short or long: the header's size no longer matches.
  bytes.push_back(0);
  writeTemp("v1.bin", bytes);
  CHECK_THROWS_AS(loadModelWeights(path), Error);
  std::remove(path.c_str());
}

TEST_CASE("a negative vocab_size in a version 0 header means an untied classifier after the RoPE tables") {
  auto bytes = readAll(test::fixture("stories260K.bin"));
  int32_t negative = -512;
  std::memcpy(bytes.data() + 20, &negative, 4);
  size_t classifierOffset = bytes.size();
  for (int i = 0; i < 512 * 64; ++i) appendValue<float>(bytes, float(i % 97) * 0.25f);
  std::string path = writeTemp("untied.bin", bytes);
  auto w = loadModelWeights(path);
  CHECK(w->config.vocabSize == 512);
  CHECK_FALSE(w->config.tiedClassifier);
  CHECK(w->output.data != w->tokenEmbedding.data);
  CHECK(w->output.rows == 512);
  const float* out = static_cast<const float*>(w->output.data);
  CHECK(out[100] == float(100 % 97) * 0.25f);
  CHECK(reinterpret_cast<const uint8_t*>(out) - static_cast<const uint8_t*>(w->tokenEmbedding.data) ==
        int64_t(classifierOffset - 28));
  w.reset();  // unmapped: Windows refuses to rewrite a mapped file
  // Without the classifier bytes the size check fails.
  bytes.resize(classifierOffset);
  writeTemp("untied.bin", bytes);
  CHECK_THROWS_AS(loadModelWeights(path), Error);
  std::remove(path.c_str());
}
