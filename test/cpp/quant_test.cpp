// ggml's 4-6 bit weight types (core/tensor.h: Q4_0, Q4_K, Q5_K, Q6_K): hand-built blocks dequantise to the values
// their documented layout says; the quantisers write ggml's bytes (hashes of quantize_row_*_ref's output for a
// fixed input); quantise -> dequantise stays within each type's error bound; the integer-dot matmul
// (cpu/kernels/quant_matmul.h) gives the same bits whatever T, thread split or ISA,
// and agrees with a double-precision sum over the dequantised weights within the 8-bit activation quantisation's
// bound; the GGUF loader refuses such tensors whose columns are not whole blocks, naming tensor and type.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "core/error.h"
#include "cpu/kernels/activation_quant.h"
#include "cpu/kernels/isa.h"
#include "cpu/kernels/matmul.h"
#include "cpu/kernels/quant_matmul.h"
#include "model/dequantize.h"
#include "model/gguf_writer.h"
#include "model/half.h"
#include "model/weights.h"
#include "fixtures.h"
#include "isas.h"
#include "temp_files.h"
#include "tokenizer/tokenizer.h"
#include "tools/convert.h"

using namespace redrafter;
using namespace redrafter::model;
namespace kernels = redrafter::cpu::kernels;

namespace {

const DType kTypes[] = {DType::Q4_0, DType::Q4_K, DType::Q5_K, DType::Q6_K};

void putHalf(uint8_t* p, float v) {
  uint16_t h = f32ToFp16(v);
  std::memcpy(p, &h, 2);
}

std::vector<float> dequantizeAll(DType type, const std::vector<uint8_t>& bytes, int64_t n) {
  const BlockFormat f = blockFormat(type);
  std::vector<float> out(static_cast<size_t>(n));
  for (int64_t b = 0; b < n / f.elements; ++b) dequantizeBlock(type, bytes.data() + b * f.bytes, out.data() + b * f.elements);
  return out;
}

std::vector<uint8_t> quantizeAll(DType type, const std::vector<float>& x) {
  const BlockFormat f = blockFormat(type);
  std::vector<uint8_t> out(x.size() / size_t(f.elements) * size_t(f.bytes));
  quantizeRow(type, x.data(), int64_t(x.size()), out.data());
  return out;
}

uint64_t fnv1a(const std::vector<uint8_t>& b) {
  uint64_t h = 1469598103934665603ull;
  for (uint8_t c : b) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

}  // namespace

TEST_CASE("hand-built 4-6 bit blocks dequantise to their documented values") {
  SUBCASE("q4_0") {
    uint8_t b[18];
    putHalf(b, 0.5f);
    for (int j = 0; j < 16; ++j) b[2 + j] = uint8_t(j | ((15 - j) << 4));
    float v[32];
    dequantizeBlock(DType::Q4_0, b, v);
    for (int j = 0; j < 16; ++j) {
      CHECK(v[j] == 0.5f * float(j - 8));
      CHECK(v[16 + j] == 0.5f * float(7 - j));
    }
  }
  SUBCASE("q4_k and q5_k") {
    // sub-block s: scale sc[s], min m[s]; sub-block 5 uses the 6-bit range (its top bits live in scales[1], [5])
    const uint8_t sc[8] = {1, 2, 3, 4, 5, 45, 7, 8}, mn[8] = {0, 2, 4, 6, 8, 33, 12, 14};
    for (bool five : {false, true}) {
      CAPTURE(five);
      std::vector<uint8_t> b(five ? 176 : 144, 0);
      putHalf(b.data(), 1.0f);
      putHalf(b.data() + 2, 0.5f);
      uint8_t* scales = b.data() + 4;
      for (int s = 0; s < 4; ++s) {
        scales[s] = sc[s];
        scales[s + 4] = mn[s];
      }
      for (int s = 4; s < 8; ++s) {
        scales[s + 4] = uint8_t((sc[s] & 15) | ((mn[s] & 15) << 4));
        scales[s - 4] |= uint8_t((sc[s] >> 4) << 6);
        scales[s] |= uint8_t((mn[s] >> 4) << 6);
      }
      uint8_t* qh = b.data() + 16;
      uint8_t* qs = b.data() + (five ? 48 : 16);
      for (int p = 0; p < 4; ++p)
        for (int l = 0; l < 32; ++l) qs[32 * p + l] = uint8_t((l % 16) | ((15 - l % 16) << 4));
      if (five)
        for (int l = 0; l < 32; ++l) qh[l] = uint8_t(l % 2 ? 0xAA : 0x55);  // odd l: odd sub-blocks get +16
      float v[256];
      dequantizeBlock(five ? DType::Q5_K : DType::Q4_K, b.data(), v);
      for (int i = 0; i < 256; ++i) {
        const int s = i / 32, l = i % 32;
        int q = s % 2 == 0 ? l % 16 : 15 - l % 16;
        if (five && ((s % 2 == 0) == (l % 2 == 0))) q += 16;
        CAPTURE(i);
        CHECK(v[i] == doctest::Approx(1.0f * sc[s] * q - 0.5f * mn[s]).epsilon(1e-6));
      }
    }
  }
  SUBCASE("q6_k") {
    std::vector<uint8_t> b(210, 0);
    for (int j = 0; j < 16; ++j) b[192 + j] = uint8_t(int8_t(j - 8));
    putHalf(b.data() + 208, 0.25f);
    // value i (in half h = i / 128, position p = i % 128) gets q = (3 * i + 1) % 64
    for (int i = 0; i < 256; ++i) {
      const int h = i / 128, p = i % 128, q = (3 * i + 1) % 64, l = p % 32, part = p / 32;
      uint8_t* ql = b.data() + 64 * h + (part % 2 ? 32 : 0) + l;
      *ql |= uint8_t(part < 2 ? (q & 15) : (q & 15) << 4);
      b[128 + 32 * h + l] |= uint8_t((q >> 4) << (2 * part));
    }
    float v[256];
    dequantizeBlock(DType::Q6_K, b.data(), v);
    for (int i = 0; i < 256; ++i) {
      CAPTURE(i);
      CHECK(v[i] == 0.25f * float(i / 16 - 8) * float((3 * i + 1) % 64 - 32));
    }
  }
}

TEST_CASE("the quantisers write ggml's bytes") {
  // 1024 values of a 32-bit LCG in [-1, 1), a zero block (256..511) and an all-positive block (512..767). The
  // hashes are of ggml-quants.c's quantize_row_{q4_0,q4_K,q5_K,q6_K}_ref output for this input (the llama.cpp
  // source node-llama-cpp 3.21.1 bundles, commit 80fb11a, built once outside the repository).
  std::vector<float> x(1024);
  uint32_t s = 12345;
  for (auto& v : x) {
    s = s * 1664525u + 1013904223u;
    v = float(int32_t(s >> 8) - (1 << 23)) / float(1 << 23);
  }
  for (int i = 256; i < 512; ++i) x[i] = 0;
  for (int i = 512; i < 768; ++i) x[i] = x[i] * x[i] * 3.0f;
  CHECK(fnv1a(quantizeAll(DType::Q4_0, x)) == 0x051dab950a03e309ull);
  CHECK(fnv1a(quantizeAll(DType::Q4_K, x)) == 0x7139e98f272ce688ull);
  CHECK(fnv1a(quantizeAll(DType::Q5_K, x)) == 0x3fcb10e558fd1f57ull);
  CHECK(fnv1a(quantizeAll(DType::Q6_K, x)) == 0x2096e79c938001e5ull);
}

TEST_CASE("quantise -> dequantise stays within each type's error bound") {
  std::mt19937 rng(3);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> x(256 * 64);
  for (auto& v : x) v = dist(rng);
  // relative RMS error over normal data, and the worst error relative to its block's largest magnitude
  struct Bound {
    DType type;
    double rms, worst;
  } bounds[] = {{DType::Q4_0, 0.12, 1.01 / 8}, {DType::Q4_K, 0.10, 1.0 / 8}, {DType::Q5_K, 0.05, 1.0 / 16},
                {DType::Q6_K, 0.025, 1.0 / 32}};
  for (const auto& b : bounds) {
    CAPTURE(std::string(dtypeName(b.type)));
    const std::vector<float> y = dequantizeAll(b.type, quantizeAll(b.type, x), int64_t(x.size()));
    double se = 0, sx = 0, worst = 0;
    for (size_t blk = 0; blk < x.size() / 256; ++blk) {
      double amax = 0;
      for (size_t i = 256 * blk; i < 256 * (blk + 1); ++i) amax = std::max(amax, double(std::fabs(x[i])));
      for (size_t i = 256 * blk; i < 256 * (blk + 1); ++i) {
        se += double(y[i] - x[i]) * (y[i] - x[i]);
        sx += double(x[i]) * x[i];
        worst = std::max(worst, std::fabs(double(y[i]) - x[i]) / amax);
      }
    }
    MESSAGE(std::string(dtypeName(b.type)), ": relative RMS error ", std::sqrt(se / sx), ", worst ", worst);
    CHECK(std::sqrt(se / sx) < b.rms);
    CHECK(worst < b.worst);
  }
  // zeros stay zeros, for every type
  std::vector<float> zeros(512, 0.0f);
  for (DType t : kTypes)
    for (float v : dequantizeAll(t, quantizeAll(t, zeros), 512)) CHECK(v == 0.0f);
}

TEST_CASE("the 4-6 bit matmul: the same bits for every T, thread split and ISA, within the activation bound") {
  const std::vector<kernels::Isa> isas = cpu::test::cpuIsas();
  std::mt19937 rng(11);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  const DType types[] = {DType::Q4_0, DType::Q4_K, DType::Q5_K, DType::Q6_K};
  for (DType type : types) {
    auto matmul = [](kernels::Isa isa, const TensorView& w, const float* x, int64_t T, int64_t ldx, float* y,
                     int64_t ldy, int64_t r0, int64_t r1) { kernels::matmulRows(isa, w, x, T, ldx, y, ldy, r0, r1); };
    for (int64_t K : {int64_t(768), int64_t(8192 + 512)}) {  // one column chunk; three (the last partial)
      CAPTURE(std::string(dtypeName(type)));
      CAPTURE(K);
      const int64_t rows = 37, T = 33;
      std::vector<float> wf(size_t(rows * K));
      for (auto& v : wf) v = dist(rng) * 0.1f;
      std::vector<uint8_t> wq = quantizeAll(type, wf);
      TensorView w;
      w.type = type;
      w.rows = rows;
      w.cols = K;
      w.data = wq.data();
      REQUIRE(kernels::supportsLayout(w, nullptr));
      const std::vector<float> wd = dequantizeAll(type, wq, rows * K);
      const int64_t ldx = K + 3;
      std::vector<float> x(size_t(T * ldx));
      for (auto& v : x) v = dist(rng);
      for (int64_t k = 0; k < 256; ++k) x[size_t(5 * ldx + k)] = 0.0f;  // a zero activation block
      // the reference: all T tokens at once, one call, portable
      std::vector<float> ref(size_t(T * rows));
      matmul(kernels::Isa::Portable, w, x.data(), T, ldx, ref.data(), rows, 0, rows);
      for (int64_t t = 0; t < T; ++t)
        for (int64_t r = 0; r < rows; ++r) {
          double exact = 0, bound = 1e-5;
          const bool act32 = type == DType::Q4_0;  // 32-value activation blocks, fp16 scale
          const int64_t block = act32 ? 32 : 256;
          for (int64_t b = 0; b < K / block; ++b) {
            double amax = 0;
            for (int64_t k = b * block; k < (b + 1) * block; ++k) amax = std::max(amax, double(std::fabs(x[t * ldx + k])));
            for (int64_t k = b * block; k < (b + 1) * block; ++k) {
              exact += double(wd[r * K + k]) * x[t * ldx + k];
              // each activation is off by at most half its step amax / 127, plus (Q4_0) the step's rounding to
              // fp16 times the largest quant, 127 * 2^-11 steps
              const double steps = act32 ? 0.5 + 127.0 / 2048 : 0.5;
              bound += std::fabs(wd[r * K + k]) * (steps * amax / 127.0) * 1.01 +
                       1e-6 * std::fabs(wd[r * K + k] * x[t * ldx + k]);
            }
          }
          CAPTURE(t);
          CAPTURE(r);
          CHECK(std::fabs(ref[t * rows + r] - exact) <= bound);
        }
      for (kernels::Isa isa : isas) {
        CAPTURE(kernels::isaName(isa));
        for (int64_t Tn : {int64_t(1), int64_t(2), int64_t(3), int64_t(8), int64_t(16), int64_t(17), int64_t(33)}) {
          std::vector<float> y(size_t(Tn * rows), -1.0f);
          // tokens one call per group of Tn, rows split in three uneven parts
          for (int64_t t0 = 0; t0 < T; t0 += Tn) {
            const int64_t n = std::min(Tn, T - t0);
            for (auto [b, e] : {std::pair<int64_t, int64_t>{0, 5}, {5, 30}, {30, rows}})
              matmul(isa, w, x.data() + t0 * ldx, n, ldx, y.data(), rows, b, e);
            CAPTURE(Tn);
            CAPTURE(t0);
            CHECK(std::memcmp(y.data(), ref.data() + t0 * rows, size_t(n * rows) * 4) == 0);
          }
        }
      }
    }
  }
}

TEST_CASE("8-bit activation blocks (ggml's Q8_0): every ISA gives the scalar quantiser's values") {
  std::mt19937 rng(77);
  std::normal_distribution<float> dist(0.0f, 2.0f);
  const int64_t blocks = 9;
  std::vector<float> x(static_cast<size_t>(32 * blocks));
  for (auto& v : x) v = dist(rng);
  for (int k = 0; k < 32; ++k) x[32 + k] = 0.0f;                 // block 1: all zero
  for (int k = 0; k < 31; ++k) x[64 + k] = float(k - 16) + 0.5f;  // block 2: halves, with amax 127 a step of 1,
  x[64 + 31] = -127.0f;                                            // so every value is a tie (to even)
  x[96 + 3] = 1e30f;                                               // block 3: one huge value, the rest round to 0
  std::vector<kernels::Act32> want(static_cast<size_t>(blocks));
  for (int64_t b = 0; b < blocks; ++b) kernels::quantizeAct32(x.data() + 32 * b, &want[b]);
  // ggml's definition, independently: q = round-half-even(x / d), d = amax / 127 stored as fp16
  for (int64_t b = 0; b < blocks; ++b) {
    float amax = 0;
    for (int k = 0; k < 32; ++k) amax = std::max(amax, std::fabs(x[32 * b + k]));
    const float d = amax / 127.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
    int32_t sum = 0;
    for (int k = 0; k < 32; ++k) {
      const volatile float scaled = x[32 * b + k] * id;
      const int q = int(std::nearbyint(scaled));
      CHECK(want[b].qs[k] == q);
      sum += q;
    }
    CHECK(want[b].sum == sum);
    CHECK(want[b].d == model::fp16ToF32(model::f32ToFp16(d)));
  }
  CHECK(want[2].qs[14] == -2);  // -1.5
  CHECK(want[2].qs[15] == 0);   // -0.5
  CHECK(want[2].qs[16] == 0);   // 0.5
  CHECK(want[2].qs[17] == 2);   // 1.5
  CHECK(want[2].qs[18] == 2);   // 2.5
  CHECK(want[2].qs[31] == -127);
  for (kernels::Isa isa : cpu::test::cpuIsas()) {
    CAPTURE(kernels::isaName(isa));
    std::vector<kernels::Act32> got(static_cast<size_t>(blocks));
    kernels::quantizeAct32Blocks(isa, x.data(), blocks, got.data());
    for (int64_t b = 0; b < blocks; ++b) {
      CAPTURE(b);
      CHECK(std::memcmp(&got[b], &want[b], sizeof(kernels::Act32)) == 0);
    }
  }
}

TEST_CASE("a 4-6 bit matrix whose columns are not whole blocks is refused, naming tensor and type") {
  TensorView w;
  w.type = DType::Q4_K;
  w.rows = 2;
  w.cols = 128;
  std::string why;
  CHECK_FALSE(kernels::supportsLayout(w, &why));
  CHECK(why.find("q4_k") != std::string::npos);
  // A GGUF declaring a q4_k tensor of 128 columns is refused by the reader. The writer will not write one, so a
  // q8_0 tensor [512, 1] is written and its header entry patched into a q4_k [128, 4].
  test::TempFile f("q4k-cols.gguf");
  {
    GgufWriter gw;
    gw.setString("general.architecture", "llama");
    gw.addTensor("blk.0.attn_q.weight", GgmlType::Q8_0, {512, 1}, [](std::vector<uint8_t>& b) { b.assign(544, 0); });
    gw.write(f.path);
  }
  std::vector<char> bytes;
  {
    FILE* fp = std::fopen(f.path.c_str(), "rb");
    REQUIRE(fp);
    std::fseek(fp, 0, SEEK_END);
    bytes.resize(size_t(std::ftell(fp)));
    std::fseek(fp, 0, SEEK_SET);
    REQUIRE(std::fread(bytes.data(), 1, bytes.size(), fp) == bytes.size());
    std::fclose(fp);
  }
  const std::string name = "blk.0.attn_q.weight";
  auto at = std::search(bytes.begin(), bytes.end(), name.begin(), name.end());
  REQUIRE(at != bytes.end());
  size_t p = size_t(at - bytes.begin()) + name.size();
  uint32_t dims;
  std::memcpy(&dims, &bytes[p], 4);
  REQUIRE(dims == 2);
  const uint64_t ne0 = 128, ne1 = 4;  // 512 values as q4_k: 128 columns are half a block
  std::memcpy(&bytes[p + 4], &ne0, 8);
  std::memcpy(&bytes[p + 12], &ne1, 8);
  const uint32_t q4k = uint32_t(GgmlType::Q4_K);
  std::memcpy(&bytes[p + 20], &q4k, 4);
  {
    FILE* fp = std::fopen(f.path.c_str(), "wb");
    REQUIRE(fp);
    std::fwrite(bytes.data(), 1, bytes.size(), fp);
    std::fclose(fp);
  }
  try {
    GgufFile::open(f.path);
    FAIL("expected InvalidModel");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::InvalidModel);
    const std::string m = e.what();
    CHECK(m.find("blk.0.attn_q.weight") != std::string::npos);
    CHECK(m.find("q4_k") != std::string::npos);
    CHECK(m.find("128 columns") != std::string::npos);
  }
}

