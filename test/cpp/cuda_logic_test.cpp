// The CUDA kernels' per-element logic (native/cuda/*_logic.h, compiled here by g++ as plain inline functions),
// run in the kernels' own decomposition on the CPU and checked against the core references on random inputs.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "core/beam_search.h"
#include "core/build_tree.h"
#include "core/kv_commit.h"
#include "core/tree_attention.h"
#include "core/verify_greedy.h"
#include "cuda/accept_logic.h"
#include "cuda/beam_search_logic.h"
#include "cuda/build_tree_logic.h"
#include "cuda/tree_attention_logic.h"
#include "cuda/testing/random_beams.h"

namespace rc = redrafter::cuda;
using redrafter::testing::randomBeams;

namespace {

// The build-tree kernel's steps, one "thread" per beam token, on one row.
struct KernelTree {
  int total = 0;
  std::vector<int32_t> unpacker, parents, flat;
  std::vector<uint32_t> mask;  // [capacity, words]
};
KernelTree kernelTreeRow(const int32_t* beams, int W, int L, int capacity) {
  const int n = W * L, words = rc::packedMaskWords(capacity);
  std::vector<uint8_t> first(n);
  std::vector<int> owner(n), packed(n, -1);
  for (int f = 0; f < n; ++f) {
    owner[f] = rc::prefixOwner(beams, L, f / L, f % L);
    first[f] = owner[f] == f / L;
  }
  KernelTree k;
  k.parents.assign(capacity, -1);
  k.flat.assign(capacity, -1);
  k.unpacker.assign(n, -1);
  for (int f = 0; f < n; ++f)
    if (first[f]) {
      packed[f] = rc::packedIndexOf(first.data(), f);
      k.flat[packed[f]] = f;
      ++k.total;
    }
  for (int f = 0; f < n; ++f) {
    const int w = f / L, l = f % L;
    k.unpacker[f] = packed[owner[f] * L + l];
    if (first[f]) k.parents[packed[f]] = l == 0 ? -1 : packed[rc::prefixOwner(beams, L, w, l - 1) * L + l - 1];
  }
  k.mask.assign(size_t(capacity) * words, 0);
  for (int i = 0; i < k.total; ++i)
    for (int word = 0; word < words; ++word) k.mask[size_t(i) * words + word] = rc::packedMaskWord(k.parents.data(), i, word);
  return k;
}


// A tree-attention case for the split tests: 3 sequences of a random W=4 L=4 tree, GQA 4/2, D 16, pasts 0/37/150,
// q, k, v ~ N(0, stddev) drawn from rng, and the reference output.
struct AttentionCase {
  static constexpr int batch = 3, W = 4, L = 4, Hq = 4, Hkv = 2, D = 16, capacity = 200;
  int T = 0, words = 0;
  redrafter::TreeAttentionShape shape{};
  std::vector<int32_t> packed, past{0, 37, 150}, treeLen;  // packed [batch, T, words]; past, treeLen [batch]
  std::vector<float> q, k, v, ref;  // q, ref [batch, T, Hq, D]; k, v [batch, Hkv, capacity, D]
  AttentionCase(std::mt19937& rng, float stddev) {
    std::normal_distribution<float> d(0.f, stddev);
    auto beams = randomBeams(rng, batch, W, L, 3);
    auto tree = redrafter::buildTree(beams.data(), batch, W, L);
    T = tree.maxLength, words = rc::packedMaskWords(T);
    packed.assign(size_t(batch) * T * words, 0);
    for (int b = 0; b < batch; ++b)
      for (int i = 0; i < T; ++i)
        for (int j = 0; j < T; ++j)
          if (tree.mask[(size_t(b) * T + i) * T + j]) packed[(size_t(b) * T + i) * words + j / 32] |= int32_t(1u << (j % 32));
    treeLen = tree.lengths;
    q.resize(size_t(batch) * T * Hq * D), k.resize(size_t(batch) * Hkv * capacity * D), v.resize(k.size());
    for (auto* a : {&q, &k, &v})
      for (auto& x : *a) x = d(rng);
    shape = {batch, T, Hq, Hkv, D, capacity, 1.f / std::sqrt(float(D))};
    ref.assign(q.size(), NAN);
    redrafter::treeAttentionReference(shape, q.data(), k.data(), v.data(), past.data(), treeLen.data(), packed.data(),
                                      ref.data());
  }
};
}  // namespace

