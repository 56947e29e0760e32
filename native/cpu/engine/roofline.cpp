#include "cpu/engine/roofline.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <memory>
#include <thread>
#include <vector>

#include "core/error.h"
#include "cpu/engine/thread_pool.h"
#include "cpu/kernels/simd.h"
#include "cpu/kernels/x86_intrinsics.h"

#if REDRAFTER_X86_SIMD
#include <immintrin.h>
#endif

namespace redrafter::cpu {

namespace {

using Clock = std::chrono::steady_clock;
double seconds(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// Sums n floats (n a multiple of 64): eight independent vector accumulators, so the loads, not the adds, limit it.
float sumPortable(const float* p, int64_t n) {
  float acc[8] = {};
  for (int64_t i = 0; i < n; i += 8)
    for (int j = 0; j < 8; ++j) acc[j] += p[i + j];
  float s = 0;
  for (float a : acc) s += a;
  return s;
}

// `iterations` steps of `kChains` independent FMA chains of one lane; returns a value that depends on all of them.
constexpr int kChains = 12;
float fmaPortable(int64_t iterations) {
  float acc[kChains];
  for (int c = 0; c < kChains; ++c) acc[c] = float(c);
  const float a = 0.999999f, b = 1e-7f;
  for (int64_t i = 0; i < iterations; ++i)
    for (int c = 0; c < kChains; ++c) acc[c] = acc[c] * a + b;
  float s = 0;
  for (float x : acc) s += x;
  return s;
}

#if REDRAFTER_X86_SIMD
REDRAFTER_TARGET_AVX2 float sumAvx2(const float* p, int64_t n) {
  __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
  for (int64_t i = 0; i < n; i += 64) {
    a0 = _mm256_add_ps(a0, _mm256_loadu_ps(p + i));
    a1 = _mm256_add_ps(a1, _mm256_loadu_ps(p + i + 8));
    a2 = _mm256_add_ps(a2, _mm256_loadu_ps(p + i + 16));
    a3 = _mm256_add_ps(a3, _mm256_loadu_ps(p + i + 24));
    a4 = _mm256_add_ps(a4, _mm256_loadu_ps(p + i + 32));
    a5 = _mm256_add_ps(a5, _mm256_loadu_ps(p + i + 40));
    a6 = _mm256_add_ps(a6, _mm256_loadu_ps(p + i + 48));
    a7 = _mm256_add_ps(a7, _mm256_loadu_ps(p + i + 56));
  }
  __m256 s = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)),
                           _mm256_add_ps(_mm256_add_ps(a4, a5), _mm256_add_ps(a6, a7)));
  alignas(32) float out[8];
  _mm256_store_ps(out, s);
  return out[0] + out[1] + out[2] + out[3] + out[4] + out[5] + out[6] + out[7];
}

REDRAFTER_TARGET_AVX512 float sumAvx512(const float* p, int64_t n) {
  __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
  for (int64_t i = 0; i < n; i += 64) {
    a0 = _mm512_add_ps(a0, _mm512_loadu_ps(p + i));
    a1 = _mm512_add_ps(a1, _mm512_loadu_ps(p + i + 16));
    a2 = _mm512_add_ps(a2, _mm512_loadu_ps(p + i + 32));
    a3 = _mm512_add_ps(a3, _mm512_loadu_ps(p + i + 48));
  }
  return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)));
}

REDRAFTER_TARGET_AVX2 float fmaAvx2(int64_t iterations) {
  __m256 acc[kChains];
  for (int c = 0; c < kChains; ++c) acc[c] = _mm256_set1_ps(float(c));
  const __m256 a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-7f);
  for (int64_t i = 0; i < iterations; ++i)
    for (int c = 0; c < kChains; ++c) acc[c] = _mm256_fmadd_ps(acc[c], a, b);
  __m256 s = acc[0];
  for (int c = 1; c < kChains; ++c) s = _mm256_add_ps(s, acc[c]);
  alignas(32) float out[8];
  _mm256_store_ps(out, s);
  return out[0] + out[7];
}