namespace {

// A random-weight llama GGUF (f32) of 8 layers, dim 256, hidden 512, with tok512.bin's vocabulary.
void writeWideModel(const std::string& path) {
  auto tokenizer = tokenizer::Tokenizer::load(test::fixture("tok512.bin"));
  ModelConfig c;
  c.dim = 256;
  c.hiddenDim = 512;
  c.nLayers = 8;
  c.nHeads = 4;
  c.nKvHeads = 2;
  c.vocabSize = 512;
  c.contextLength = 128;
  GgufWriter w;
  tools::addLlamaMetadata(w, c, *tokenizer, path, "wide", 0);
  uint32_t seed = 1;
  auto add = [&](const std::string& name, int64_t rows, int64_t cols) {
    const uint32_t s = seed++;
    std::vector<uint64_t> ne = {uint64_t(cols)};
    if (rows > 1) ne.push_back(uint64_t(rows));
    w.addTensor(name, GgmlType::F32, ne, [rows, cols, s](std::vector<uint8_t>& bytes) {
      std::mt19937 rng(s);
      std::normal_distribution<float> dist(rows == 1 ? 1.0f : 0.0f, 0.1f);
      std::vector<float> v(size_t(rows * cols));
      for (auto& x : v) x = dist(rng);
      bytes.resize(v.size() * 4);
      std::memcpy(bytes.data(), v.data(), bytes.size());
    });
  };
  add("token_embd.weight", c.vocabSize, c.dim);
  add("output_norm.weight", 1, c.dim);
  add("output.weight", c.vocabSize, c.dim);
  for (int l = 0; l < c.nLayers; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    add(p + "attn_norm.weight", 1, c.dim);
    add(p + "attn_q.weight", c.dim, c.dim);
    add(p + "attn_k.weight", c.kvDim(), c.dim);
    add(p + "attn_v.weight", c.kvDim(), c.dim);
    add(p + "attn_output.weight", c.dim, c.dim);
    add(p + "ffn_norm.weight", 1, c.dim);
    add(p + "ffn_gate.weight", c.hiddenDim, c.dim);
    add(p + "ffn_down.weight", c.dim, c.hiddenDim);
    add(p + "ffn_up.weight", c.hiddenDim, c.dim);
  }
  w.write(path);
}

double relativeRms(const TensorView& a, const TensorView& b) {
  std::vector<float> x(size_t(a.cols)), y(size_t(b.cols));
  double se = 0, sx = 0;
  for (int64_t r = 0; r < a.rows; ++r) {
    dequantizeRow(a, r, x.data());
    dequantizeRow(b, r, y.data());
    for (int64_t k = 0; k < a.cols; ++k) {
      se += double(x[k] - y[k]) * (x[k] - y[k]);
      sx += double(x[k]) * x[k];
    }
  }
  return std::sqrt(se / sx);
}

}  // namespace