TEST_CASE("build-tree kernel logic matches buildTree, mask packed as TensorRT-LLM's int32 bitmasks") {
  std::mt19937 rng(7);
  const int shapes[][3] = {{4, 8, 5}, {3, 16, 6}, {2, 40, 2}, {2, 1, 7}, {1, 8, 40}};
  for (auto& s : shapes) {
    const int batch = s[0], W = s[1], L = s[2], capacity = W * L, words = rc::packedMaskWords(capacity);
    for (int alphabet : {2, 3, 50}) {
      auto beams = randomBeams(rng, batch, W, L, alphabet);
      auto ref = redrafter::buildTree(beams.data(), batch, W, L);
      const int n = ref.maxLength;
      for (int b = 0; b < batch; ++b) {
        auto k = kernelTreeRow(beams.data() + size_t(b) * W * L, W, L, capacity);
        REQUIRE(k.total == ref.lengths[b]);
        for (int f = 0; f < W * L; ++f) CHECK(k.unpacker[f] == ref.unpacker[size_t(b) * W * L + f]);
        for (int i = 0; i < n; ++i) {
          const bool real = i < k.total;
          CHECK(k.parents[i] == ref.parents[size_t(b) * n + i]);
          CHECK(k.flat[i] == ref.beamTokenIndex[size_t(b) * n + i]);
          for (int j = 0; j < n; ++j) {
            const int32_t* row = reinterpret_cast<const int32_t*>(k.mask.data()) + size_t(i) * words;
            CHECK(rc::packedMaskBit(row, j) == (real && ref.mask[(size_t(b) * n + i) * n + j] != 0));
          }
        }
      }
    }
  }
}

TEST_CASE("ordered keys sort like floats and round-trip") {
  std::mt19937 rng(3);
  std::normal_distribution<float> d(0.f, 100.f);
  std::vector<float> xs = {-INFINITY, -1e30f, -1.f, -0.f, 0.f, 1e-30f, 2.f, 1e30f, INFINITY};
  for (int i = 0; i < 1000; ++i) xs.push_back(d(rng));
  for (float a : xs) {
    CHECK(rc::keyToFloat(rc::orderedKey(a)) == a);
    for (float b : {xs[0], xs[3], xs[5], xs[20], xs[500]})
      if (a < b) CHECK(rc::orderedKey(a) < rc::orderedKey(b));
  }
  CHECK(rc::orderedKey(-INFINITY) > 0u);  // key 0 stays free as the kernels' "no element"
}

TEST_CASE("beam-search kernel logic (chunked top-K, Apple log-probs, merge) matches the CPU step") {
  std::mt19937 rng(11);
  struct Shape { int batch, width, vocab, chunk; bool first; float quantum; };
  // quantum > 0 rounds the logits to multiples of it: ties with the 50th value (Apple keeps them all)
  const Shape shapes[] = {{3, 8, 1000, 128, false, 0}, {2, 8, 1000, 256, true, 0}, {2, 4, 333, 50, false, 0},
                          {1, 50, 4096, 512, false, 0}, {2, 1, 60, 60, true, 0}, {3, 8, 2000, 256, false, 0.5f},
                          {2, 8, 3000, 512, false, 4.f}, {1, 2, 256000, 4096, false, 0}};
  for (auto s : shapes) {
    const int K = redrafter::kAppleTopK, W = s.width, V = s.vocab;
    std::normal_distribution<float> d(0.f, 3.f);
    std::vector<float> logits(size_t(s.batch) * W * V), scores(size_t(s.batch) * W);
    for (auto& x : logits) x = s.quantum > 0 ? std::round(d(rng) / s.quantum) * s.quantum : d(rng);
    for (auto& x : scores) x = -std::abs(d(rng));
    // reference: Apple's processing per row, then the step
    std::vector<float> logProbs = logits, refScores(size_t(s.batch) * W);
    std::vector<int32_t> refParent(refScores.size()), refToken(refScores.size());
    for (size_t r = 0; r < size_t(s.batch) * W; ++r) redrafter::appleProcessLogits(logProbs.data() + r * V, V, K);
    redrafter::beamSearchStep(scores.data(), logProbs.data(), s.batch, W, V, s.first, refScores.data(),
                              refParent.data(), refToken.data());
    // kernel decomposition
    for (int b = 0; b < s.batch; ++b) {
      struct Cand { float score; int64_t flat; };
      std::vector<Cand> pool;
      for (int e = 0; e < rc::expandedBeams(W, s.first); ++e) {
        const float* row = logits.data() + (size_t(b) * W + e) * V;
        std::vector<std::pair<float, int>> kept;  // each chunk's top K, then the row's top K
        for (int c0 = 0; c0 < V; c0 += s.chunk) {
          std::vector<std::pair<float, int>> chunk;
          for (int t = c0; t < std::min(V, c0 + s.chunk); ++t) chunk.push_back({row[t], t});
          std::sort(chunk.begin(), chunk.end(), [](auto& x, auto& y) {
            return rc::orderedKey(x.first) != rc::orderedKey(y.first) ? rc::orderedKey(x.first) > rc::orderedKey(y.first)
                                                                      : x.second < y.second;
          });
          chunk.resize(std::min<size_t>(chunk.size(), K));
          kept.insert(kept.end(), chunk.begin(), chunk.end());
        }
        std::sort(kept.begin(), kept.end(), [](auto& x, auto& y) { return rc::ranksBefore(x.first, x.second, y.first, y.second); });
        kept.resize(std::min(K, V));
        const float mx = kept[0].first, kth = kept.back().first;
        float sum = 0;
        for (auto& k : kept) sum += std::exp(k.first - mx);
        // the kernel's tie rule: the row's logits equal to the k-th beyond the kept ones count too
        int equalRow = 0, keptEqual = 0;
        for (int t = 0; t < V; ++t) equalRow += row[t] == kth;
        for (auto& k : kept) keptEqual += k.first == kth;
        sum += float(equalRow - keptEqual) * std::exp(kth - mx);
        std::vector<Cand> rowCands;
        for (auto& k : kept)
          rowCands.push_back({scores[size_t(b) * W + e] + rc::appleLogProb(k.first, mx, std::log(sum)), int64_t(e) * V + k.second});
        std::sort(rowCands.begin(), rowCands.end(), [](auto& x, auto& y) { return rc::ranksBefore(x.score, x.flat, y.score, y.flat); });
        pool.insert(pool.end(), rowCands.begin(), rowCands.begin() + W);
      }
      std::sort(pool.begin(), pool.end(), [](auto& x, auto& y) { return rc::ranksBefore(x.score, x.flat, y.score, y.flat); });
      for (int i = 0; i < W; ++i) {
        const size_t o = size_t(b) * W + i;
        CHECK(pool[i].flat / V == refParent[o]);
        CHECK(pool[i].flat % V == refToken[o]);
        CHECK(pool[i].score == doctest::Approx(refScores[o]).epsilon(1e-5));
      }
    }
  }
}

