// GGUF: converting the real llama2.c model to every supported type, reading it back, and rejecting bad files.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <tuple>
#include <vector>

#include "core/error.h"
#include "tools/convert.h"
#include "model/dequantize.h"
#include "model/gguf_reader.h"
#include "model/gguf_writer.h"
#include "model/half.h"
#include "tools/inspect.h"
#include "model/weights.h"
#include "tokenizer/tokenizer.h"
#include "fixtures.h"
#include "temp_files.h"

using namespace redrafter;
using namespace redrafter::model;
using namespace redrafter::tokenizer;
using namespace redrafter::tools;

namespace {

// max |a - b| relative to max |a| over the tensor
double relativeError(const TensorView& a, const TensorView& b) {
  REQUIRE(a.rows == b.rows);
  REQUIRE(a.cols == b.cols);
  std::vector<float> x(a.cols), y(b.cols);
  double maxAbs = 0, maxErr = 0;
  for (int64_t r = 0; r < a.rows; ++r) {
    dequantizeRow(a, r, x.data());
    dequantizeRow(b, r, y.data());
    for (int64_t i = 0; i < a.cols; ++i) {
      maxAbs = std::max(maxAbs, double(std::fabs(x[i])));
      maxErr = std::max(maxErr, double(std::fabs(x[i] - y[i])));
    }
  }
  return maxAbs > 0 ? maxErr / maxAbs : maxErr;
}

// Converting a fixture model (with the tok512 tokenizer) to `outPath` as `type`.
ConvertOptions fixtureConversion(const char* model, const std::string& outPath, const std::string& type = "f32") {
  ConvertOptions o;
  o.modelPath = test::fixture(model);
  o.tokenizerPath = test::fixture("tok512.bin");
  o.outPath = outPath;
  o.type = type;
  return o;
}

void compareModels(const ModelWeights& a, const ModelWeights& b, double tolerance) {
  CHECK(a.config.dim == b.config.dim);
  CHECK(a.config.hiddenDim == b.config.hiddenDim);
  CHECK(a.config.nLayers == b.config.nLayers);
  CHECK(a.config.nHeads == b.config.nHeads);
  CHECK(a.config.nKvHeads == b.config.nKvHeads);
  CHECK(a.config.vocabSize == b.config.vocabSize);
  CHECK(a.config.contextLength == b.config.contextLength);
  CHECK(a.config.normEps == b.config.normEps);
  CHECK(a.config.ropeTheta == b.config.ropeTheta);
  CHECK(a.config.tiedClassifier == b.config.tiedClassifier);
  CHECK(relativeError(a.tokenEmbedding, b.tokenEmbedding) <= tolerance);
  CHECK(relativeError(a.finalNorm, b.finalNorm) == 0);
  for (size_t l = 0; l < a.layers.size(); ++l) {
    const LayerWeights& x = a.layers[l];
    const LayerWeights& y = b.layers[l];
    CHECK(relativeError(x.attnNorm, y.attnNorm) == 0);
    CHECK(relativeError(x.ffnNorm, y.ffnNorm) == 0);
    CHECK(relativeError(x.wq, y.wq) <= tolerance);
    CHECK(relativeError(x.wk, y.wk) <= tolerance);
    CHECK(relativeError(x.wv, y.wv) <= tolerance);
    CHECK(relativeError(x.wo, y.wo) <= tolerance);
    CHECK(relativeError(x.w1, y.w1) <= tolerance);
    CHECK(relativeError(x.w2, y.w2) <= tolerance);
    CHECK(relativeError(x.w3, y.w3) <= tolerance);
  }
}

}  // namespace