REDRAFTER_TARGET_AVX512 float fmaAvx512(int64_t iterations) {
  __m512 acc[kChains];
  for (int c = 0; c < kChains; ++c) acc[c] = _mm512_set1_ps(float(c));
  const __m512 a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-7f);
  for (int64_t i = 0; i < iterations; ++i)
    for (int c = 0; c < kChains; ++c) acc[c] = _mm512_fmadd_ps(acc[c], a, b);
  __m512 s = acc[0];
  for (int c = 1; c < kChains; ++c) s = _mm512_add_ps(s, acc[c]);
  return _mm512_reduce_add_ps(s);
}
#endif

int lanes(kernels::Isa isa) { return isa == kernels::Isa::Avx512 ? 16 : isa == kernels::Isa::Avx2 ? 8 : 1; }

float sumWith(kernels::Isa isa, const float* p, int64_t n) {
#if REDRAFTER_X86_SIMD
  if (isa == kernels::Isa::Avx512) return sumAvx512(p, n);
  if (isa == kernels::Isa::Avx2) return sumAvx2(p, n);
#endif
  return sumPortable(p, n);
}

float fmaWith(kernels::Isa isa, int64_t iterations) {
#if REDRAFTER_X86_SIMD
  if (isa == kernels::Isa::Avx512) return fmaAvx512(iterations);
  if (isa == kernels::Isa::Avx2) return fmaAvx2(iterations);
#endif
  return fmaPortable(iterations);
}

}  // namespace

Roofline measureRoofline(kernels::Isa isa, int32_t threads, int64_t bytes, int32_t repeats) {
  RD_REQUIRE(threads >= 0 && threads <= 1024, "threads", "must be in [0, 1024]");
  RD_REQUIRE(bytes >= (int64_t(1) << 20), "bytes", "must be at least 1 MiB");
  RD_REQUIRE(repeats >= 1, "repeats", "must be >= 1");
  const int32_t n = threads > 0 ? threads : int32_t(std::max(1u, std::thread::hardware_concurrency()));
  ThreadPool pool(n);
  Roofline r;
  r.threads = n;
  r.isa = isa;
  std::atomic<float> sink{0};

  // read bandwidth: each thread first writes its own part (so its pages are its own and touched), then every repeat
  // reads the whole buffer, split in one contiguous range per thread
  const int64_t floats = (bytes / int64_t(sizeof(float))) / 64 * 64;
  std::unique_ptr<float[]> buffer(new float[size_t(floats)]);
  const int64_t blocks = floats / 64;
  pool.parallelFor(blocks, 1, [&](int64_t b0, int64_t b1) {
    std::memset(buffer.get() + b0 * 64, 0, size_t(b1 - b0) * 64 * sizeof(float));
  });
  double best = 1e30;
  for (int32_t i = 0; i < repeats; ++i) {
    const auto t0 = Clock::now();
    pool.parallelFor(blocks, 1, [&](int64_t b0, int64_t b1) {
      const float s = sumWith(isa, buffer.get() + b0 * 64, (b1 - b0) * 64);
      sink.store(sink.load(std::memory_order_relaxed) + s, std::memory_order_relaxed);
    });
    best = std::min(best, seconds(t0));
  }
  r.readBytesPerSecond = double(floats) * sizeof(float) / best;
  buffer.reset();

  // FMA peak: every thread runs the chains for the same number of steps
  const int64_t iterations = 20'000'000 / std::max(1, lanes(isa) / 4);
  best = 1e30;
  for (int32_t i = 0; i < repeats; ++i) {
    const auto t0 = Clock::now();
    pool.parallelFor(n, 1, [&](int64_t t0i, int64_t t1i) {
      for (int64_t t = t0i; t < t1i; ++t) {
        const float s = fmaWith(isa, iterations);
        sink.store(sink.load(std::memory_order_relaxed) + s, std::memory_order_relaxed);
      }
    });
    best = std::min(best, seconds(t0));
  }
  r.fmaFlopsPerSecond = 2.0 * double(lanes(isa)) * kChains * double(iterations) * n / best;
  if (sink.load() == 12345.678f) r.threads = n;  // keeps the sums observable
  return r;
}

}  // namespace redrafter::cpu