namespace {

// The cluster kernel (beam_search_cluster.cu) on the CPU, step by step in its own decomposition: blocks of
// kClusterThreads threads holding `items` keys each, warps publishing their largest lane maxima, the row's bound,
// the candidates, the pairwise ranking or (heavy ties) the blocks' exact top-k lists, Apple's log-probabilities,
// each row's best W and the sequence merge. Returns the outputs [batch, W]; counts which path each row took.
struct ClusterRun {
  std::vector<float> scores;
  std::vector<int32_t> parent, token;
  int pairwiseRows = 0, fallbackRows = 0;
};
ClusterRun clusterKernelOnCpu(const std::vector<float>& logits, const std::vector<float>& beamScores, int batch, int W,
                              int V, int topK, bool first, int minItems) {
  const rc::ClusterPlan plan = rc::clusterPlan(V, minItems);
  REQUIRE(plan.blocks > 0);
  const int C = plan.blocks, items = plan.items, P = V % 4 == 0 ? 4 : 1, span = rc::kClusterThreads * items;
  const int kRow = std::min(topK, V), beams = rc::expandedBeams(W, first);
  struct KeyIdx { uint32_t key; int32_t index; };
  auto byRank = [](const KeyIdx& a, const KeyIdx& b) { return rc::keyRanksBefore(a.key, a.index, b.key, b.index); };
  ClusterRun out;
  out.scores.resize(size_t(batch) * W);
  out.parent.resize(out.scores.size());
  out.token.resize(out.scores.size());
  for (int b = 0; b < batch; ++b) {
    struct Cand { float score; int64_t flat; };
    std::vector<Cand> rowLists;  // [beams][W] each row's best W in rank order
    for (int e = 0; e < beams; ++e) {
      const int row = b * W + e;
      const float* x = logits.data() + size_t(row) * V;
      // registers: key[c][t][i]
      std::vector<uint32_t> key(size_t(C) * rc::kClusterThreads * items, 0u);
      std::vector<int32_t> index(key.size(), -1);
      for (int c = 0; c < C; ++c)
        for (int t = 0; t < rc::kClusterThreads; ++t)
          for (int i = 0; i < items; ++i) {
            const int off = rc::clusterItemOffset(i, t, P), k = (c * rc::kClusterThreads + t) * items + i;
            if (off < std::min(span, V - c * span)) {
              key[k] = rc::canonicalKey(x[c * span + off]);
              index[k] = c * span + off;
            }
          }
      // published values: each warp's perWarp largest lane maxima, [block][warp][j]
      const int perWarp = rc::clusterPublishPerWarp(kRow, C);
      std::vector<uint32_t> published;
      for (int c = 0; c < C; ++c)
        for (int w = 0; w < rc::kClusterWarps; ++w) {
          uint32_t laneMax[32];
          for (int l = 0; l < 32; ++l) {
            laneMax[l] = 0;
            for (int i = 0; i < items; ++i) laneMax[l] = std::max(laneMax[l], key[(size_t(c) * rc::kClusterThreads + w * 32 + l) * items + i]);
          }
          for (int j = 0; j < perWarp; ++j) {
            int holder = 0;
            for (int l = 1; l < 32; ++l)
              if (laneMax[l] > laneMax[holder]) holder = l;
            published.push_back(laneMax[holder]);
            laneMax[holder] = 0;
          }
        }
      const int nPublished = int(published.size());
      REQUIRE(nPublished >= kRow);
      uint32_t bound = 0;
      for (int t = 0; t < nPublished; ++t) {
        int rank = 0;
        for (int j = 0; j < nPublished; ++j) rank += published[j] > published[t] || (published[j] == published[t] && j < t);
        if (rank == kRow - 1) bound = published[t];
      }
      bound = std::max(bound, 1u);
      std::vector<KeyIdx> all;
      for (size_t k = 0; k < key.size(); ++k)
        if (key[k]) all.push_back({key[k], index[k]});
      std::sort(all.begin(), all.end(), byRank);
      REQUIRE(bound <= all[kRow - 1].key);  // the bound never passes the row's k-th largest
      std::vector<unsigned> counts(C, 0);
      for (int c = 0; c < C; ++c)
        for (size_t k = size_t(c) * rc::kClusterThreads * items; k < size_t(c + 1) * rc::kClusterThreads * items; ++k)
          counts[c] += key[k] >= bound;
      std::vector<KeyIdx> top;
      unsigned equalRow = 0;
      if (rc::clusterCandidatesFit(counts.data(), C)) {
        ++out.pairwiseRows;
        std::vector<KeyIdx> cands;
        for (size_t k = 0; k < key.size(); ++k)
          if (key[k] >= bound) cands.push_back({key[k], index[k]});
        // the kernel's pairwise ranking: q threads per candidate, thread sub comparing entries sub, sub + q, ...;
        // the candidate of rank k-1 counts the candidates equal to it in the same pass
        const int n = int(cands.size()), q = rc::rankThreadsPerCandidate(n, rc::kClusterThreads);
        top.assign(kRow, KeyIdx{0u, -1});
        int kthWriters = 0;
        for (int i = 0; i < n; ++i) {
          int rank = 0;
          unsigned equal = 0;
          for (int sub = 0; sub < q; ++sub)
            for (int j = sub; j < n; j += q) {
              rank += rc::keyRanksBefore(cands[j].key, cands[j].index, cands[i].key, cands[i].index);
              equal += cands[j].key == cands[i].key;
            }
          if (rank < kRow) top[rank] = cands[i];
          if (rank == kRow - 1) equalRow = equal, ++kthWriters;
        }
        REQUIRE(kthWriters == 1);
      } else {
        ++out.fallbackRows;
        std::vector<std::vector<KeyIdx>> lists(C);
        std::vector<uint32_t> blockKth(C);
        std::vector<unsigned> blockTie(C, 0);
        for (int c = 0; c < C; ++c) {
          std::vector<KeyIdx> mine;
          for (size_t k = size_t(c) * rc::kClusterThreads * items; k < size_t(c + 1) * rc::kClusterThreads * items; ++k)
            if (key[k]) mine.push_back({key[k], index[k]});
          std::sort(mine.begin(), mine.end(), byRank);
          const int kBlock = std::min<int>(kRow, int(mine.size()));
          for (int r = 0; r < kBlock; ++r) lists[c].push_back(mine[r]);
          blockKth[c] = lists[c].back().key;
          for (auto& m : mine) blockTie[c] += m.key == blockKth[c];
        }
        std::vector<KeyIdx> merged;
        for (auto& l : lists) merged.insert(merged.end(), l.begin(), l.end());
        std::sort(merged.begin(), merged.end(), byRank);
        for (int r = 0; r < kRow; ++r) top.push_back(merged[r]);
        for (int c = 0; c < C; ++c) {
          unsigned listEqual = 0;
          for (auto& m : lists[c]) listEqual += m.key == top.back().key;
          equalRow += rc::fallbackEqualCount(blockKth[c], blockTie[c], listEqual, top.back().key);
        }
      }
      // the row's top k and its ties are exact: they equal the full sort's
      for (int r = 0; r < kRow; ++r) REQUIRE((top[r].key == all[r].key && top[r].index == all[r].index));
      unsigned allEqual = 0;
      for (auto& a : all) allEqual += a.key == top.back().key;
      REQUIRE(equalRow == allEqual);
      // finishRow
      const float rowMax = rc::keyToFloat(top[0].key), kth = rc::keyToFloat(top.back().key);
      float sum = 0;
      unsigned keptEqual = 0;
      for (auto& t : top) {
        sum += std::exp(rc::keyToFloat(t.key) - rowMax);
        keptEqual += t.key == top.back().key;
      }
      const float lse = rc::keptLogSumExp(sum, equalRow - keptEqual, kth, rowMax);
      std::vector<Cand> rowCands;
      for (auto& t : top)
        rowCands.push_back({beamScores[row] + rc::appleLogProb(rc::keyToFloat(t.key), rowMax, lse), int64_t(e) * V + t.index});
      std::sort(rowCands.begin(), rowCands.end(), [](auto& a, auto& c) { return rc::ranksBefore(a.score, a.flat, c.score, c.flat); });
      rowLists.insert(rowLists.end(), rowCands.begin(), rowCands.begin() + W);
    }
    // mergeSequence: q threads per candidate, thread sub binary-searching the lists sub, sub + q, ...
    const int n = beams * W, q = rc::rankThreadsPerCandidate(n, rc::kClusterThreads);
    std::vector<int> written(W, 0);
    for (int c = 0; c < n; ++c) {
      const int mine = c / W;
      int rank = c - mine * W;
      for (int sub = 0; sub < q; ++sub)
        for (int other = sub; other < beams; other += q) {
          if (other == mine) continue;
          auto first = rowLists.begin() + other * W;
          rank += int(std::partition_point(first, first + W, [&](const Cand& x) {
                        return rc::ranksBefore(x.score, x.flat, rowLists[c].score, rowLists[c].flat);
                      }) - first);
        }
      if (rank < W) {
        ++written[rank];
        out.scores[size_t(b) * W + rank] = rowLists[c].score;
        out.parent[size_t(b) * W + rank] = int32_t(rowLists[c].flat / V);
        out.token[size_t(b) * W + rank] = int32_t(rowLists[c].flat % V);
      }
    }
    for (int r = 0; r < W; ++r) REQUIRE(written[r] == 1);
  }
  return out;
}

}  // namespace

