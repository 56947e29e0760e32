// The matmul kernels alone, one thread, on weights far larger than the caches (so each call streams them from
// memory as a forward does): matmulRows on row-major weights (with and without the next-panel prefetch) against
// matmulPacked on the same weights packed into 16-row panels (whole rows, and k-blocks of $KBLOCK, default 256),
// interleaved, medians and minima (the minimum is the less noisy figure on a shared machine). "hot" as 4th
// argument: one small matrix that stays in L2 (the arithmetic alone). Build and run from the repository root after
// the cmake-js build:
//   g++ -O2 -std=c++17 -Inative bench/cpp/matmul_bench.cpp build-cmake/libredrafter_cpu.a \
//       build-cmake/libredrafter_model.a build-cmake/libredrafter_core.a -lpthread -o /tmp/matmul_bench && \
//       /tmp/matmul_bench f16 1,4,8,16 9
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "cpu/kernels/isa.h"
#include "cpu/kernels/matmul.h"
#include "cpu/kernels/packed_matmul.h"

using namespace redrafter;
using namespace redrafter::cpu;

static uint16_t toHalf(float f) {  // round-toward-zero is enough for benchmark data
  uint32_t b;
  std::memcpy(&b, &f, 4);
  uint32_t sign = (b >> 16) & 0x8000, e = (b >> 23) & 0xff, m = b & 0x7fffff;
  if (e < 113) return static_cast<uint16_t>(sign);
  return static_cast<uint16_t>(sign | ((e - 112) << 10) | (m >> 13));
}

int main(int argc, char** argv) {
  std::string type = argc > 1 ? argv[1] : "f16";
  std::vector<int> counts;
  std::stringstream list(argc > 2 ? argv[2] : "1,4,8,16");
  for (std::string s; std::getline(list, s, ',');) counts.push_back(std::stoi(s));
  const int reps = argc > 3 ? std::atoi(argv[3]) : 5;
  // 12 FFN-sized matrices, 277 MB f16, 554 MB f32 (streamed from memory); "hot": one [64, 2048] matrix (in L2)
  const bool hot = argc > 4 && std::string(argv[4]) == "hot";
  const int64_t rows = hot ? 64 : 5632, cols = 2048, mats = hot ? 1 : 12, calls = hot ? 400 : 1;
  const bool f32 = type == "f32";
  std::mt19937 rng(1);
  std::normal_distribution<float> nd(0.0f, 0.02f);
  std::vector<float> wf(f32 ? rows * cols * mats : 0);
  std::vector<uint16_t> wh(f32 ? 0 : rows * cols * mats);
  for (auto& v : wf) v = nd(rng);
  for (auto& v : wh) v = toHalf(nd(rng));
  std::vector<TensorView> views(mats);
  for (int64_t m = 0; m < mats; ++m) {
    views[m].type = f32 ? DType::F32 : DType::F16;
    views[m].rows = rows;
    views[m].cols = cols;
    views[m].data = f32 ? static_cast<const void*>(wf.data() + m * rows * cols)
                        : static_cast<const void*>(wh.data() + m * rows * cols);
  }
  // the same matrices packed into 16-row panels (kernels/packed_matmul.h)
  std::vector<std::vector<uint8_t>> packedStore(mats);
  std::vector<TensorView> packed(mats);
  for (int64_t m = 0; m < mats; ++m) {
    packedStore[m].resize(kernels::packedBytes(views[m].type, rows, cols));
    kernels::packPanels(views[m], packedStore[m].data(), 0, (rows + 15) / 16);
    packed[m] = kernels::packedView(views[m], packedStore[m].data());
  }
  const int64_t kBlockAlt = std::getenv("KBLOCK") ? std::atoll(std::getenv("KBLOCK")) : 256;
  const auto isa = kernels::detectIsa();
  std::vector<float> x(16 * cols), y(16 * rows);
  for (auto& v : x) v = nd(rng);
  // variant 0: row-major without prefetch, 1: row-major (matmulRows), 2: packed, 3: packed with k-blocks of KBLOCK,
  // 4: packed with the AVX2 kernel (on an AVX-512 CPU: the same bits, half the vector width)
  auto time = [&](int variant, int T) {
    auto t0 = std::chrono::steady_clock::now();
    for (int64_t m = 0; m < mats * calls; ++m) {
      if (variant == 1) kernels::matmulRows(isa, views[m % mats], x.data(), T, cols, y.data(), rows, 0, rows);
      else if (variant == 0)
        kernels::matmulRowsWithoutPrefetch(isa, views[m % mats], x.data(), T, cols, y.data(), rows, 0, rows);
      else
        kernels::matmulPacked(variant == 4 && isa == kernels::Isa::Avx512 ? kernels::Isa::Avx2 : isa, packed[m % mats],
                              x.data(), T, cols, y.data(), rows, 0, rows, variant == 3 ? kBlockAlt : 0);
    }
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / (mats * calls);
  };
  std::printf("%s %lldx%lld, isa %s, ms per matrix (median of %d), GFLOP/s\n", type.c_str(), (long long)rows,
              (long long)cols, kernels::isaName(isa), reps);
  for (int T : counts) {
    std::vector<double> v[5];
    for (int r = 0; r < reps; ++r)
      for (int k = 0; k < 5; ++k) v[k].push_back(time(k, T));
    for (auto& a : v) std::sort(a.begin(), a.end());
    const double flop = 2.0 * rows * cols * T;
    std::printf("T=%2d", T);
    const char* names[5] = {"no-prefetch", "rowmajor", "packed", "packed-kb", "packed-avx2"};
    for (int k = 0; k < 5; ++k)
      std::printf("  %s %6.3f ms (%5.1f GF/s, min %6.3f)", names[k], v[k][reps / 2] * 1e3,
                  flop / v[k][reps / 2] / 1e9, v[k][0] * 1e3);
    std::printf("  packed/rowmajor min %.2f, kb %.2f, packed/packed-avx2 min %.2f\n", v[2][0] / v[1][0],
                v[3][0] / v[1][0], v[2][0] / v[4][0]);
  }
}
