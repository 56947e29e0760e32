// The baseline side of bench/cpp/drafter_bench.cpp: the f16 Drafter of an earlier revision (before the
// TokenInputTable and the packed F16 panels; its constructor takes `bool halfWeights`), compiled against that
// revision's sources with the namespace renamed (-Dredrafter=redrafter_main) so that both drafters run in one process.
#include <chrono>
#include <memory>
#include <vector>
#include "cpu/drafter/drafter.h"
#include "cpu/engine/thread_pool.h"
#include "model/drafter_file.h"
using namespace redrafter::cpu;
struct MainSide {
  std::unique_ptr<Drafter> d;
  std::unique_ptr<ThreadPool> pool;
  ParallelFor parallel;
  DraftScratch scratch;
};
void* mainSideLoad(const char* dir, int threads) {
  auto* m = new MainSide;
  m->d = std::make_unique<Drafter>(redrafter::model::readDrafterDirectory(dir), dir, 1, true);
  m->pool = std::make_unique<ThreadPool>(threads);
  m->parallel = [m](int64_t c, int64_t g, const std::function<void(int64_t, int64_t)>& b) { m->pool->parallelFor(c, g, b); };
  return m;
}
double mainSideDraft(void* p, const float* hidden, int32_t last, const float* emb, int32_t W, int32_t L, int32_t* beams) {
  auto* m = static_cast<MainSide*>(p);
  const auto& c = m->d->config();
  auto embed = tableEmbeddings(emb, c.vocabSize, c.hiddenSize);
  DraftOptions o; o.width = W; o.length = L;
  auto t0 = std::chrono::steady_clock::now();
  m->d->draft(hidden, &last, 1, o, embed, beams, nullptr, nullptr, &m->scratch, &m->parallel);
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}