TEST_CASE("convert --type q4_k_m follows llama.cpp's mix; every 4-6 bit type converts and loads back") {
  test::TempFile src("wide-f32.gguf");
  writeWideModel(src.path);
  auto source = loadModelWeights(src.path);
  for (const char* type : {"q4_0", "q4_k", "q5_k", "q6_k", "q4_k_m"}) {
    CAPTURE(type);
    test::TempFile out(std::string("wide-") + type + ".gguf");
    tools::ConvertOptions o;
    o.modelPath = src.path;
    o.outPath = out.path;
    o.type = type;
    tools::ConvertResult r = tools::convertToGguf(o);
    CHECK(r.fallbacks.empty());
    auto g = GgufFile::open(out.path);
    auto typeOf = [&](const std::string& name) { return std::string(ggmlTypeTraits(g->findTensor(name)->type)->name); };
    CHECK(typeOf("output_norm.weight") == "f32");
    const std::string mixed = type == std::string("q4_k_m") ? "q4_k" : type;
    CHECK(typeOf("token_embd.weight") == mixed);
    // q4_k_m: the classifier, and attn_v / ffn_down in llama.cpp's use_more_bits layers (8 layers: 0, 3, 6, 7)
    CHECK(typeOf("output.weight") == (type == std::string("q4_k_m") ? "q6_k" : mixed));
    for (int l = 0; l < 8; ++l) {
      CAPTURE(l);
      const std::string p = "blk." + std::to_string(l) + ".";
      const bool more = l == 0 || l == 3 || l == 6 || l == 7;
      const std::string vd = type == std::string("q4_k_m") && more ? "q6_k" : mixed;
      CHECK(typeOf(p + "attn_v.weight") == vd);
      CHECK(typeOf(p + "ffn_down.weight") == vd);
      CHECK(typeOf(p + "attn_q.weight") == mixed);
      CHECK(typeOf(p + "ffn_up.weight") == mixed);
      CHECK(typeOf(p + "attn_norm.weight") == "f32");
    }
    CHECK(g->getUint("general.file_type", 0, true, 1000) ==
          (std::string(type) == "q4_0" ? 2u : type == std::string("q4_k") ? 14u : type == std::string("q5_k") ? 16u
           : type == std::string("q6_k") ? 18u : 15u));
    auto w = loadModelWeights(out.path);
    CHECK(relativeRms(source->layers[3].w2, w->layers[3].w2) < 0.1);
    CHECK(relativeRms(source->output, w->output) < 0.1);
    CHECK(relativeRms(source->layers[1].wq, w->layers[1].wq) < 0.1);
    if (std::string(type) == "q4_k_m") {
      // a quantised GGUF converts too: back to f16, the same values as the q4_k_m file's
      test::TempFile back("wide-back.gguf");
      o.modelPath = out.path;
      o.outPath = back.path;
      o.type = "f16";
      tools::convertToGguf(o);
      auto b = loadModelWeights(back.path);
      CHECK(b->layers[3].w2.type == DType::F16);
      CHECK(relativeRms(w->layers[3].w2, b->layers[3].w2) < 1e-3);
      CHECK(relativeRms(w->tokenEmbedding, b->tokenEmbedding) < 1e-3);
    }
  }
}