TEST_CASE("rankThreadsPerCandidate: a power of two dividing 32, the most that fit one pass of the block") {
  for (int threads : {32, 128, 256})
    for (int n = 1; n <= 600; ++n) {
      const int q = rc::rankThreadsPerCandidate(n, threads);
      CHECK((q == 1 || q == 2 || q == 4 || q == 8));
      CHECK((q == 1 || n * q <= threads));
      CHECK((q == 8 || n * q * 2 > threads));
    }
  CHECK(rc::rankThreadsPerCandidate(64, 256) == 4);  // a row's ~55-80 candidates; the sequence's 64 at W 8
  CHECK(rc::rankThreadsPerCandidate(80, 256) == 2);
  CHECK(rc::rankThreadsPerCandidate(50, 256) == 4);
  CHECK(rc::rankThreadsPerCandidate(512, 256) == 1);
}

TEST_CASE("cluster beam-search logic: plan, canonical keys, key order") {
  CHECK(rc::clusterPlan(32000).items == 16);
  CHECK(rc::clusterPlan(32000).blocks == 8);
  CHECK(rc::clusterPlan(1000).blocks == 1);
  CHECK(rc::clusterPlan(128256).items == 64);
  CHECK(rc::clusterPlan(128256).blocks == 8);
  CHECK(rc::clusterPlan(131072).blocks == 8);
  CHECK(rc::clusterPlan(131073).blocks == 0);  // the chunked kernel serves larger vocabularies
  CHECK(rc::clusterPlan(256000).blocks == 0);
  CHECK(rc::clusterPlan(32000, 32).items == 32);
  CHECK(rc::clusterPlan(32000, 32).blocks == 4);
  CHECK(rc::clusterPlan(128256, 32).items == 64);
  CHECK(rc::canonicalKey(-0.0f) == rc::canonicalKey(0.0f));
  CHECK(rc::canonicalKey(-INFINITY) > 0u);
  std::mt19937 rng(4);
  std::normal_distribution<float> d(0.f, 2.f);
  for (int i = 0; i < 2000; ++i) {
    const float a = std::round(d(rng)), b = std::round(d(rng));
    const int32_t ia = int32_t(rng() % 7), ib = int32_t(rng() % 7);
    CHECK(rc::keyRanksBefore(rc::canonicalKey(a), ia, rc::canonicalKey(b), ib) == rc::ranksBefore(a, ia, b, ib));
  }
  for (int P : {1, 4}) {  // every offset of a block's span exactly once, for both load widths
    std::vector<int> seen(size_t(rc::kClusterThreads) * 16, 0);
    for (int t = 0; t < rc::kClusterThreads; ++t)
      for (int i = 0; i < 16; ++i) ++seen[rc::clusterItemOffset(i, t, P)];
    CHECK(std::count(seen.begin(), seen.end(), 1) == int(seen.size()));
  }
}

