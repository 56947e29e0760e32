// The 4-6 bit weight kernels alone, one thread, on TinyLlama-FFN-sized matrices (12 x [5632, 2048], far larger than
// the caches, so each call streams its weights from memory as a forward does): the engine's integer dot products
// against 8-bit quantised activations (matmulQuant) vs dequantising each weight block to float32 and FMA-ing it
// with the float32 activations (matmulQuantDequantized), per ISA, interleaved; medians and minima (the minimum is
// the less noisy figure on a shared machine). "hot" as 4th argument: one [64, 2048] matrix that stays in L2 (the
// arithmetic alone). Build and run from the repository root after the cmake build:
//   g++ -O2 -std=c++17 -Inative bench/cpp/quant_matmul_bench.cpp build-cmake/libredrafter_cpu.a \
//       build-cmake/libredrafter_model.a build-cmake/libredrafter_core.a -lpthread -o /tmp/quant_matmul_bench
//   /tmp/quant_matmul_bench q4_k 1,8 9
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "cpu/kernels/isa.h"
#include "cpu/kernels/quant_matmul.h"
#include "model/dequantize.h"

using namespace redrafter;
using namespace redrafter::cpu;

int main(int argc, char** argv) {
  const std::string name = argc > 1 ? argv[1] : "q4_k";
  const DType type = name == "q4_0" ? DType::Q4_0 : name == "q5_k" ? DType::Q5_K : name == "q6_k" ? DType::Q6_K
                                                                                                   : DType::Q4_K;
  std::vector<int> counts;
  std::stringstream list(argc > 2 ? argv[2] : "1,8");
  for (std::string s; std::getline(list, s, ',');) counts.push_back(std::stoi(s));
  const int reps = argc > 3 ? std::atoi(argv[3]) : 5;
  const bool hot = argc > 4 && std::string(argv[4]) == "hot";
  const int64_t rows = hot ? 64 : 5632, cols = 2048, mats = hot ? 1 : 12, calls = hot ? 400 : 1;
  std::mt19937 rng(1);
  std::normal_distribution<float> nd(0.0f, 0.02f);
  const BlockFormat f = blockFormat(type);
  const int64_t matBytes = rows * cols / f.elements * f.bytes;
  std::vector<uint8_t> store(static_cast<size_t>(matBytes * mats));
  {
    std::vector<float> row(static_cast<size_t>(cols));
    for (int64_t r = 0; r < rows * mats; ++r) {
      for (auto& v : row) v = nd(rng);
      model::quantizeRow(type, row.data(), cols, store.data() + r * (cols / f.elements) * f.bytes);
    }
  }
  std::vector<TensorView> views(static_cast<size_t>(mats));
  for (int64_t m = 0; m < mats; ++m) {
    views[m].type = type;
    views[m].rows = rows;
    views[m].cols = cols;
    views[m].data = store.data() + m * matBytes;
  }
  std::vector<float> x(static_cast<size_t>(16 * cols)), y(static_cast<size_t>(16 * rows));
  for (auto& v : x) v = nd(rng);
  const kernels::Isa best = kernels::detectIsa();
  std::vector<kernels::Isa> isas = {kernels::Isa::Avx2};
  if (best == kernels::Isa::Avx512) isas.push_back(kernels::Isa::Avx512);
  // variant: (isa index) * 2 + (0 integer dot, 1 dequantise + FMA)
  auto time = [&](int variant, int T) {
    const kernels::Isa isa = isas[size_t(variant / 2)];
    auto t0 = std::chrono::steady_clock::now();
    for (int64_t m = 0; m < mats * calls; ++m) {
      if (variant % 2 == 0) kernels::matmulQuant(isa, views[m % mats], x.data(), T, cols, y.data(), rows, 0, rows);
      else kernels::matmulQuantDequantized(isa, views[m % mats], x.data(), T, cols, y.data(), rows, 0, rows);
    }
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / double(mats * calls);
  };
  const int variants = int(isas.size()) * 2;
  std::printf("%s %lldx%lld (%s), ms per matrix (median of %d; min), GB/s of weights at the median\n", name.c_str(),
              (long long)rows, (long long)cols, hot ? "hot, in L2" : "streamed from memory", reps);
  for (int T : counts) {
    std::vector<std::vector<double>> v(static_cast<size_t>(variants));
    for (int r = 0; r < reps; ++r)
      for (int k = 0; k < variants; ++k) v[size_t(k)].push_back(time(k, T));
    std::printf("T=%2d", T);
    for (int k = 0; k < variants; ++k) {
      auto& a = v[size_t(k)];
      std::sort(a.begin(), a.end());
      std::printf("  %s %s %6.3f ms (%4.1f GB/s; min %6.3f)", kernels::isaName(isas[size_t(k / 2)]),
                  k % 2 == 0 ? "int-dot" : "dequant-fma", a[size_t(reps / 2)] * 1e3, matBytes / a[size_t(reps / 2)] / 1e9,
                  a[0] * 1e3);
    }
    std::printf("\n");
  }
}
