// The matrix kernels (native/cpu/kernels/matmul.h) on odd shapes (rows and columns that are not multiples of the
// tiles or vector widths, T = 1..17 and 33 tokens), for every weight DType: the AVX2 kernel reduces every element in
// exactly the documented order (checked bit for bit against a scalar emulation), every ISA gives the same bits
// whatever T, the row split between threads, or the next-panel prefetch, and all agree with a double-precision sum.
// The same for F32/F16 weights packed into 16-row panels (kernels/packed_matmul.h), whose documented order is a
// strictly sequential sum over k, for Q4_0 block panels (the same order over the dequantised values), and for Q8_0
// block panels (integer block sums against 8-bit activations, combined as ggml defines them: q8Order).
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "cpu/kernels/isa.h"
#include "cpu/kernels/matmul.h"
#include "cpu/kernels/packed_matmul.h"
#include "isas.h"
#include "model/dequantize.h"
#include "model/half.h"
#include "model/weights.h"

using namespace redrafter;
using namespace redrafter::cpu;
using namespace redrafter::model;

namespace {

// A [rows, cols] tensor of `type` with seeded random values, and its storage.
struct Matrix {
  TensorView view;
  std::vector<std::shared_ptr<void>> storage;
};

Matrix makeMatrix(DType type, int64_t rows, int64_t cols, uint32_t seed, int64_t q8Group = 24) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, 0.5f);
  std::vector<float> v(static_cast<size_t>(rows * cols));
  for (auto& x : v) x = dist(rng);
  Matrix m;
  m.view.type = type;
  m.view.rows = rows;
  m.view.cols = cols;
  if (type == DType::F32) {
    auto buf = std::make_shared<std::vector<float>>(v);
    m.view.data = buf->data();
    m.storage.push_back(buf);
  } else if (type == DType::F16 || type == DType::BF16) {
    auto buf = std::make_shared<std::vector<uint16_t>>(v.size());
    for (size_t i = 0; i < v.size(); ++i) {
      uint32_t bits;
      std::memcpy(&bits, &v[i], 4);
      (*buf)[i] = type == DType::F16 ? f32ToFp16(v[i]) : static_cast<uint16_t>(bits >> 16);
    }
    m.view.data = buf->data();
    m.storage.push_back(buf);
  } else if (type == DType::Q8_0) {  // cols % 32 == 0: blocks of {fp16 d, int8 q[32]}
    auto buf = std::make_shared<std::vector<uint8_t>>(v.size() / 32 * 34);
    for (size_t b = 0; b < v.size() / 32; ++b) {
      float amax = 0;
      for (int i = 0; i < 32; ++i) amax = std::max(amax, std::fabs(v[b * 32 + i]));
      float d = amax / 127.0f;
      uint16_t dh = f32ToFp16(d);
      std::memcpy(buf->data() + b * 34, &dh, 2);
      for (int i = 0; i < 32; ++i)
        (*buf)[b * 34 + 2 + i] = static_cast<uint8_t>(static_cast<int8_t>(d > 0 ? std::round(v[b * 32 + i] / d) : 0));
    }
    m.view.data = buf->data();
    m.storage.push_back(buf);
  } else if (type == DType::Q4_0) {  // cols % 32 == 0: ggml's reference quantisation, row by row
    const BlockFormat f = blockFormat(type);
    auto buf = std::make_shared<std::vector<uint8_t>>(static_cast<size_t>(rows * cols / f.elements * f.bytes));
    for (int64_t r = 0; r < rows; ++r)
      quantizeRow(type, v.data() + r * cols, cols, buf->data() + r * cols / f.elements * f.bytes);
    m.view.data = buf->data();
    m.storage.push_back(buf);
  } else {  // Q8_G_F32, groups of q8Group over the flattened tensor (a group may span two rows)
    const int64_t group = q8Group, groups = (rows * cols + group - 1) / group;
    auto q = std::make_shared<std::vector<int8_t>>(v.size());
    auto sc = std::make_shared<std::vector<float>>(static_cast<size_t>(groups));
    for (int64_t g = 0; g < groups; ++g) {
      const int64_t end = std::min<int64_t>((g + 1) * group, rows * cols);
      float amax = 0;
      for (int64_t i = g * group; i < end; ++i) amax = std::max(amax, std::fabs(v[i]));
      float d = amax / 127.0f;
      (*sc)[g] = d;
      for (int64_t i = g * group; i < end; ++i) (*q)[i] = static_cast<int8_t>(d > 0 ? std::round(v[i] / d) : 0);
    }
    m.view.data = q->data();
    m.view.scales = sc->data();
    m.view.groupSize = static_cast<int32_t>(group);
    m.storage.push_back(q);
    m.storage.push_back(sc);
  }
  return m;
}