TEST_CASE("cluster beam-search kernel logic matches the CPU step (ties, -inf, V < 50, first step, large V)") {
  std::mt19937 rng(21);
  // kind: 0 normal, 1 quantised (ties with the 50th), 2 some -inf, 3 the top logits crowded into one block
  struct Shape { int batch, width, vocab; bool first; int kind; float quantum; };
  const Shape shapes[] = {{3, 8, 1000, false, 0, 0},    {2, 8, 32000, false, 0, 0},  {2, 8, 32001, true, 0, 0},
                          {2, 8, 20, false, 0, 0},      {2, 8, 8, true, 0, 0},       {3, 5, 49, false, 1, 1.f},
                          {1, 4, 128256, false, 0, 0},  {1, 4, 65536, true, 0, 0},   {2, 8, 32000, false, 1, 0.25f},
                          {2, 8, 32000, true, 1, 4.f},  {2, 8, 4096, false, 1, 4.f}, {2, 8, 32000, false, 2, 0},
                          {2, 50, 4096, false, 0, 0},   {2, 8, 32000, false, 3, 0},  {2, 3, 999, false, 1, 8.f},
                          {2, 8, 32000, true, 1, 8.f},  {1, 8, 128256, false, 1, 8.f}};  // quantum 8: the fallback
  int pairwise = 0, fallback = 0;
  for (auto s : shapes) {
    const int K = redrafter::kAppleTopK, W = s.width, V = s.vocab;
    std::normal_distribution<float> d(0.f, 4.f);
    std::vector<float> logits(size_t(s.batch) * W * V), scores(size_t(s.batch) * W);
    for (size_t i = 0; i < logits.size(); ++i) {
      float x = d(rng);
      if (s.kind == 1) x = std::round(x / s.quantum) * s.quantum;
      if (s.kind == 2 && rng() % 3 == 0 && i % V != 0) x = -INFINITY;
      if (s.kind == 3 && i % V >= 100 && i % V < 300) x += 30.f;  // 200 top logits in the row's first block
      logits[i] = x;
    }
    for (auto& x : scores) x = -std::abs(d(rng)) * 3.f;
    std::vector<float> logProbs = logits, refScores(scores.size());
    std::vector<int32_t> refParent(scores.size()), refToken(scores.size());
    for (size_t r = 0; r < size_t(s.batch) * W; ++r) redrafter::appleProcessLogits(logProbs.data() + r * V, V, K);
    redrafter::beamSearchStep(scores.data(), logProbs.data(), s.batch, W, V, s.first, refScores.data(), refParent.data(),
                              refToken.data());
    for (int minItems : {16, 32}) {  // kCluster (and the merge-kernel variants), kClusterWide
      auto got = clusterKernelOnCpu(logits, scores, s.batch, W, V, K, s.first, minItems);
      pairwise += got.pairwiseRows;
      fallback += got.fallbackRows;
      INFO("batch " << s.batch << " W " << W << " V " << V << " first " << s.first << " kind " << s.kind << " items >= " << minItems);
      for (size_t i = 0; i < refScores.size(); ++i) {
        CHECK(got.parent[i] == refParent[i]);
        CHECK(got.token[i] == refToken[i]);
        CHECK(got.scores[i] == doctest::Approx(refScores[i]).epsilon(1e-5));
      }
    }
  }
  CHECK(pairwise > 0);
  CHECK(fallback > 0);
}

