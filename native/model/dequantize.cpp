#include "model/dequantize.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "core/error.h"
#include "model/half.h"

namespace redrafter::model {

namespace {

inline void putHalf(uint8_t* p, float v) {
  uint16_t h = f32ToFp16(v);
  std::memcpy(p, &h, 2);
}

// ---- quantisers: ggml-quants.c's *_ref algorithms (the specification), written out here ----------------------

void quantizeQ4_0Block(const float* x, uint8_t* out) {
  float amax = 0, max = 0;
  for (int j = 0; j < 32; ++j)
    if (amax < std::fabs(x[j])) {
      amax = std::fabs(x[j]);
      max = x[j];
    }
  const float d = max / -8;
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  putHalf(out, d);
  for (int j = 0; j < 16; ++j) {
    const uint8_t lo = std::min(15, int(int8_t(x[j] * id + 8.5f)));
    const uint8_t hi = std::min(15, int(int8_t(x[16 + j] * id + 8.5f)));
    out[2 + j] = uint8_t(lo | (hi << 4));
  }
}

// make_qkx2_quants: an asymmetric quantisation of n values to 0..nmax (scale, and -min in *negMin), refining the
// scale over nstep candidate grids by weighted least squares.
float fitScaleMin(int n, int nmax, const float* x, const float* weights, uint8_t* L, float* negMin, uint8_t* Laux,
                  float rmin, float rdelta, int nstep) {
  float min = x[0], max = x[0];
  float sumW = weights[0], sumX = sumW * x[0];
  for (int i = 1; i < n; ++i) {
    if (x[i] < min) min = x[i];
    if (x[i] > max) max = x[i];
    const float w = weights[i];
    sumW += w;
    sumX += w * x[i];
  }
  if (min > 0) min = 0;
  if (max == min) {
    for (int i = 0; i < n; ++i) L[i] = 0;
    *negMin = -min;
    return 0.f;
  }
  float iscale = nmax / (max - min);
  float scale = 1 / iscale;
  float bestError = 0;
  for (int i = 0; i < n; ++i) {
    const int l = nearestInt(iscale * (x[i] - min));
    L[i] = uint8_t(std::max(0, std::min(nmax, l)));
    const float diff = scale * L[i] + min - x[i];
    bestError += weights[i] * (diff * diff);
  }
  for (int is = 0; is <= nstep; ++is) {
    iscale = (rmin + rdelta * is + nmax) / (max - min);
    float sumL = 0, sumL2 = 0, sumXL = 0;
    for (int i = 0; i < n; ++i) {
      const int l = std::max(0, std::min(nmax, nearestInt(iscale * (x[i] - min))));
      Laux[i] = uint8_t(l);
      const float w = weights[i];
      sumL += w * l;
      sumL2 += w * l * l;
      sumXL += w * l * x[i];
    }
    const float D = sumW * sumL2 - sumL * sumL;
    if (D > 0) {
      float thisScale = (sumW * sumXL - sumX * sumL) / D;
      float thisMin = (sumL2 * sumX - sumL * sumXL) / D;
      if (thisMin > 0) {
        thisMin = 0;
        thisScale = sumXL / sumL2;
      }
      float error = 0;
      for (int i = 0; i < n; ++i) {
        const float diff = thisScale * Laux[i] + thisMin - x[i];
        error += weights[i] * (diff * diff);
      }
      if (error < bestError) {
        for (int i = 0; i < n; ++i) L[i] = Laux[i];
        bestError = error;
        scale = thisScale;
        min = thisMin;
      }
    }
  }
  *negMin = -min;
  return scale;
}

// Q4_K (nmax 15) and Q5_K (nmax 31): per 32-value sub-block a scale and a min (fitScaleMin), both quantised to
// 6 bits against the block's largest (d, dmin), then the values re-quantised with the stored scales. Writes the
// d/dmin/scales header at out and returns the quants (0..nmax) in L[256].
void quantizeKBlockHeader(const float* x, int nmax, float rmin, int nstep, uint8_t* out, uint8_t* L) {
  float mins[8], scales[8], weights[32];
  uint8_t Laux[32];
  float maxScale = 0, maxMin = 0;
  for (int j = 0; j < 8; ++j) {
    float sumX2 = 0;
    for (int l = 0; l < 32; ++l) sumX2 += x[32 * j + l] * x[32 * j + l];
    const float avX = std::sqrt(sumX2 / 32);
    for (int l = 0; l < 32; ++l) weights[l] = avX + std::fabs(x[32 * j + l]);
    scales[j] = fitScaleMin(32, nmax, x + 32 * j, weights, L + 32 * j, &mins[j], Laux, rmin, 0.1f, nstep);
    if (scales[j] > maxScale) maxScale = scales[j];
    if (mins[j] > maxMin) maxMin = mins[j];
  }
  const float invScale = maxScale > 0 ? 63.f / maxScale : 0.f;
  const float invMin = maxMin > 0 ? 63.f / maxMin : 0.f;
  uint8_t* sc = out + 4;
  std::memset(sc, 0, 12);
  for (int j = 0; j < 8; ++j) {
    const uint8_t ls = uint8_t(std::min(63, nearestInt(invScale * scales[j]) & 0xff));
    const uint8_t lm = uint8_t(std::min(63, nearestInt(invMin * mins[j]) & 0xff));
    if (j < 4) {
      sc[j] = ls;
      sc[j + 4] = lm;
    } else {
      sc[j + 4] = uint8_t((ls & 0xF) | ((lm & 0xF) << 4));
      sc[j - 4] |= uint8_t((ls >> 4) << 6);
      sc[j] |= uint8_t((lm >> 4) << 6);
    }
  }
  putHalf(out, maxScale / 63.f);
  putHalf(out + 2, maxMin / 63.f);
  const float d = fp16AtToF32(out), dmin = fp16AtToF32(out + 2);
  uint8_t ls[8], lm[8];
  kQuantScalesMins(sc, ls, lm);
  for (int j = 0; j < 8; ++j) {
    const float dj = d * ls[j];
    if (dj == 0.0f) continue;
    const float dm = dmin * lm[j];
    for (int i = 0; i < 32; ++i) L[32 * j + i] = uint8_t(std::max(0, std::min(nmax, nearestInt((x[32 * j + i] + dm) / dj))));
  }
}

void quantizeQ4_KBlock(const float* x, uint8_t* out) {
  uint8_t L[256];
  quantizeKBlockHeader(x, 15, -1.f, 20, out, L);
  uint8_t* q = out + 16;
  for (int j = 0; j < 256; j += 64, q += 32)
    for (int l = 0; l < 32; ++l) q[l] = uint8_t(L[j + l] | (L[j + l + 32] << 4));
}

void quantizeQ5_KBlock(const float* x, uint8_t* out) {
  uint8_t L[256];
  quantizeKBlockHeader(x, 31, -0.5f, 15, out, L);
  uint8_t* qh = out + 16;
  uint8_t* ql = out + 48;
  std::memset(qh, 0, 32);
  uint8_t m1 = 1, m2 = 2;
  for (int n = 0; n < 256; n += 64, ql += 32, m1 <<= 2, m2 <<= 2)
    for (int j = 0; j < 32; ++j) {
      int l1 = L[n + j], l2 = L[n + j + 32];
      if (l1 > 15) {
        l1 -= 16;
        qh[j] |= m1;
      }
      if (l2 > 15) {
        l2 -= 16;
        qh[j] |= m2;
      }
      ql[j] = uint8_t(l1 | (l2 << 4));
    }
}

// make_qx_quants with rmse_type 1 (weights x^2): a symmetric quantisation of n values to -nmax..nmax-1 (stored
// + nmax in L), refining the scale over 18 candidate grids.
float fitScaleSymmetric(int n, int nmax, const float* x, int8_t* L) {
  float max = 0, amax = 0;
  for (int i = 0; i < n; ++i)
    if (std::fabs(x[i]) > amax) {
      amax = std::fabs(x[i]);
      max = x[i];
    }
  if (amax < 1e-15f) {
    for (int i = 0; i < n; ++i) L[i] = 0;
    return 0.f;
  }
  float iscale = -nmax / max;
  float sumLX = 0, sumL2 = 0;
  for (int i = 0; i < n; ++i) {
    const int l = std::max(-nmax, std::min(nmax - 1, nearestInt(iscale * x[i])));
    L[i] = int8_t(l + nmax);
    const float w = x[i] * x[i];
    sumLX += w * x[i] * l;
    sumL2 += w * l * l;
  }
  float scale = sumL2 ? sumLX / sumL2 : 0.0f;
  float best = scale * sumLX;
  for (int is = -9; is <= 9; ++is) {
    if (is == 0) continue;
    iscale = -(nmax + 0.1f * is) / max;
    sumLX = sumL2 = 0;
    for (int i = 0; i < n; ++i) {
      const int l = std::max(-nmax, std::min(nmax - 1, nearestInt(iscale * x[i])));
      const float w = x[i] * x[i];
      sumLX += w * x[i] * l;
      sumL2 += w * l * l;
    }
    if (sumL2 > 0 && sumLX * sumLX > best * sumL2) {
      for (int i = 0; i < n; ++i) L[i] = int8_t(nmax + std::max(-nmax, std::min(nmax - 1, nearestInt(iscale * x[i]))));
      scale = sumLX / sumL2;
      best = scale * sumLX;
    }
  }
  return scale;
}

void quantizeQ6_KBlock(const float* x, uint8_t* out) {
  int8_t L[256];
  float scales[16];
  float maxScale = 0, maxAbsScale = 0;
  for (int b = 0; b < 16; ++b) {
    scales[b] = fitScaleSymmetric(16, 32, x + 16 * b, L + 16 * b);
    if (std::fabs(scales[b]) > maxAbsScale) {
      maxAbsScale = std::fabs(scales[b]);
      maxScale = scales[b];
    }
  }
  uint8_t* ql = out;
  uint8_t* qh = out + 128;
  int8_t* sc = reinterpret_cast<int8_t*>(out + 192);
  if (maxAbsScale < 1e-15f) {
    std::memset(out, 0, 210);
    return;
  }
  const float iscale = -128.f / maxScale;
  putHalf(out + 208, 1 / iscale);
  for (int b = 0; b < 16; ++b) sc[b] = int8_t(std::min(127, nearestInt(iscale * scales[b])));
  const float d = fp16AtToF32(out + 208);
  for (int j = 0; j < 16; ++j) {
    const float dj = d * sc[j];
    if (dj == 0.0f) continue;
    for (int i = 0; i < 16; ++i) L[16 * j + i] = int8_t(std::max(-32, std::min(31, nearestInt(x[16 * j + i] / dj))) + 32);
  }
  for (int j = 0; j < 256; j += 128, ql += 64, qh += 32)
    for (int l = 0; l < 32; ++l) {
      const uint8_t q1 = L[j + l] & 0xF, q2 = L[j + l + 32] & 0xF, q3 = L[j + l + 64] & 0xF, q4 = L[j + l + 96] & 0xF;
      ql[l] = uint8_t(q1 | (q3 << 4));
      ql[l + 32] = uint8_t(q2 | (q4 << 4));
      qh[l] = uint8_t((L[j + l] >> 4) | ((L[j + l + 32] >> 4) << 2) | ((L[j + l + 64] >> 4) << 4) |
                      ((L[j + l + 96] >> 4) << 6));
    }
}

}  // namespace

void dequantizeBlock(DType type, const uint8_t* b, float* out) {
  switch (type) {
    case DType::Q8_0: {
      const float d = fp16AtToF32(b);
      for (int i = 0; i < 32; ++i) out[i] = d * float(int8_t(b[2 + i]));
      return;
    }
    case DType::Q4_0: {
      const float d = fp16AtToF32(b);
      for (int j = 0; j < 16; ++j) {
        out[j] = float((b[2 + j] & 0xF) - 8) * d;
        out[16 + j] = float((b[2 + j] >> 4) - 8) * d;
      }
      return;
    }
    case DType::Q4_K:
    case DType::Q5_K: {
      const bool five = type == DType::Q5_K;
      const float d = fp16AtToF32(b), dmin = fp16AtToF32(b + 2);
      const uint8_t* scales = b + 4;
      const uint8_t* qh = b + 16;
      const uint8_t* q = b + (five ? 48 : 16);
      uint8_t sc[8], m[8];
      kQuantScalesMins(scales, sc, m);
      for (int p = 0; p < 4; ++p, q += 32) {
        const float d1 = d * sc[2 * p], m1 = dmin * m[2 * p];
        const float d2 = d * sc[2 * p + 1], m2 = dmin * m[2 * p + 1];
        for (int l = 0; l < 32; ++l) {
          const int hi1 = five && (qh[l] >> (2 * p) & 1) ? 16 : 0;
          const int hi2 = five && (qh[l] >> (2 * p + 1) & 1) ? 16 : 0;
          out[64 * p + l] = d1 * float((q[l] & 0xF) + hi1) - m1;
          out[64 * p + 32 + l] = d2 * float((q[l] >> 4) + hi2) - m2;
        }
      }
      return;
    }
    case DType::Q6_K: {
      const float d = fp16AtToF32(b + 208);
      const uint8_t* ql = b;
      const uint8_t* qh = b + 128;
      const int8_t* sc = reinterpret_cast<const int8_t*>(b + 192);
      for (int h = 0; h < 2; ++h, ql += 64, qh += 32, sc += 8, out += 128)
        for (int l = 0; l < 32; ++l) {
          const int is = l / 16;
          const int q1 = ((ql[l] & 0xF) | ((qh[l] & 3) << 4)) - 32;
          const int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
          const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
          const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
          out[l] = d * sc[is] * q1;
          out[l + 32] = d * sc[is + 2] * q2;
          out[l + 64] = d * sc[is + 4] * q3;
          out[l + 96] = d * sc[is + 6] * q4;
        }
      return;
    }
    default: fail(ErrorCode::Internal, std::string("dequantizeBlock: ") + dtypeName(type) + " is not a block type");
  }
}

void quantizeRow(DType type, const float* x, int64_t n, uint8_t* out) {
  const BlockFormat f = blockFormat(type);
  if (f.elements == 1 || n % f.elements != 0)
    fail(ErrorCode::Internal, std::string("quantizeRow: ") + dtypeName(type) + " of " + std::to_string(n) + " values");
  void (*block)(const float*, uint8_t*) = nullptr;
  switch (type) {
    case DType::Q8_0: return quantizeQ8_0(x, n, out);
    case DType::Q4_0: block = quantizeQ4_0Block; break;
    case DType::Q4_K: block = quantizeQ4_KBlock; break;
    case DType::Q5_K: block = quantizeQ5_KBlock; break;
    case DType::Q6_K: block = quantizeQ6_KBlock; break;
    default: fail(ErrorCode::Internal, std::string("quantizeRow: ") + dtypeName(type) + " is not a block type");
  }
  for (int64_t b = 0; b < n / f.elements; ++b) block(x + b * f.elements, out + b * f.bytes);
}

void dequantizeRow(const TensorView& t, int64_t row, float* out) {
  if (row < 0 || row >= t.rows) fail(ErrorCode::Internal, "dequantizeRow: row out of range");
  if (t.layout == Layout::Panels16 && (t.type == DType::Q8_0 || t.type == DType::Q4_0)) {  // core/tensor.h
    const int64_t p = row / kPanelRows, i = row % kPanelRows;
    for (int64_t j = 0; j < t.cols / kPanelBlockCols; ++j) {
      const uint8_t* block = static_cast<const uint8_t*>(t.data) + panelBlockOffset(t.type, p, j, t.cols);
      uint16_t d16;
      std::memcpy(&d16, block + 2 * i, 2);
      const float d = fp16ToF32(d16);
      const uint8_t* q = block + 2 * kPanelRows;
      for (int64_t k = 0; k < kPanelBlockCols; ++k)
        out[j * kPanelBlockCols + k] =
            t.type == DType::Q8_0 ? d * float(int8_t(q[panelQ8Index(i, k)]))
                                  : d * float(int((q[k / 2 * kPanelRows + i] >> (4 * (k % 2))) & 15) - 8);
    }
    return;
  }
  if (t.layout == Layout::Panels16 || t.layout == Layout::Panels8) {  // packed by the CPU engine (F32 or F16)
    for (int64_t k = 0; k < t.cols; ++k) {
      const int64_t i = panelIndex(t.layout, row, k, t.cols);
      out[k] = t.type == DType::F32 ? static_cast<const float*>(t.data)[i]
                                    : fp16ToF32(static_cast<const uint16_t*>(t.data)[i]);
    }
    return;
  }
  const int64_t cols = t.cols;
  const uint8_t* base = static_cast<const uint8_t*>(t.data);
  switch (t.type) {
    case DType::F32: std::memcpy(out, base + 4 * row * cols, 4 * cols); return;
    case DType::F16:
    case DType::BF16:
      for (int64_t i = 0; i < cols; ++i) {
        uint16_t h;
        std::memcpy(&h, base + 2 * (row * cols + i), 2);
        out[i] = t.type == DType::F16 ? fp16ToF32(h) : bf16ToF32(h);
      }
      return;
    case DType::Q8_0: {
      const uint8_t* r = base + 34 * (row * cols / 32);
      for (int64_t b = 0; b < cols / 32; ++b) {
        uint16_t d16;
        std::memcpy(&d16, r + 34 * b, 2);
        float d = fp16ToF32(d16);
        const int8_t* q = reinterpret_cast<const int8_t*>(r + 34 * b + 2);
        for (int i = 0; i < 32; ++i) out[32 * b + i] = d * float(q[i]);
      }
      return;
    }
    case DType::Q4_0:
    case DType::Q4_K:
    case DType::Q5_K:
    case DType::Q6_K: {
      const BlockFormat f = blockFormat(t.type);
      const uint8_t* r = base + f.bytes * (row * (cols / f.elements));
      for (int64_t b = 0; b < cols / f.elements; ++b) dequantizeBlock(t.type, r + f.bytes * b, out + f.elements * b);
      return;
    }
    case DType::Q8_G_F32: {
      const int8_t* q = reinterpret_cast<const int8_t*>(base);
      for (int64_t i = 0; i < cols; ++i) {
        int64_t k = row * cols + i;
        out[i] = float(q[k]) * t.scales[k / t.groupSize];
      }
      return;
    }
  }
  fail(ErrorCode::Internal, "dequantizeRow: unknown tensor type");
}

void quantizeQ8_0(const float* x, int64_t n, uint8_t* out) {
  for (int64_t b = 0; b < n / 32; ++b) {
    const float* v = x + 32 * b;
    float amax = 0;
    for (int i = 0; i < 32; ++i) amax = std::max(amax, std::fabs(v[i]));
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    uint8_t* block = out + 34 * b;
    uint16_t d16 = f32ToFp16(d);
    std::memcpy(block, &d16, 2);
    for (int i = 0; i < 32; ++i) block[2 + i] = static_cast<uint8_t>(static_cast<int8_t>(std::round(v[i] * id)));
  }
}

}  // namespace redrafter::model