// The packed copy of m's F32/F16 (16- or 8-row panels) or Q8_0/Q4_0 (16-row block panels) view, sharing m's
// storage list.
Matrix packedMatrix(const Matrix& m, Layout layout = Layout::Panels16) {
  Matrix p = m;
  auto buf = std::make_shared<std::vector<uint8_t>>(
      static_cast<size_t>(kernels::packedBytes(m.view.type, m.view.rows, m.view.cols, layout)));
  const int64_t pr = panelRowsOf(layout);
  kernels::packPanels(m.view, buf->data(), 0, (m.view.rows + pr - 1) / pr, layout);
  p.view = kernels::packedView(m.view, buf->data(), layout);
  p.storage.push_back(buf);
  return p;
}

// The matrix and, when packable, its packed copies: every layout the kernels must handle.
std::vector<Matrix> layoutsOf(const Matrix& m) {
  std::vector<Matrix> list = {m};
  if (kernels::packable(m.view)) {
    list.push_back(packedMatrix(m, Layout::Panels16));
    list.push_back(packedMatrix(m, Layout::Panels8));
  }
  if (kernels::packableBlocks(m.view)) list.push_back(packedMatrix(m));
  return list;
}

std::vector<float> randomX(int64_t T, int64_t cols, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> x(static_cast<size_t>(T * cols));
  for (auto& v : x) v = dist(rng);
  return x;
}

// a * b + c rounded once, as the FMA instruction does. Not std::fma: MinGW-w64's runtime fmaf is not correctly
// rounded (found by scripts/check-windows.sh); the kernels use the instruction, so the references do too (AVX2 CPUs).
__attribute__((target("fma"))) float fusedMultiplyAdd(float a, float b, float c) { return __builtin_fmaf(a, b, c); }

