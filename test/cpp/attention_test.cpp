// The attention kernel (native/cpu/kernels/attention.h) on every ISA the CPU has: a head's result depends only on
// its sequence of rows, never on where the sequence splits into cached rows and new ones (the property that keeps a
// token verified in a ReDrafter tree bit-identical to the same token decoded alone); it agrees with a
// double-precision softmax; its exponential is within 2 ulp of the C library's and the same on AVX2 and AVX-512.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "cpu/kernels/attention.h"
#include "cpu/kernels/isa.h"
#include "isas.h"

using namespace redrafter::cpu;

namespace {

// A cache of `slots` rows of `stride` floats (keys and values), seeded normal values scaled by `spread`.
struct Cache {
  std::vector<float> keys, values;
  Cache(int64_t slots, int64_t stride, float spread, uint32_t seed) : keys(slots * stride), values(slots * stride) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> d(0.0f, spread);
    for (auto& x : keys) x = d(rng);
    for (auto& x : values) x = d(rng);
  }
};

std::vector<float> attend(kernels::Isa isa, const Cache& c, const float* q, int64_t stride, int64_t off, int64_t hd,
                          int64_t cached, const std::vector<int32_t>& newSlots, float scale) {
  kernels::AttentionRows rows;
  rows.keys = c.keys.data() + off;
  rows.values = c.values.data() + off;
  rows.stride = stride;
  rows.cached = cached;
  rows.newSlots = newSlots.data();
  rows.newCount = static_cast<int64_t>(newSlots.size());
  std::vector<float> scores(static_cast<size_t>(rows.count())), out(static_cast<size_t>(hd), NAN);
  kernels::attendHead(isa, q, rows, hd, scale, scores.data(), out.data());
  return out;
}

}  // namespace

TEST_CASE("attendHead: the same bits however the rows split into cached and new, and a double-precision softmax") {
  uint32_t seed = 7;
  for (kernels::Isa isa : test::cpuIsas())
    for (int64_t hd : {8, 16, 24, 64, 5}) {
      for (int64_t count : {1, 2, 7, 16, 17, 33, 130}) {
        CAPTURE(kernels::isaName(isa));
        CAPTURE(hd);
        CAPTURE(count);
        const int64_t heads = 2, stride = heads * hd, slots = count + 8;
        Cache c(slots, stride, 1.0f, seed++);
        std::vector<float> q(static_cast<size_t>(hd));
        std::mt19937 rng(seed++);
        std::normal_distribution<float> d(0.0f, 1.5f);
        for (auto& x : q) x = d(rng);
        const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
        // the sequence: slots 0..count-2, then count-1 as the last row; split as all cached, or with the last k rows
        // stored elsewhere (slots count+1.. in the cache hold copies of them) and listed as new
        const auto whole = attend(isa, c, q.data(), stride, hd, hd, count, {}, scale);
        for (int64_t k = 1; k <= std::min<int64_t>(count, 5); ++k) {
          Cache moved = c;
          std::vector<int32_t> newSlots;
          for (int64_t j = 0; j < k; ++j) {
            const int64_t from = count - k + j, to = slots - k + j;
            std::memcpy(moved.keys.data() + to * stride, c.keys.data() + from * stride, sizeof(float) * stride);
            std::memcpy(moved.values.data() + to * stride, c.values.data() + from * stride, sizeof(float) * stride);
            newSlots.push_back(static_cast<int32_t>(to));
          }
          const auto split = attend(isa, moved, q.data(), stride, hd, hd, count - k, newSlots, scale);
          CHECK(std::memcmp(split.data(), whole.data(), sizeof(float) * hd) == 0);
        }
        // double-precision reference
        std::vector<double> s(static_cast<size_t>(count));
        double mx = -INFINITY, sum = 0;
        for (int64_t i = 0; i < count; ++i) {
          double dot = 0;
          for (int64_t k = 0; k < hd; ++k) dot += double(q[k]) * c.keys[i * stride + hd + k];
          s[i] = dot * scale;
          mx = std::max(mx, s[i]);
        }
        for (auto& x : s) sum += (x = std::exp(x - mx));
        for (int64_t k = 0; k < hd; ++k) {
          double ref = 0;
          for (int64_t i = 0; i < count; ++i) ref += s[i] / sum * c.values[i * stride + hd + k];
          CHECK(std::fabs(whole[k] - ref) <= 1e-5 * (1.0 + std::fabs(ref)));
        }
      }
    }
}

TEST_CASE("attendHead's exponential: within 2 ulp of expf over the softmax's range, the same bits on AVX2 and AVX-512") {
  std::vector<float> x;
  for (float v = -90.0f; v <= 0.0f; v += 0.0137f) x.push_back(v);
  x.push_back(0.0f);
  x.push_back(-1e-30f);
  std::vector<float> avx2;
  for (kernels::Isa isa : test::cpuIsas()) {
    CAPTURE(kernels::isaName(isa));
    std::vector<float> y = x;
    kernels::expInPlace(isa, y.data(), static_cast<int64_t>(y.size()));
    int64_t bad = 0;
    for (size_t i = 0; i < x.size(); ++i) {
      const float ref = std::exp(x[i]);
      if (x[i] < -87.3365447504f) {  // clamped: e^-87.3 (a weight no sum >= 1 notices)
        bad += !(y[i] >= 0.0f && y[i] <= 1.2e-38f);
        continue;
      }
      const float ulp = std::nextafter(ref, INFINITY) - ref;
      bad += !(std::fabs(y[i] - ref) <= 2 * ulp);
    }
    CHECK(bad == 0);
    CHECK(y[x.size() - 2] == 1.0f);  // e^0 is exactly 1: the largest score weighs 1 before the division
    if (isa == kernels::Isa::Avx2) avx2 = y;
    if (isa == kernels::Isa::Avx512) CHECK(std::memcmp(y.data(), avx2.data(), sizeof(float) * y.size()) == 0);
  }
}