TEST_CASE("convert writes f32/f16/bf16/q8_0 GGUFs that load back with the same config and values") {
  auto source = loadModelWeights(test::fixture("stories260K.bin"));
  struct Case {
    const char* type;
    DType dtype;
    double tolerance;
  } cases[] = {{"f32", DType::F32, 0.0}, {"f16", DType::F16, 1.0 / 1024}, {"bf16", DType::BF16, 1.0 / 128},
               {"q8_0", DType::Q8_0, 1.0 / 127}};
  for (const auto& k : cases) {
    CAPTURE(k.type);
    test::TempFile out(std::string("convert-") + k.type + ".gguf");
    ConvertOptions o = fixtureConversion("stories260K.bin", out.path, k.type);
    ConvertResult r = convertToGguf(o);
    CHECK(r.tensors == 2 + 9 * 5);
    CHECK(r.bytes > 0);
    auto g = GgufFile::open(out.path);
    CHECK(g->version() == 3);
    CHECK(g->getString("general.architecture", "", true) == "llama");
    CHECK(g->getString("tokenizer.ggml.model", "", true) == "llama");
    CHECK(g->findTensor("output.weight") == nullptr);
    auto w = loadModelWeights(out.path);
    CHECK(w->format == "gguf");
    CHECK(w->tokenEmbedding.type == k.dtype);
    CHECK(w->layers[0].attnNorm.type == DType::F32);
    if (std::string(k.type) == "q8_0") {
      // w2 has 172 columns, not a multiple of the 32-value blocks: written as f16
      CHECK(r.fallbacks.size() == 5);
      CHECK(w->layers[0].w2.type == DType::F16);
      CHECK(w->layers[0].wq.type == DType::Q8_0);
    } else {
      CHECK(r.fallbacks.empty());
    }
    compareModels(*source, *w, k.tolerance);
    CHECK(w->output.data == w->tokenEmbedding.data);
    // The embedded tokenizer equals the tokenizer.bin one.
    auto a = Tokenizer::load(test::fixture("tok512.bin"));
    auto b = Tokenizer::load(out.path);
    REQUIRE(a->size() == b->size());
    for (int32_t id = 0; id < a->size(); ++id) {
      CHECK(a->vocab().tokens[id].text == b->vocab().tokens[id].text);
      CHECK(a->vocab().tokens[id].score == b->vocab().tokens[id].score);
      CHECK(a->vocab().tokens[id].type == b->vocab().tokens[id].type);
    }
  }
}

TEST_CASE("the runq model converts too, and a GGUF converts from its own tokenizer") {
  test::TempFile q("from-q80.gguf");
  ConvertOptions o = fixtureConversion("stories260K_q80.bin", q.path);
  convertToGguf(o);
  auto runq = loadModelWeights(o.modelPath);
  auto back = loadModelWeights(q.path);
  compareModels(*runq, *back, 0.0);
  test::TempFile again("again.gguf");
  ConvertOptions o2;
  o2.modelPath = q.path;
  o2.outPath = again.path;
  o2.type = "bf16";
  convertToGguf(o2);
  CHECK(loadModelWeights(again.path)->tokenEmbedding.type == DType::BF16);
}

TEST_CASE("convert rejects bad arguments and leaves no output behind") {
  test::TempFile out("bad.gguf");
  ConvertOptions o = fixtureConversion("stories260K.bin", out.path, "q3_k");
  CHECK_THROWS_AS(convertToGguf(o), Error);
  o.type = "f16";
  o.tokenizerPath = "";
  CHECK_THROWS_AS(convertToGguf(o), Error);
  o.tokenizerPath = test::fixture("stories260K.bin");  // not a tokenizer
  try {
    convertToGguf(o);
    FAIL("converted with a model as tokenizer");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::InvalidModel);
  }
  o.tokenizerPath = test::fixture("tok512.bin");
  o.outPath = "/nonexistent-dir/redrafter/out.gguf";
  try {
    convertToGguf(o);
    FAIL("wrote into a missing directory");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::Io);
    CHECK(std::string(e.what()).find("/nonexistent-dir/redrafter/out.gguf") != std::string::npos);
  }
  CHECK(test::readFile(out.path).empty());
}

TEST_CASE("the GGUF reader reads every metadata value type") {
  GgufWriter w;
  w.setString("general.architecture", "test");
  w.setU32("a.u32", 7);
  w.setF32("a.f32", 0.5f);
  w.setBool("a.bool", true);
  w.setStringArray("a.strings", {"x", "", "yz"});
  w.setI32Array("a.ints", {-1, 2});
  w.setF32Array("a.floats", {1.5f});
  w.addTensor("t", GgmlType::F32, {4, 2}, [](std::vector<uint8_t>& b) {
    b.resize(32);
    for (int i = 0; i < 8; ++i) {
      float v = float(i);
      std::memcpy(b.data() + 4 * i, &v, 4);
    }
  });
  test::TempFile f("kinds.gguf");
  w.write(f.path);
  auto g = GgufFile::open(f.path);
  CHECK(g->getUint("a.u32", 0, true, 100) == 7);
  CHECK(g->getFloat("a.f32", 0, true) == 0.5);
  CHECK(g->getBool("a.bool", false));
  CHECK(g->find("a.strings")->strings.size() == 3);
  CHECK(g->find("a.strings")->strings[2] == "yz");
  CHECK(g->find("a.ints")->arrayCount == 2);
  CHECK_THROWS_AS(g->getUint("a.f32", 0, true, 100), Error);
  CHECK_THROWS_AS(g->getUint("a.u32", 0, true, 5), Error);
  CHECK_THROWS_AS(g->getString("missing", "", true), Error);
  const GgufTensorInfo* t = g->findTensor("t");
  REQUIRE(t);
  CHECK(t->ne[0] == 4);
  CHECK(t->ne[1] == 2);
  float v;
  std::memcpy(&v, t->data + 4 * 5, 4);
  CHECK(v == 5.0f);
  CHECK(g->dataOffset() % 32 == 0);
  // Not a llama model.
  try {
    loadModelWeights(f.path);
    FAIL("loaded a non-llama GGUF");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::Unsupported);
  }
}