TEST_CASE("accept logic matches verifyGreedy; commit slots match kvCommitPlan") {
  std::mt19937 rng(5);
  for (int trial = 0; trial < 200; ++trial) {
    const int W = 1 + trial % 9, L = 1 + trial % 6;
    auto beams = randomBeams(rng, 1, W, L, 2 + trial % 3);
    auto tree = redrafter::buildTree(beams.data(), 1, W, L);
    std::uniform_int_distribution<int> tok(0, 2 + trial % 3);
    std::vector<int32_t> argmax(tree.maxLength);
    for (auto& a : argmax) a = tok(rng);
    auto ref = redrafter::verifyGreedy(beams.data(), W, L, tree.unpacker.data(), argmax.data());
    int bestLen = -1, best = 0;
    for (int w = 0; w < W; ++w) {
      int len = rc::acceptedLengthOfBeam(beams.data(), tree.unpacker.data(), argmax.data(), L, w);
      if (rc::betterBeam(len, w, bestLen, best)) bestLen = len, best = w;
    }
    REQUIRE(best == ref.beam);
    REQUIRE(bestLen == ref.acceptedLength);
    const int past = trial * 3;
    auto plan = redrafter::kvCommitPlan(past, ref.acceptedPacked.data(), int(ref.acceptedPacked.size()));
    size_t m = 0;
    for (int k = 0; k <= bestLen; ++k) {
      int from = rc::commitSource(past, ref.acceptedPacked.data(), k), to = rc::commitTarget(past, k);
      if (from == to) continue;
      REQUIRE(m < plan.moves.size());
      CHECK(plan.moves[m].from == from);
      CHECK(plan.moves[m].to == to);
      ++m;
    }
    CHECK(m == plan.moves.size());
    CHECK(plan.newLength == past + 1 + bestLen);
  }
}

