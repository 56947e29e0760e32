// What drafting costs per ReDrafter step: Drafter::draft at W=1 (default) L=8 on drafter directories, for each
// drafter weight type with and without the table of rnn_w · E(t) (TokenInputTable), interleaved in one process,
// medians and minima per draft (the minimum is the less noisy figure on a shared machine). The embeddings are random
// (drafting reads the same bytes whatever they are); the table is filled for every token before timing, as it is
// once an engine has drafted for a while. Build and run from the repository root after the cmake build of the
// static libraries:
//   g++ -O3 -std=c++17 -Inative bench/cpp/drafter_bench.cpp build-cmake/libredrafter_cpu.a \
//       build-cmake/libredrafter_model.a build-cmake/libredrafter_core.a -lpthread -o /tmp/drafter_bench
//   /tmp/drafter_bench DIR [DIR...]     env: REPS (default 15), THREADS (default 2), WIDTH (1), LENGTH (8)
// With -DDRAFTER_BENCH_BASELINE and bench/cpp/drafter_bench_baseline.cpp linked in, compiled with an earlier
// revision's sources (B=/tmp/base; git archive REV native | tar -x -C $B; every .cpp of $B/native/{core,model,cpu} and
// the baseline file compiled with -O3 -std=c++17 -Dredrafter=redrafter_main -I$B/native into one archive), the
// earlier revision's f16 drafter runs interleaved with the others as "base f16".
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "core/rng.h"
#include "cpu/drafter/drafter.h"
#include "cpu/engine/thread_pool.h"
#include "model/drafter_file.h"

using namespace redrafter;
using namespace redrafter::cpu;

#ifdef DRAFTER_BENCH_BASELINE
void* mainSideLoad(const char* dir, int threads);
double mainSideDraft(void* side, const float* hidden, int32_t last, const float* emb, int32_t W, int32_t L,
                     int32_t* beams);
#endif

namespace {
int envInt(const char* name, int fallback) {
  const char* v = std::getenv(name);
  return v ? std::atoi(v) : fallback;
}
}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: drafter_bench DRAFTER_DIR [DRAFTER_DIR...]\n");
    return 2;
  }
  const int reps = envInt("REPS", 15), threads = envInt("THREADS", 2);
  const DraftOptions options{envInt("WIDTH", 1), envInt("LENGTH", 8)};
  ThreadPool pool(threads);
  const ParallelFor parallel = [&](int64_t count, int64_t grain, const std::function<void(int64_t, int64_t)>& body) {
    pool.parallelFor(count, grain, body);
  };
  for (int a = 1; a < argc; a++) {
    const std::string dir = argv[a];
    const DrafterWeights weights = model::readDrafterDirectory(dir);
    const DrafterConfig& c = weights.config;
    Rng rng(7);
    std::vector<float> emb(size_t(c.vocabSize) * c.hiddenSize), hidden(size_t(c.hiddenSize));
    for (float& v : emb) v = float(rng.uniform() * 2 - 1) * 0.05f;
    const EmbeddingLookup embed = tableEmbeddings(emb.data(), c.vocabSize, c.hiddenSize);

    struct Variant {
      std::string name;
      std::unique_ptr<Drafter> drafter;
      std::unique_ptr<TokenInputTable> table;
      std::vector<double> ms;
    };
    std::vector<Variant> variants;
    for (DrafterWeightType t : {DrafterWeightType::F16, DrafterWeightType::Q8_0, DrafterWeightType::Q4_0})
      for (bool tabled : {false, true}) {
        Variant v;
        v.name = std::string(drafterWeightTypeName(t)) + (tabled ? " tabled" : " untabled");
        v.drafter = std::make_unique<Drafter>(weights, dir, 1, t);
        if (tabled) {
          v.table = v.drafter->makeTokenInputTable(embed);
          for (int32_t tok = 0; tok < c.vocabSize; tok++) v.table->row(tok, &parallel);
        }
        variants.push_back(std::move(v));
      }
    const int32_t W = options.width, L = options.length;
    std::vector<int32_t> beams(size_t(W) * L);
    DraftScratch scratch;
#ifdef DRAFTER_BENCH_BASELINE
    void* baseSide = mainSideLoad(dir.c_str(), threads);
    std::vector<double> baseMs;
#endif
    for (int r = 0; r < reps + 1; r++) {
      for (float& v : hidden) v = float(rng.uniform() * 4 - 2);
      const int32_t last = int32_t(rng.nextU64() % uint64_t(c.vocabSize));
      for (auto& v : variants) {
        auto t0 = std::chrono::steady_clock::now();
        v.drafter->draft(hidden.data(), &last, 1, options, embed, beams.data(), nullptr, nullptr, &scratch, &parallel,
                         v.table.get());
        const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
        if (r > 0) v.ms.push_back(ms);  // the first round warms caches and scratch
      }
#ifdef DRAFTER_BENCH_BASELINE
      const double ms = mainSideDraft(baseSide, hidden.data(), last, emb.data(), W, L, beams.data());
      if (r > 0) baseMs.push_back(ms);
#endif
    }
#ifdef DRAFTER_BENCH_BASELINE
    {
      Variant v;
      v.name = "base f16";
      v.ms = baseMs;
      variants.insert(variants.begin(), std::move(v));
    }
#endif
    std::printf("%s: hidden %d, exit %d, %d blocks, vocab %d; W=%d L=%d, %d threads, %d interleaved drafts\n",
                dir.c_str(), c.hiddenSize, c.exitDim, c.numDraftLayers, c.vocabSize, W, L, threads, reps);
    const double base = [&] {
      auto m = variants[0].ms;
      std::sort(m.begin(), m.end());
      return m[m.size() / 2];
    }();
    for (auto& v : variants) {
      std::sort(v.ms.begin(), v.ms.end());
      const double med = v.ms[v.ms.size() / 2];
      std::printf("  %-14s median %7.2f ms  min %7.2f ms  (%.2fx of %s)\n", v.name.c_str(), med, v.ms[0],
                  med / base, variants[0].name.c_str());
    }
  }
}