// The AVX2 order of matmul.h: lane l (of 8) accumulates k = l, l + 8, ... with FMA, then the fixed horizontal sum
// ((l0 + l4) + (l2 + l6)) + ((l1 + l5) + (l3 + l7)), then the tail columns in order with FMA.
float avx2Order(const float* w, const float* x, int64_t K) {
  float lane[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  const int64_t Kv = K & ~int64_t(7);
  for (int64_t k = 0; k < Kv; k += 8)
    for (int l = 0; l < 8; ++l) lane[l] = fusedMultiplyAdd(w[k + l], x[k + l], lane[l]);
  float s = ((lane[0] + lane[4]) + (lane[2] + lane[6])) + ((lane[1] + lane[5]) + (lane[3] + lane[7]));
  for (int64_t k = Kv; k < K; ++k) s = fusedMultiplyAdd(w[k], x[k], s);
  return s;
}

// The packed order of packed_matmul.h: sequentially over k from 0, with FMA (AVX2) or a separately rounded product
// (portable).
float packedOrder(const float* w, const float* x, int64_t K, bool fused) {
  float s = 0.0f;
  for (int64_t k = 0; k < K; ++k) {
    if (fused) {
      s = fusedMultiplyAdd(w[k], x[k], s);
    } else {
      volatile float product = w[k] * x[k];  // volatile: no contraction into an FMA
      s = s + product;
    }
  }
  return s;
}

// The Q8_0 panels' arithmetic (packed_matmul.h) for row w (cols values, as d * q in ggml's row-major blocks of 34
// bytes) and activations x, written from ggml's definitions: x quantised per block of 32 (q = round-half-even(x *
// 127 / amax), d = amax / 127 as fp16), the block's integer dot product, the blocks combined in order with every
// operation rounded separately.
float q8Order(const uint8_t* w, const float* x, int64_t K) {
  float acc = 0.0f;
  for (int64_t j = 0; j < K / 32; ++j) {
    const uint8_t* b = w + j * 34;
    float amax = 0;
    for (int k = 0; k < 32; ++k) amax = std::max(amax, std::fabs(x[j * 32 + k]));
    const float d = amax / 127.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
    int32_t isum = 0;
    for (int k = 0; k < 32; ++k) {
      const volatile float scaled = x[j * 32 + k] * id;
      isum += int32_t(int8_t(b[2 + k])) * int32_t(std::nearbyint(scaled));
    }
    uint16_t dw;
    std::memcpy(&dw, b, 2);
    const volatile float term = (fp16ToF32(dw) * fp16ToF32(f32ToFp16(d))) * float(isum);
    acc = acc + term;
  }
  return acc;
}

std::vector<float> dequantized(const TensorView& w) {  // [rows, cols]
  std::vector<float> out(static_cast<size_t>(w.rows * w.cols));
  for (int64_t r = 0; r < w.rows; ++r) model::dequantizeRow(w, r, out.data() + r * w.cols);
  return out;
}

std::vector<float> matmul(kernels::Isa isa, const TensorView& w, const std::vector<float>& x, int64_t T,
                          int64_t split = -1, bool prefetch = true) {  // y [T, rows]
  std::vector<float> y(static_cast<size_t>(T * w.rows), NAN);
  auto run = [&](int64_t b, int64_t e) {
    if (prefetch) kernels::matmulRows(isa, w, x.data(), T, w.cols, y.data(), w.rows, b, e);
    else kernels::matmulRowsWithoutPrefetch(isa, w, x.data(), T, w.cols, y.data(), w.rows, b, e);
  };
  if (split < 0) {
    run(0, w.rows);
  } else {
    run(split, w.rows);  // the second thread's rows first: order of ranges must not matter either
    run(0, split);
  }
  return y;
}

using test::cpuIsas;

struct Case {
  DType type;
  int64_t rows, cols;
  int64_t q8Group = 24;  // Q8_G_F32's group size
};

std::vector<Case> cases() {
  std::vector<Case> list;
  for (DType t : {DType::F32, DType::F16, DType::BF16, DType::Q8_G_F32})
    for (auto [r, c] : std::vector<std::pair<int64_t, int64_t>>{{1, 8}, {5, 13}, {19, 40}, {37, 67}, {70, 96}, {53, 203}})
      list.push_back({t, r, c});
  // groups shorter than an AVX2 vector (several groups in one), than an AVX-512 one (two), and longer (one or two)
  for (int64_t group : {3, 4, 12, 40})
    for (auto [r, c] : std::vector<std::pair<int64_t, int64_t>>{{5, 13}, {19, 40}, {37, 67}})
      list.push_back({DType::Q8_G_F32, r, c, group});
  // llama2.c's usual case: power-of-two groups, a whole number per row (every vector in one group)
  for (int64_t group : {8, 16, 64})
    for (auto [r, c] : std::vector<std::pair<int64_t, int64_t>>{{5, 64}, {19, 128}, {37, 192}})
      list.push_back({DType::Q8_G_F32, r, c, group});
  for (auto [r, c] : std::vector<std::pair<int64_t, int64_t>>{{3, 32}, {21, 64}, {37, 96}, {70, 160}})
    list.push_back({DType::Q8_0, r, c});
  return list;
}

const std::vector<int64_t> kTokenCounts = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 33};

}  // namespace

TEST_CASE("the AVX2 matmul reduces every element in the documented order, bit for bit, for every T and dtype") {
  if (kernels::detectIsa() < kernels::Isa::Avx2) return;  // nothing to check on this CPU
  uint32_t seed = 1;
  for (const Case& c : cases()) {
    CAPTURE(dtypeName(c.type));
    CAPTURE(c.rows);
    CAPTURE(c.cols);
    CAPTURE(c.q8Group);
    Matrix m = makeMatrix(c.type, c.rows, c.cols, seed++, c.q8Group);
    const auto wf = dequantized(m.view);
    for (int64_t T : kTokenCounts) {
      CAPTURE(T);
      const auto x = randomX(T, c.cols, seed++);
      const auto y = matmul(kernels::Isa::Avx2, m.view, x, T);
      int64_t mismatches = 0;
      for (int64_t t = 0; t < T; ++t)
        for (int64_t r = 0; r < c.rows; ++r)
          mismatches += y[t * c.rows + r] != avx2Order(wf.data() + r * c.cols, x.data() + t * c.cols, c.cols);
      CHECK(mismatches == 0);
    }
  }
}