TEST_CASE("corrupt GGUF headers are InvalidModel errors naming the file and the problem") {
  test::TempFile good("good.gguf");
  convertToGguf(fixtureConversion("stories260K.bin", good.path));
  auto bytes = test::readFile(good.path);
  auto expect = [&](std::vector<uint8_t> data, const char* needle) {
    test::TempFile bad("corrupt.gguf");
    test::writeFile(bad.path, data);
    try {
      loadModelWeights(bad.path);
      FAIL("loaded a corrupt GGUF: " << needle);
    } catch (const Error& e) {
      CHECK_MESSAGE(std::string(e.what()).find(bad.path) != std::string::npos, e.what());
      CHECK_MESSAGE(std::string(e.what()).find(needle) != std::string::npos, e.what());
    }
  };
  auto set64 = [](std::vector<uint8_t> d, size_t at, uint64_t v) {
    std::memcpy(d.data() + at, &v, 8);
    return d;
  };
  expect(set64(bytes, 8, uint64_t(1) << 40), "tensor_count");
  expect(set64(bytes, 16, uint64_t(1) << 60), "metadata_kv_count");
  expect(set64(bytes, 24, uint64_t(1) << 62), "length");  // the first key's length
  auto truncated = bytes;
  truncated.resize(bytes.size() / 2);
  expect(truncated, "outside the file");
  auto version = bytes;
  version[4] = 9;
  expect(version, "version 9");
}

TEST_CASE("absurd GGUF string and array lengths are rejected before anything is allocated") {
  test::TempFile good("arrays.gguf");
  convertToGguf(fixtureConversion("stories260K.bin", good.path));
  auto bytes = test::readFile(good.path);
  auto at = [&](const std::string& key) {
    auto it = std::search(bytes.begin(), bytes.end(), key.begin(), key.end());
    REQUIRE(it != bytes.end());
    return size_t(it - bytes.begin()) + key.size();  // just past the key: the value type follows
  };
  auto expect = [&](size_t offset, uint64_t value, const char* needle) {
    auto data = bytes;
    std::memcpy(data.data() + offset, &value, 8);
    test::TempFile bad("arrays-bad.gguf");
    test::writeFile(bad.path, data);
    for (int which = 0; which < 2; ++which) {
      try {
        if (which == 0) loadModelWeights(bad.path);
        else Tokenizer::load(bad.path);
        FAIL("loaded: " << needle);
      } catch (const Error& e) {
        CHECK(e.code() == ErrorCode::InvalidModel);
        CHECK_MESSAGE(std::string(e.what()).find(needle) != std::string::npos, e.what());
        CHECK(std::string(e.what()).find(bad.path) != std::string::npos);
      }
    }
  };
  size_t tokens = at("tokenizer.ggml.tokens");  // u32 type, u32 element type, u64 count, strings
  expect(tokens + 8, uint64_t(1) << 60, "strings");
  expect(tokens + 8, uint64_t(1) << 20, "string");       // plausible count, but the file ends first
  expect(tokens + 16, uint64_t(1) << 50, "length");      // the first token's length
  size_t scores = at("tokenizer.ggml.scores");
  expect(scores + 8, uint64_t(1) << 62, "elements");
  size_t name = at("general.name");
  expect(name + 4, ~uint64_t(0), "length");              // the string value's length
}

TEST_CASE("inspect reports an unsupported GGUF architecture instead of failing") {
  GgufWriter w;
  w.setString("general.architecture", "mamba");
  w.addTensor("x", GgmlType::F32, {8}, [](std::vector<uint8_t>& b) { b.assign(32, 0); });
  test::TempFile f("mamba.gguf");
  w.write(f.path);
  FileSummary s = inspectFile(f.path);
  CHECK(s.format == "gguf");
  CHECK_FALSE(s.config.has_value());
  CHECK(s.unsupported.find("mamba") != std::string::npos);
  CHECK(s.tensors.size() == 1);
}