TEST_CASE("tree attention: split online softmax with the kernel's visibility rule matches the reference") {
  std::mt19937 rng(9);
  const AttentionCase ac(rng, 1.f);
  const int batch = ac.batch, Hq = ac.Hq, Hkv = ac.Hkv, D = ac.D, capacity = ac.capacity, T = ac.T, words = ac.words;
  const redrafter::TreeAttentionShape& shape = ac.shape;
  const std::vector<int32_t>&packed = ac.packed, &past = ac.past, &treeLen = ac.treeLen;
  const std::vector<float>&q = ac.q, &k = ac.k, &v = ac.v, &ref = ac.ref;
  const int split = 24;  // keys per split
  for (int b = 0; b < batch; ++b)
    for (int t = 0; t < T; ++t)
      for (int h = 0; h < Hq; ++h) {
        const float* o = ref.data() + ((size_t(b) * T + t) * Hq + h) * D;
        if (t >= treeLen[b]) {
          for (int e = 0; e < D; ++e) CHECK(o[e] == 0.f);
          continue;
        }
        const int total = past[b] + treeLen[b], kvh = h / (Hq / Hkv);
        const int32_t* maskRow = packed.data() + (size_t(b) * T + t) * words;
        float m = -INFINITY, l = 0;
        std::vector<float> acc(D, 0.f);
        for (int s0 = 0; s0 < total + split; s0 += split) {  // includes an empty split
          float ms = -INFINITY, ls = 0;
          std::vector<float> part(D, 0.f);
          for (int p = s0; p < std::min(total, s0 + split); ++p) {
            if (!rc::treeVisible(p, past[b], treeLen[b], maskRow)) continue;
            const float* kr = k.data() + ((size_t(b) * Hkv + kvh) * capacity + p) * D;
            float x = 0;
            for (int e = 0; e < D; ++e) x += q[((size_t(b) * T + t) * Hq + h) * D + e] * kr[e];
            x *= shape.scale;
            auto mg = rc::softmaxMerge(ms, ls, x, 1.f);
            const float* vr = v.data() + ((size_t(b) * Hkv + kvh) * capacity + p) * D;
            for (int e = 0; e < D; ++e) part[e] = part[e] * mg.scaleA + vr[e] * mg.scaleB;
            ms = mg.m, ls = mg.l;
          }
          auto mg = rc::softmaxMerge(m, l, ms, ls);
          for (int e = 0; e < D; ++e) acc[e] = acc[e] * mg.scaleA + part[e] * mg.scaleB;
          m = mg.m, l = mg.l;
        }
        for (int e = 0; e < D; ++e) CHECK(acc[e] / l == doctest::Approx(o[e]).epsilon(1e-4));
      }
}

TEST_CASE("tree attention reference: a token whose only visible key is itself returns its own value") {
  const int D = 8, capacity = 4;
  std::vector<float> q(D, 1.f), k(capacity * D, 0.5f), v(capacity * D);
  for (int i = 0; i < capacity * D; ++i) v[i] = float(i);
  int32_t past = 0, tree = 1, mask = 1;
  redrafter::TreeAttentionShape shape{1, 1, 1, 1, D, capacity, 0.3f};
  std::vector<float> out(D);
  redrafter::treeAttentionReference(shape, q.data(), k.data(), v.data(), &past, &tree, &mask, out.data());
  for (int e = 0; e < D; ++e) CHECK(out[e] == float(e));
  past = 4;
  CHECK_THROWS_WITH(redrafter::treeAttentionReference(shape, q.data(), k.data(), v.data(), &past, &tree, &mask, out.data()),
                    doctest::Contains("pastLengths"));
}

TEST_CASE("tree attention: the wide kernel's work split covers every row, key and column once") {
  // row tiles: warps 0..3 own 0..7 two each, the ninth is shared
  std::vector<int> owned(rc::kWideWarps, 0);
  for (int rt = 0; rt < rc::kWideRowTiles - 1; ++rt) ++owned[rc::wideTileOwner(rt)];
  for (int w = 0; w < rc::kWideWarps; ++w) CHECK(owned[w] == 2);
  CHECK(rc::wideTileOwner(rc::kWideRowTiles - 1) == -1);
  // the shared tile's keys of a 64-key tile and its columns (D 64 and 128) are split in contiguous equal slices
  for (int n : {64, 128}) {
    std::vector<int> hits(n, 0);
    const int keys = n == 64 ? 64 : 0;  // keys: the kernel's 64-key tile; columns: the head dim
    for (int w = 0; w < rc::kWideWarps; ++w) {
      const int begin = keys ? rc::wideSharedKeyBegin(w, keys) : rc::wideSharedColBegin(w, n);
      for (int i = begin; i < begin + n / rc::kWideWarps; ++i) ++hits[i];
    }
    for (int i = 0; i < n; ++i) CHECK(hits[i] == 1);
  }
  CHECK(rc::wideSharedColBegin(3, 64) == 48);
  CHECK(rc::wideSharedKeyBegin(1, 64) == 16);
}