TEST_CASE("matmulRows gives the same bits whatever T, the thread split or the prefetch, on every ISA") {
  uint32_t seed = 100;
  for (kernels::Isa isa : cpuIsas()) {
    for (const Case& c : cases()) {
      CAPTURE(kernels::isaName(isa));
      CAPTURE(dtypeName(c.type));
      CAPTURE(c.rows);
      CAPTURE(c.cols);
      CAPTURE(c.q8Group);
      Matrix original = makeMatrix(c.type, c.rows, c.cols, seed++, c.q8Group);
      for (const Matrix& m : layoutsOf(original)) {
        CAPTURE(int(m.view.layout));
        const int64_t Tmax = 33;
        const auto x = randomX(Tmax, c.cols, seed++);
        // each token alone: the T = 1 (decode) results
        std::vector<float> single(static_cast<size_t>(Tmax * c.rows));
        for (int64_t t = 0; t < Tmax; ++t) {
          std::vector<float> xt(x.begin() + t * c.cols, x.begin() + (t + 1) * c.cols);
          auto y = matmul(isa, m.view, xt, 1);
          std::copy(y.begin(), y.end(), single.begin() + t * c.rows);
        }
        for (int64_t T : kTokenCounts) {
          CAPTURE(T);
          auto same = [&](const std::vector<float>& y) {
            return std::memcmp(y.data(), single.data(), sizeof(float) * static_cast<size_t>(T * c.rows)) == 0;
          };
          CHECK(same(matmul(isa, m.view, x, T)));
          CHECK(same(matmul(isa, m.view, x, T, -1, false)));
          for (int64_t split : {int64_t(1), int64_t(7), int64_t(16), int64_t(17), c.rows - 1})
            if (split > 0 && split < c.rows) CHECK(same(matmul(isa, m.view, x, T, split)));
        }
      }
    }
  }
}

TEST_CASE("matmulRows agrees with a double-precision sum on every ISA and dtype") {
  uint32_t seed = 200;
  for (kernels::Isa isa : cpuIsas()) {
    for (const Case& c : cases()) {
      CAPTURE(kernels::isaName(isa));
      CAPTURE(dtypeName(c.type));
      CAPTURE(c.rows);
      CAPTURE(c.cols);
      CAPTURE(c.q8Group);
      Matrix original = makeMatrix(c.type, c.rows, c.cols, seed++, c.q8Group);
      for (const Matrix& m : layoutsOf(original)) {
        CAPTURE(int(m.view.layout));
        const auto wf = dequantized(m.view);
        for (int64_t T : {int64_t(1), int64_t(5), int64_t(8), int64_t(17)}) {
          const auto x = randomX(T, c.cols, seed++);
          const auto y = matmul(isa, m.view, x, T, c.rows / 2);
          // Q8_0 panels quantise the activations to 8 bits: each is off by at most half its block's step amax / 127,
          // and the block's scale by the fp16 rounding (2^-11 relative): that much error is allowed on top
          const bool q8Activations = c.type == DType::Q8_0 && m.view.layout == Layout::Panels16;
          double worst = 0;
          for (int64_t t = 0; t < T; ++t)
            for (int64_t r = 0; r < c.rows; ++r) {
              double sum = 0, scale = 0, quantisation = 0;
              for (int64_t j = 0; j < c.cols; j += 32) {
                double amax = 0, wAbs = 0, blockScale = 0;
                for (int64_t k = j; k < std::min(c.cols, j + 32); ++k) {
                  double p = double(wf[r * c.cols + k]) * double(x[t * c.cols + k]);
                  sum += p;
                  blockScale += std::fabs(p);
                  amax = std::max(amax, std::fabs(double(x[t * c.cols + k])));
                  wAbs += std::fabs(double(wf[r * c.cols + k]));
                }
                scale += blockScale;
                quantisation += 0.5 * amax / 127 * wAbs + std::ldexp(blockScale * 1.01, -10);
              }
              const double allowed = q8Activations ? quantisation : 0.0;
              worst = std::max(worst, (std::fabs(y[t * c.rows + r] - sum) - allowed) / std::max(scale, 1e-30));
            }
          CHECK(worst < 1e-5);
        }
    }
    }
  }
}