namespace {

// A qwen3 GGUF of zeros, 1 layer, dim 64, 4 heads (2 KV heads) of `headDim` (key_length), value_length `valueLength`.
void writeWideHeads(const std::string& path, uint32_t headDim, uint32_t valueLength) {
  ModelConfig c;
  c.architecture = Architecture::Qwen3;
  c.ropeNeox = true;
  c.dim = 64, c.hiddenDim = 96, c.nLayers = 1, c.nHeads = 4, c.nKvHeads = 2, c.vocabSize = 8, c.contextLength = 32;
  GgufWriter w;
  if (valueLength == headDim) {  // as convert writes it
    c.headSize = int32_t(headDim);
    addArchitectureMetadata(w, c, "wide", 0, 32);
  } else {
    addArchitectureMetadata(w, c, "wide", 0, 32);
    w.setU32("qwen3.attention.key_length", headDim);
    w.setU32("qwen3.attention.value_length", valueLength);
  }
  auto zeros = [&](const std::string& name, uint64_t rows, uint64_t cols) {
    std::vector<uint64_t> ne = rows == 1 ? std::vector<uint64_t>{cols} : std::vector<uint64_t>{cols, rows};
    w.addTensor(name, GgmlType::F32, ne, [n = rows * cols](std::vector<uint8_t>& b) { b.assign(4 * n, 0); });
  };
  const uint64_t q = 4 * headDim, kv = 2 * headDim;
  zeros("token_embd.weight", 8, 64);
  zeros("output_norm.weight", 1, 64);
  for (const auto& [name, rows, cols] : std::vector<std::tuple<std::string, uint64_t, uint64_t>>{
           {"attn_norm.weight", 1, 64}, {"attn_q.weight", q, 64}, {"attn_k.weight", kv, 64}, {"attn_v.weight", kv, 64},
           {"attn_output.weight", 64, q}, {"ffn_norm.weight", 1, 64}, {"ffn_gate.weight", 96, 64},
           {"ffn_down.weight", 64, 96}, {"ffn_up.weight", 96, 64}, {"attn_q_norm.weight", 1, headDim},
           {"attn_k_norm.weight", 1, headDim}})
    zeros("blk.0." + name, rows, cols);
  w.write(path);
}

}  // namespace

TEST_CASE("heads wider than dim / heads (attention.key_length, as Qwen3 0.6B): q [heads * headDim, dim], o [dim, heads * headDim]") {
  test::TempFile f("wide-heads.gguf");
  writeWideHeads(f.path, 32, 32);
  auto w = loadModelWeights(f.path);
  CHECK(w->config.headDim() == 32);
  CHECK(w->config.qDim() == 128);
  CHECK(w->config.kvDim() == 64);
  CHECK(w->layers[0].wq.rows == 128);
  CHECK(w->layers[0].wq.cols == 64);
  CHECK(w->layers[0].wo.rows == 64);
  CHECK(w->layers[0].wo.cols == 128);
  CHECK(w->layers[0].qNorm.cols == 32);
  // values narrower than keys: refused naming the key and value
  test::TempFile g("narrow-values.gguf");
  writeWideHeads(g.path, 32, 16);
  try {
    loadModelWeights(g.path);
    FAIL("loaded");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::Unsupported);
    CHECK_MESSAGE(std::string(e.what()).find("qwen3.attention.value_length = 16 is not supported") != std::string::npos, e.what());
  }
}

TEST_CASE("a GGUF with general.alignment 1 loads: misaligned tensors are copied, not misread") {
  test::TempFile f("align1.gguf");
  ConvertOptions o = fixtureConversion("stories260K.bin", f.path, "f16");
  o.alignment = 1;
  convertToGguf(o);
  auto g = GgufFile::open(f.path);
  CHECK(g->alignment() == 1);
  auto w = loadModelWeights(f.path);
  auto source = loadModelWeights(o.modelPath);
  compareModels(*source, *w, 1.0 / 1024);
  MESSAGE("data section at " << g->dataOffset() << ", " << w->owned.size() << " tensors copied");
  if (g->dataOffset() % 4 != 0) CHECK_FALSE(w->owned.empty());  // f32 norms (and maybe f16 matrices) copied
  o.alignment = 3;
  CHECK_THROWS_AS(convertToGguf(o), Error);
}