TEST_CASE("tree attention: the wide kernel's shared row tile (keys over warps, common max, summed sums) matches the reference") {
  std::mt19937 rng(17);
  const AttentionCase ac(rng, 2.f);
  const int batch = ac.batch, Hq = ac.Hq, Hkv = ac.Hkv, D = ac.D, capacity = ac.capacity, T = ac.T, words = ac.words;
  const redrafter::TreeAttentionShape& shape = ac.shape;
  const std::vector<int32_t>&packed = ac.packed, &past = ac.past, &treeLen = ac.treeLen;
  const std::vector<float>&q = ac.q, &k = ac.k, &v = ac.v, &ref = ac.ref;
  const float log2e = 1.4426950408889634f;
  // tile sizes: the kernel's 64 keys, and 4 (one key per warp: whole tiles and warp slices with nothing visible)
  for (int tileKeys : {64, 4}) {
    const int splitLen = 2 * tileKeys;  // context splits of whole tiles, merged as the combine kernel does
    for (int b = 0; b < batch; ++b)
      for (int t = 0; t < treeLen[b]; ++t)
        for (int h = 0; h < Hq; ++h) {
          const int total = past[b] + treeLen[b], kvh = h / (Hq / Hkv);
          const int32_t* maskRow = packed.data() + (size_t(b) * T + t) * words;
          const float* qr = q.data() + ((size_t(b) * T + t) * Hq + h) * D;
          auto score = [&](int p) {  // log2 units, -inf where hidden or past the split
            if (!rc::treeVisible(p, past[b], treeLen[b], maskRow)) return -INFINITY;
            const float* kr = k.data() + ((size_t(b) * Hkv + kvh) * capacity + p) * D;
            float x = 0;
            for (int e = 0; e < D; ++e) x += qr[e] * kr[e];
            return x * shape.scale * log2e;
          };
          float m = -INFINITY, l = 0;  // merged over splits (natural-log max, as the kernel writes it)
          std::vector<float> acc(D, 0.f);
          for (int s0 = 0; s0 < total + splitLen; s0 += splitLen) {  // includes an empty split
            const int s1 = std::min(total, s0 + splitLen);
            float mx = -INFINITY;
            std::vector<float> lw(rc::kWideWarps, 0.f), o(D, 0.f);  // o: column c accumulated by its owner warp
            for (int t0 = s0; t0 < s1; t0 += tileKeys) {
              std::vector<float> sc(tileKeys, -INFINITY);
              float tileMax = -INFINITY;  // the four warps' maxima of their key slices, met in shared memory
              for (int w = 0; w < rc::kWideWarps; ++w) {
                const int k0 = rc::wideSharedKeyBegin(w, tileKeys);
                for (int i = k0; i < k0 + tileKeys / rc::kWideWarps; ++i) {
                  if (t0 + i < s1) sc[i] = score(t0 + i);
                  tileMax = std::max(tileMax, sc[i]);
                }
              }
              const rc::OnlineStep st = rc::onlineSoftmaxStep(mx, tileMax);
              mx = st.m;
              std::vector<float> pr(tileKeys);
              for (int w = 0; w < rc::kWideWarps; ++w) {
                const int k0 = rc::wideSharedKeyBegin(w, tileKeys);
                float sum = 0.f;
                for (int i = k0; i < k0 + tileKeys / rc::kWideWarps; ++i) sum += pr[i] = std::exp2(sc[i] - st.base);
                lw[w] = lw[w] * st.alpha + sum;
              }
              for (int w = 0; w < rc::kWideWarps; ++w)
                for (int c = rc::wideSharedColBegin(w, D); c < rc::wideSharedColBegin(w, D) + D / rc::kWideWarps; ++c) {
                  float x = o[c] * st.alpha;
                  for (int i = 0; i < tileKeys && t0 + i < s1; ++i)
                    x += pr[i] * v[((size_t(b) * Hkv + kvh) * capacity + t0 + i) * D + c];
                  o[c] = x;
                }
            }
            float ls = 0.f;
            for (float x : lw) ls += x;
            CHECK(std::isfinite(ls));
            auto mg = rc::softmaxMerge(m, l, mx / log2e, ls);
            for (int e = 0; e < D; ++e) acc[e] = acc[e] * mg.scaleA + o[e] * mg.scaleB;
            m = mg.m, l = mg.l;
          }
          const float* r = ref.data() + ((size_t(b) * T + t) * Hq + h) * D;
          for (int e = 0; e < D; ++e) CHECK(acc[e] / l == doctest::Approx(r[e]).epsilon(1e-4));
        }
  }
}