TEST_CASE("packed F32/F16 (16- and 8-row panels) and Q8_0/Q4_0 weights: the same values by row, and every ISA reduces in the documented packed order") {
  uint32_t seed = 300;
  const std::vector<std::pair<int64_t, int64_t>> shapes = {{1, 8}, {5, 13}, {19, 40}, {37, 67}, {70, 96},
                                                           {53, 203}, {16, 5}, {64, 33}};
  const std::vector<std::pair<int64_t, int64_t>> blockShapes = {{1, 32}, {5, 64}, {19, 96}, {37, 160},
                                                                {70, 32}, {16, 64}, {53, 224}, {64, 128}};
  for (DType type : {DType::F32, DType::F16, DType::Q8_0, DType::Q4_0})
    for (Layout layout : {Layout::Panels16, Layout::Panels8})
    for (auto [rows, cols] : type == DType::F32 || type == DType::F16 ? shapes : blockShapes) {
      if (layout == Layout::Panels8 && !(type == DType::F32 || type == DType::F16)) continue;  // F32/F16 only
      CAPTURE(dtypeName(type));
      CAPTURE(int(layout));
      CAPTURE(rows);
      CAPTURE(cols);
      Matrix m = makeMatrix(type, rows, cols, seed++);
      Matrix p = packedMatrix(m, layout);
      const auto wf = dequantized(m.view);
      CHECK(dequantized(p.view) == wf);  // the packed copy holds the same values, readable by row
      // (Q8_0 / Q4_0: the exact values d * q of the row-major blocks; Q4_0 decoded in the kernels and applied as F32,
      // Q8_0 against 8-bit activations)
      for (kernels::Isa isa : cpuIsas()) {
        CAPTURE(kernels::isaName(isa));
        const bool fused = isa != kernels::Isa::Portable;
        for (int64_t T : kTokenCounts) {
          CAPTURE(T);
          const auto x = randomX(T, cols, seed++);
          const auto y = matmul(isa, p.view, x, T);
          const auto* q8Rows = static_cast<const uint8_t*>(m.view.data);  // Q8_0: ggml's row-major blocks
          int64_t mismatches = 0;
          for (int64_t t = 0; t < T; ++t)
            for (int64_t r = 0; r < rows; ++r) {
              const float* xt = x.data() + t * cols;
              const float want = type == DType::Q8_0 ? q8Order(q8Rows + r * cols / 32 * 34, xt, cols)
                                                     : packedOrder(wf.data() + r * cols, xt, cols, fused);
              mismatches += y[t * rows + r] != want;
            }
          CHECK(mismatches == 0);
          if (fused) {  // k-blocks (the L1 variant) keep the order
            std::vector<float> yb(static_cast<size_t>(T * rows), NAN);
            kernels::matmulPacked(isa, p.view, x.data(), T, cols, yb.data(), rows, 0, rows, 7);
            CHECK(std::memcmp(yb.data(), y.data(), sizeof(float) * yb.size()) == 0);
          }
        }
      }
    }
}

TEST_CASE("Q8_0 block panels refuse a quant of -128 (the integer kernel's sign trick needs -127..127)") {
  Matrix m = makeMatrix(DType::Q8_0, 3, 64, 7);
  auto* bytes = static_cast<uint8_t*>(const_cast<void*>(m.view.data));
  CHECK_NOTHROW(packedMatrix(m));
  bytes[34 + 2 + 5] = 0x80;  // row 0, block 1, quant 5
  CHECK_THROWS_WITH(packedMatrix(m), doctest::Contains("-128"));
}

TEST_CASE("dotRows: bit for bit dot() row by row (AVX-512 rows under 16 floats: the AVX2 order), with and without an index") {
  std::mt19937 rng(41);
  std::normal_distribution<float> d(0.0f, 1.0f);
  for (kernels::Isa isa : cpuIsas())
    for (int64_t n : {8, 5, 16, 24, 64})
      for (int64_t count : {1, 7, 8, 9, 16, 21}) {
        CAPTURE(kernels::isaName(isa));
        CAPTURE(n);
        CAPTURE(count);
        const int64_t stride = n + 3, slots = 2 * count + 1;
        std::vector<float> rows(static_cast<size_t>(slots * stride)), q(static_cast<size_t>(n));
        for (auto& v : rows) v = d(rng);
        for (auto& v : q) v = d(rng);
        std::vector<int32_t> index(static_cast<size_t>(count));
        for (int64_t i = 0; i < count; ++i) index[i] = static_cast<int32_t>((i * 7 + 3) % slots);
        const kernels::Isa rowIsa = isa == kernels::Isa::Avx512 && n < 16 ? kernels::Isa::Avx2 : isa;
        for (bool indexed : {false, true}) {
          std::vector<float> out(static_cast<size_t>(count));
          kernels::dotRows(isa, q.data(), rows.data(), stride, indexed ? index.data() : nullptr, count, n, 0.37f,
                           out.data());
          int64_t mismatches = 0;
          for (int64_t i = 0; i < count; ++i) {
            const float* r = rows.data() + (indexed ? index[i] : i) * stride;
            const float want = kernels::dot(rowIsa, q.data(), r, n) * 0.37f;
            mismatches += std::memcmp(&want, &out[i], sizeof(float)) != 0;
          }
          CHECK(mismatches == 0);
        }
      }
}
