// The matmul kernels alone, one thread, on weights far larger than the caches (so each call streams them from
// memory as a forward does): matmulRows (with the next-panel prefetch) against matmulRowsWithoutPrefetch,
// interleaved, medians and minima (the minimum is the less noisy figure on a shared machine). "hot" as 4th
// argument: one small matrix that stays in L2 (the arithmetic alone). Build and run from the repository root after
// the cmake-js build:
//   g++ -O2 -std=c++17 -Inative bench/cpp/matmul_bench.cpp build-cmake/libredrafter_cpu.a \
//       build-cmake/libredrafter_core.a -lpthread -o /tmp/matmul_bench && /tmp/matmul_bench f16 1,4,8,16 9
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
  const auto isa = kernels::detectIsa();
  std::vector<float> x(16 * cols), y(16 * rows);
  for (auto& v : x) v = nd(rng);
  auto time = [&](bool prefetch, int T) {
    auto t0 = std::chrono::steady_clock::now();
    for (int64_t m = 0; m < mats * calls; ++m) {
      if (prefetch) kernels::matmulRows(isa, views[m % mats], x.data(), T, cols, y.data(), rows, 0, rows);
      else kernels::matmulRowsWithoutPrefetch(isa, views[m % mats], x.data(), T, cols, y.data(), rows, 0, rows);
    }
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / (mats * calls);
  };
  std::printf("%s %lldx%lld, isa %s, ms per matrix (median of %d), GFLOP/s\n", type.c_str(), (long long)rows,
              (long long)cols, kernels::isaName(isa), reps);
  for (int T : counts) {
    std::vector<double> a, b;
    for (int r = 0; r < reps; ++r) {
      a.push_back(time(false, T));
      b.push_back(time(true, T));
    }
    std::sort(a.begin(), a.end());
    std::sort(b.begin(), b.end());
    double ma = a[reps / 2], mb = b[reps / 2], flop = 2.0 * rows * cols * T;
    std::printf("T=%2d  no-prefetch %7.3f ms (%5.1f GFLOP/s, min %7.3f)  prefetch %7.3f ms (%5.1f, min %7.3f)  "
                "median ratio %.2f  min ratio %.2f\n",
                T, ma * 1e3, flop / ma / 1e9, a[0] * 1e3, mb * 1e3, flop / mb / 1e9, b[0] * 1e3, mb / ma, b[0] / a[0]);
  }
}