namespace {

// Copies a converted GGUF (its metadata uses the writer's value types only) with every *norm.weight tensor stored as
// `normType` instead of F32: F16/BF16 rounded from the F32 values, anything else as zero bytes of the right size.
void rewriteNorms(const std::string& from, const std::string& to, GgmlType normType) {
  auto g = GgufFile::open(from);
  GgufWriter w;
  for (const auto& [key, v] : g->metadata()) {
    switch (v.type) {
      case GgufType::String: w.setString(key, std::string(v.str)); break;
      case GgufType::U32: w.setU32(key, uint32_t(v.u)); break;
      case GgufType::F32: w.setF32(key, float(v.f)); break;
      case GgufType::Bool: w.setBool(key, v.u != 0); break;
      case GgufType::Array:
        if (v.arrayType == GgufType::String) {
          w.setStringArray(key, std::vector<std::string>(v.strings.begin(), v.strings.end()));
        } else if (v.arrayType == GgufType::F32 || v.arrayType == GgufType::I32) {
          std::vector<float> f(v.arrayCount);
          std::vector<int32_t> i(v.arrayCount);
          std::memcpy(v.arrayType == GgufType::F32 ? static_cast<void*>(f.data()) : i.data(), v.arrayData, 4 * v.arrayCount);
          if (v.arrayType == GgufType::F32)
            w.setF32Array(key, f);
          else
            w.setI32Array(key, i);
        } else {
          FAIL("metadata array type of " << key);
        }
        break;
      default: FAIL("metadata type of " << key);
    }
  }
  for (const GgufTensorInfo& t : g->tensors()) {
    const bool norm = t.name.size() > 11 && t.name.compare(t.name.size() - 11, 11, "norm.weight") == 0;
    const GgmlType type = norm ? normType : GgmlType(t.type);
    std::vector<uint64_t> ne(t.ne, t.ne + t.nDims);
    const GgufTensorInfo* src = &t;
    const uint64_t size = norm ? src->elements() / ggmlTypeTraits(uint32_t(type))->blockSize *
                                     ggmlTypeTraits(uint32_t(type))->blockBytes
                               : src->bytes;
    w.addTensor(t.name, type, ne, [src, norm, type, size](std::vector<uint8_t>& bytes) {
      if (!norm) {
        bytes.assign(src->data, src->data + size);
        return;
      }
      REQUIRE(GgmlType(src->type) == GgmlType::F32);
      bytes.assign(size, 0);
      if (type != GgmlType::F16 && type != GgmlType::BF16) return;
      for (uint64_t e = 0; e < src->elements(); ++e) {
        float x;
        std::memcpy(&x, src->data + 4 * e, 4);
        const uint16_t h = type == GgmlType::F16 ? f32ToFp16(x) : f32ToBf16(x);
        std::memcpy(bytes.data() + 2 * e, &h, 2);
      }
    });
  }
  w.write(to);
}

}  // namespace

TEST_CASE("F16 and BF16 norm tensors load as their F32 values; other norm types are refused by name") {
  test::TempFile f32File("norms-f32.gguf"), f16File("norms-f16.gguf"), bf16File("norms-bf16.gguf"),
      q8File("norms-q8.gguf");
  convertToGguf(fixtureConversion("stories260K.bin", f32File.path));
  auto source = loadModelWeights(f32File.path);
  for (auto [path, type, tolerance] : {std::tuple{f16File.path, GgmlType::F16, 1.0 / 1024},
                                       std::tuple{bf16File.path, GgmlType::BF16, 1.0 / 128}}) {
    CAPTURE(path);
    rewriteNorms(f32File.path, path, type);
    REQUIRE(GgmlType(GgufFile::open(path)->findTensor("output_norm.weight")->type) == type);
    auto w = loadModelWeights(path);
    CHECK(w->finalNorm.type == DType::F32);
    CHECK(relativeError(source->finalNorm, w->finalNorm) <= tolerance);
    CHECK(relativeError(source->finalNorm, w->finalNorm) > 0);  // really rounded: the F32 file's values are not f16-exact
    for (size_t l = 0; l < source->layers.size(); ++l) {
      CHECK(relativeError(source->layers[l].attnNorm, w->layers[l].attnNorm) <= tolerance);
      CHECK(relativeError(source->layers[l].ffnNorm, w->layers[l].ffnNorm) <= tolerance);
    }
    CHECK(relativeError(source->layers[0].wq, w->layers[0].wq) == 0);  // the rest is copied as it was
  }
  rewriteNorms(f32File.path, q8File.path, GgmlType::Q8_0);
  try {
    loadModelWeights(q8File.path);
    FAIL("a Q8_0 norm loaded");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::Unsupported);
    CHECK(std::string(e.what()).find("norm tensor '") != std::string::npos);
    CHECK(std::string(e.what()).find("(supported: f32, f16, bf16)") != std::string::npos);
  }
}
