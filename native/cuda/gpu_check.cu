// The GPU check (scripts/test-gpu.sh): every kernel against its CPU reference (native/core) on fresh random
// inputs, outputs poisoned before each checked run and every element compared; then timed with CUDA events
// (warm-up, median over repetitions of back-to-back launches) and reported against the measured
// device-to-device copy rate and, where scripts/gpu_torch_reference.py ran, PyTorch's time for the same operator.
// Exit code 0 only when every check passed.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_profiler_api.h>
#include <cuda_runtime.h>
#include <nvtx3/nvToolsExt.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <numeric>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "accept_commit.h"
#include "beam_search.h"
#include "beam_search_cluster.cuh"  // internal: the cluster kernel's occupancy, reported with its timing
#include "build_tree.h"
#include "core/beam_search.h"
#include "core/build_tree.h"
#include "core/kv_commit.h"
#include "core/tree_attention.h"
#include "core/verify_greedy.h"
#include "cuda/testing/random_beams.h"  // the same beams the host tests draw
#include "tree_attention.h"

namespace rc = redrafter::cuda;

using redrafter::testing::randomBeams;

#define CK(x)                                                                                           \
  do {                                                                                                  \
    cudaError_t e_ = (x);                                                                               \
    if (e_ != cudaSuccess) {                                                                            \
      std::fprintf(stderr, "CUDA error %s at %s:%d: %s%s%s\n", cudaGetErrorString(e_), __FILE__, __LINE__, #x, \
                   *rc::lastLaunchError() ? "\n  the last launcher's message: " : "", rc::lastLaunchError()); \
      std::exit(2);                                                                                     \
    }                                                                                                   \
  } while (0)

namespace {

std::mt19937_64 rng;
int gFailures = 0;
bool gQuick = false;  // REDRAFTER_GPU_QUICK=1: the small correctness cases only (for compute-sanitizer)
bool gProfile = false;  // REDRAFTER_GPU_PROFILE=1: each timed launch once, in a profiler range (timeUs)
int gSmCount = 0, gSmMajor = 0;
double gCopyGBs = 0;
std::map<std::string, double> gTorchUs;

struct Row {
  std::string name, shape;
  double us = 0, bytes = 0, torchUs = -1, extra = -1;
  std::string extraLabel;
  bool ok = false;
};
std::vector<Row> gRows;

void expect(bool cond, const std::string& what) {
  if (!cond) {
    if (gFailures < 20) std::printf("  FAIL: %s\n", what.c_str());
    ++gFailures;
  }
}

template <typename T>
struct DevBuf {
  T* p = nullptr;
  size_t n = 0;
  explicit DevBuf(size_t count) : n(count) { CK(cudaMalloc(&p, std::max<size_t>(1, n) * sizeof(T))); }
  ~DevBuf() { cudaFree(p); }
  DevBuf(const DevBuf&) = delete;
  void up(const std::vector<T>& h) { CK(cudaMemcpy(p, h.data(), n * sizeof(T), cudaMemcpyHostToDevice)); }
  std::vector<T> down() const {
    std::vector<T> h(n);
    CK(cudaMemcpy(h.data(), p, n * sizeof(T), cudaMemcpyDeviceToHost));
    return h;
  }
  void poison() { CK(cudaMemset(p, 0xff, n * sizeof(T))); }  // -1 ints, NaN floats/halves
};

// Median per-launch microseconds: `reps` event pairs around `batch` back-to-back launches, after a warm-up. Profile
// mode (REDRAFTER_GPU_PROFILE, scripts/test-gpu.sh under Nsight Compute): after the warm-up, one launch inside
// cudaProfilerStart/Stop and an NVTX range named `what`, so `ncu --profile-from-start off --nvtx` profiles exactly
// the timed launches, labelled; no timing then (returns NAN).
double timeUs(const std::string& what, const std::function<void(int)>& launch, int batch = 20, int reps = 25) {
  for (int i = 0; i < 5; ++i) launch(i);
  CK(cudaDeviceSynchronize());
  if (gProfile) {
    nvtxRangePushA(what.c_str());
    CK(cudaProfilerStart());
    launch(0);
    CK(cudaDeviceSynchronize());
    CK(cudaProfilerStop());
    nvtxRangePop();
    return NAN;
  }
  cudaEvent_t a, b;
  CK(cudaEventCreate(&a));
  CK(cudaEventCreate(&b));
  std::vector<double> t;
  for (int r = 0; r < reps; ++r) {
    CK(cudaEventRecord(a));
    for (int i = 0; i < batch; ++i) launch(r * batch + i);
    CK(cudaEventRecord(b));
    CK(cudaEventSynchronize(b));
    float ms = 0;
    CK(cudaEventElapsedTime(&ms, a, b));
    t.push_back(1000.0 * ms / batch);
  }
  CK(cudaGetLastError());
  cudaEventDestroy(a);
  cudaEventDestroy(b);
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

void measureCopy() {
  const size_t bytes = size_t(1) << 30;
  DevBuf<char> src(bytes), dst(bytes);
  CK(cudaMemset(src.p, 1, bytes));
  double us = timeUs("copy 1 GiB", [&](int) { CK(cudaMemcpyAsync(dst.p, src.p, bytes, cudaMemcpyDeviceToDevice)); }, 2, 9);
  gCopyGBs = 2.0 * bytes / (us * 1e-6) / 1e9;
}

// ---------------------------------------------------------------------------------------------------------
struct TreeDev {
  int batch, W, L, cap, words;
  DevBuf<int32_t> beams, lengths, tokens, bti, pos, parents, unpacker, mask;
  TreeDev(int b, int w, int l)
      : batch(b), W(w), L(l), cap(w * l), words((w * l + 31) / 32), beams(size_t(b) * w * l), lengths(b),
        tokens(size_t(b) * cap), bti(size_t(b) * cap), pos(size_t(b) * cap), parents(size_t(b) * cap),
        unpacker(size_t(b) * w * l), mask(size_t(b) * cap * words) {}
  rc::BuildTreeParams params() {
    rc::BuildTreeParams p;
    p.beams = beams.p;
    p.batch = batch, p.width = W, p.length = L, p.capacity = cap;
    p.lengths = lengths.p, p.tokens = tokens.p, p.beamTokenIndex = bti.p, p.positionOffsets = pos.p;
    p.parents = parents.p, p.unpacker = unpacker.p, p.packedMask = mask.p;
    return p;
  }
  void poison() {
    for (auto* d : {&lengths, &tokens, &bti, &pos, &parents, &unpacker, &mask}) d->poison();
  }
};

bool checkTree(TreeDev& t, const std::vector<int32_t>& beams, const redrafter::PackedTrees& ref) {
  const int before = gFailures, n = ref.maxLength, cap = t.cap, words = t.words;
  auto lengths = t.lengths.down(), tokens = t.tokens.down(), bti = t.bti.down(), pos = t.pos.down(),
       parents = t.parents.down(), unpacker = t.unpacker.down(), mask = t.mask.down();
  for (int b = 0; b < t.batch; ++b) {
    expect(lengths[b] == ref.lengths[b], "buildTree lengths");
    for (int i = 0; i < cap; ++i) {
      const size_t o = size_t(b) * cap + i, r = size_t(b) * n + i;
      const bool in = i < n;
      expect(tokens[o] == (in ? ref.tokens[r] : 0), "buildTree tokens");
      expect(bti[o] == (in ? ref.beamTokenIndex[r] : -1), "buildTree beamTokenIndex");
      expect(pos[o] == (in ? ref.positionOffsets[r] : -1), "buildTree positionOffsets");
      expect(parents[o] == (in ? ref.parents[r] : -1), "buildTree parents");
      for (int j = 0; j < cap; ++j) {
        bool bit = (uint32_t(mask[o * words + j / 32]) >> (j % 32)) & 1u;
        bool want = in && j < n && ref.mask[(size_t(b) * n + i) * n + j];
        expect(bit == want, "buildTree packed mask bit");
      }
      for (int wd = 0; wd < words; ++wd)
        if (!in) expect(mask[o * words + wd] == 0, "buildTree padding mask rows");
    }
    for (int f = 0; f < t.W * t.L; ++f)
      expect(unpacker[size_t(b) * t.W * t.L + f] == ref.unpacker[size_t(b) * t.W * t.L + f], "buildTree unpacker");
  }
  return gFailures == before;
}

void runBuildTree() {
  std::printf("buildTree\n");
  bool ok = true;
  const int shapes[][4] = {{64, 8, 5, 3}, {64, 8, 5, 1000}, {7, 16, 6, 2}, {3, 32, 8, 4}, {2, 1, 3, 5}};
  for (auto& s : shapes) {
    TreeDev t(s[0], s[1], s[2]);
    auto beams = randomBeams(rng, s[0], s[1], s[2], s[3]);
    auto ref = redrafter::buildTree(beams.data(), s[0], s[1], s[2]);
    t.beams.up(beams);
    t.poison();
    CK(rc::launchBuildTree(t.params(), 0));
    CK(cudaDeviceSynchronize());
    bool good = checkTree(t, beams, ref);
    std::printf("  batch %d width %d length %d alphabet %d: %s (maxLength %d)\n", s[0], s[1], s[2], s[3],
                good ? "ok" : "MISMATCH", ref.maxLength);
    ok = ok && good;
  }
  if (gQuick) return;
  TreeDev t(64, 8, 5);
  t.beams.up(randomBeams(rng, 64, 8, 5, 3));
  auto p = t.params();
  Row row;
  row.name = "build_tree";
  row.shape = "batch 64, W 8, L 5";
  row.us = timeUs("build_tree batch 64 W 8 L 5", [&](int) { rc::launchBuildTree(p, 0); });
  row.bytes = 4.0 * (64 * 40 /*beams*/ + 64 + 64 * 40 * 5 /*packed outputs + unpacker*/ + 64 * 40 * 2 /*mask*/);
  row.ok = ok;
  gRows.push_back(row);
}

// ---------------------------------------------------------------------------------------------------------
__global__ void readOnceKernel(const float4* x, size_t n4, float* out) {
  float s = 0.f;
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < n4; i += size_t(gridDim.x) * blockDim.x) {
    float4 v = __ldcs(x + i);
    s += v.x + v.y + v.z + v.w;
  }
  if (s == 12345.678f) out[0] = s;  // keeps the loads
}

// The beam-search variants the check runs (each on every case it serves, each checked; the timed case times each).
const rc::BeamSearchVariant kBeamVariants[] = {rc::BeamSearchVariant::kChunked, rc::BeamSearchVariant::kCluster,
                                               rc::BeamSearchVariant::kClusterMergeKernel,
                                               rc::BeamSearchVariant::kClusterMergeKernelPdl,
                                               rc::BeamSearchVariant::kClusterWide,
                                               rc::BeamSearchVariant::kClusterDense,
                                               rc::BeamSearchVariant::kClusterWideDense};

// quantum > 0 rounds the logits to its multiples: many ties with the 50th value (Apple keeps them all); 4 makes
// the chunked kernel's candidates overflow its rank selection so its radix select runs, 8 the cluster kernel's. kind 1: a third of the logits -inf;
// kind 2: 200 top logits crowded into the row's first 4096 (the candidates all come from one block).
bool beamCase(int batch, int W, int V, bool first, bool time, Row* row, float quantum = 0.f, int kind = 0) {
  std::normal_distribution<float> d(0.f, 4.f);
  const size_t nl = size_t(batch) * W * V;
  std::vector<float> logits(nl), scores(size_t(batch) * W);
  for (size_t i = 0; i < nl; ++i) {
    float x = quantum > 0 ? std::round(d(rng) / quantum) * quantum : d(rng);
    if (kind == 1 && rng() % 3 == 0 && i % V != 0) x = -INFINITY;
    if (kind == 2 && i % V >= 100 && i % V < 300) x += 30.f;
    logits[i] = x;
  }
  for (auto& x : scores) x = -std::abs(d(rng)) * 3.f;
  std::vector<float> logProbs = logits, refScores(scores.size());
  std::vector<int32_t> refParent(scores.size()), refToken(scores.size());
  for (size_t r = 0; r < size_t(batch) * W; ++r) redrafter::appleProcessLogits(logProbs.data() + r * V, V);
  redrafter::beamSearchStep(scores.data(), logProbs.data(), batch, W, V, first, refScores.data(), refParent.data(),
                            refToken.data());
  const int copies = time ? std::max<int>(1, int((size_t(192) << 20) / (nl * 4))) : 1;  // rotate past the L2
  DevBuf<float> dLogits(nl * copies), dScores(scores.size()), oScores(scores.size());
  DevBuf<int32_t> oParent(scores.size()), oToken(scores.size());
  for (int c = 0; c < copies; ++c) CK(cudaMemcpy(dLogits.p + nl * c, logits.data(), nl * 4, cudaMemcpyHostToDevice));
  dScores.up(scores);
  const size_t wsBytes = rc::beamSearchWorkspaceBytes(batch, W, V, 50);
  DevBuf<char> ws(wsBytes);
  rc::BeamSearchParams p;
  p.logits = dLogits.p, p.scores = dScores.p, p.batch = batch, p.width = W, p.vocab = V, p.topK = 50;
  p.firstStep = first, p.outScores = oScores.p, p.outParent = oParent.p, p.outToken = oToken.p;
  // one variant, three launches (the completion counters must reset), outputs poisoned before each; false when
  // it failed (a launch error is a failed check, and the other variants still run)
  auto check = [&](const rc::BeamSearchParams& q, const char* what) {
    const int failuresBefore = gFailures;
    CK(cudaMemset(ws.p, 0, wsBytes));
    for (int trial = 0; trial < 3; ++trial) {
      oScores.poison(), oParent.poison(), oToken.poison();
      const cudaError_t launched = rc::launchBeamSearchStep(q, ws.p, wsBytes, 0);
      if (launched != cudaSuccess) {
        expect(false, std::string(what) + ": launch failed: " + rc::lastLaunchError());
        cudaGetLastError();
        return false;
      }
      CK(cudaDeviceSynchronize());
      auto s = oScores.down();
      auto par = oParent.down();
      auto tok = oToken.down();
      for (size_t i = 0; i < s.size(); ++i) {
        const bool finite = std::isfinite(s[i]);
        expect(finite, std::string(what) + ": beam search score written");
        const float tol = 1e-4f + 1e-5f * std::abs(refScores[i]);
        expect(std::abs(s[i] - refScores[i]) <= tol, std::string(what) + ": beam search score " + std::to_string(s[i]) +
                                                          " vs " + std::to_string(refScores[i]));
        if (par[i] != refParent[i] || tok[i] != refToken[i]) {
          // only a near-tie may swap: the chosen pair's reference score must equal the reported one
          const size_t b = i / W;
          bool inRange = par[i] >= 0 && par[i] < W && tok[i] >= 0 && tok[i] < V;
          float alt = inRange ? scores[b * W + par[i]] + logProbs[(b * W + par[i]) * size_t(V) + tok[i]] : NAN;
          expect(inRange && std::abs(alt - refScores[i]) <= tol, std::string(what) + ": beam search (parent, token)");
        }
      }
    }
    return gFailures == failuresBefore;
  };
  const int before = gFailures;
  const rc::BeamSearchVariant autoPick = rc::beamSearchResolveVariant(p);
  if (autoPick == rc::BeamSearchVariant::kAuto) {  // e.g. vocab < topK before sm_90: no kernel serves it
    std::printf("  batch %d width %d vocab %d first %d: n/a on this device\n", batch, W, V, int(first));
    return true;
  }
  std::map<rc::BeamSearchVariant, bool> passed;  // the variants that serve this case, and whether they passed
  passed[autoPick] = check(p, "auto");
  std::string ran = std::string("auto = ") + rc::beamSearchVariantName(autoPick);
  for (auto v : kBeamVariants) {
    rc::BeamSearchParams q = p;
    q.variant = v;
    if (rc::beamSearchResolveVariant(q) != v) continue;  // this variant does not serve the shape / device
    if (v == autoPick) continue;                            // checked above
    passed[v] = check(q, rc::beamSearchVariantName(v));
    ran += std::string(", ") + rc::beamSearchVariantName(v) + (passed[v] ? "" : " FAILED");
  }
  const bool ok = gFailures == before;
  std::printf("  batch %d width %d vocab %d first %d quantum %g kind %d: %s (%s)\n", batch, W, V, int(first), quantum,
              kind, ok ? "ok" : "MISMATCH", ran.c_str());
  if (time && row) {
    auto timed = [&](const rc::BeamSearchParams& q) {
      rc::BeamSearchParams t = q;
      CK(cudaMemset(ws.p, 0, wsBytes));
      return timeUs(std::string("beam_search ") + rc::beamSearchVariantName(rc::beamSearchResolveVariant(q)) +
                        (q.tuneStopAfter ? " stop after " + std::to_string(q.tuneStopAfter) : ""),
                    [&](int i) {
        t.logits = dLogits.p + nl * (i % copies);
        rc::launchBeamSearchStep(t, ws.p, wsBytes, 0);
      });
    };
    row->us = passed[autoPick] ? timed(p) : NAN;
    DevBuf<float> sink(1);
    double readUs = timeUs("read the logits once", [&](int i) {
      readOnceKernel<<<gSmCount * 8, 256>>>(reinterpret_cast<const float4*>(dLogits.p + nl * (i % copies)), nl / 4, sink.p);
    });
    row->bytes = nl * 4.0;
    std::printf("    read the logits once                 %8.2f us\n", readUs);
    if (gSmMajor >= 9) {
      int blocksPerRow = 0;
      for (bool dense : {false, true})
        for (int minItems : {16, 32}) {  // kCluster, kClusterWide, kClusterDense, kClusterWideDense
          const int active = rc::detail::clusterMaxActive(p, minItems, dense, &blocksPerRow);
          const int perSm = dense ? (minItems == 16 ? rc::detail::kClusterDenseMinBlocks16 : rc::detail::kClusterDenseMinBlocks32)
                                  : (minItems == 16 ? 4 : 2);
          std::printf("    cluster kernel, >= %d logits/thread, built for %d blocks/SM: %d blocks of 256 threads per row, %d clusters resident at most, %d needed\n",
                      minItems, perSm, blocksPerRow, active, batch * (first ? 1 : W));
        }
    }
    std::printf("    variant %-30s %8.2f us  %5.2fx read-once\n", (std::string("auto: ") + rc::beamSearchVariantName(autoPick)).c_str(),
                row->us, row->us / readUs);
    for (auto v : kBeamVariants) {
      rc::BeamSearchParams q = p;
      q.variant = v;
      if (rc::beamSearchResolveVariant(q) != v) {
        std::printf("    variant %-30s      n/a (not on this device / shape)\n", rc::beamSearchVariantName(v));
        continue;
      }
      if (!passed[v]) {
        std::printf("    variant %-30s   FAILED its check: not timed\n", rc::beamSearchVariantName(v));
        continue;
      }
      const double us = timed(q);
      std::printf("    variant %-30s %8.2f us  %5.2fx read-once\n", rc::beamSearchVariantName(v), us, us / readUs);
      if (v != rc::BeamSearchVariant::kChunked && v != rc::BeamSearchVariant::kCluster &&
          v != rc::BeamSearchVariant::kClusterDense && v != rc::BeamSearchVariant::kClusterWideDense)
        continue;
      for (int stop = 1; stop <= 2; ++stop) {  // where the time goes: the launch cut short after each stage
        q.tuneStopAfter = stop;
        const double cut = timed(q);
        std::printf("      stopped after %-24s %8.2f us\n",
                    stop == 1 ? (v == rc::BeamSearchVariant::kChunked ? "the chunk selection" : "the candidates") : "the row merge", cut);
      }
    }
    CK(cudaMemset(ws.p, 0, wsBytes));  // a cut-short launch may leave a counter behind
    row->extra = row->us / readUs;
    row->extraLabel = "x read-once (" + std::to_string(int(readUs * 10) / 10.0).substr(0, 5) + " us)";
  }
  return ok;
}

void runBeamSearch() {
  std::printf("beam search step (every variant that serves a case is checked on it)\n");
  bool ok = true;
  ok &= beamCase(3, 8, 1000, false, false, nullptr);
  ok &= beamCase(4, 8, 32000, true, false, nullptr);
  ok &= beamCase(2, 8, 32001, false, false, nullptr);  // the scalar (unaligned rows) path
  ok &= beamCase(3, 8, 20, false, false, nullptr);     // vocab < topK: every logit kept (cluster kernels only)
  ok &= beamCase(2, 8, 8, true, false, nullptr);       // vocab == width, first step
  if (!gQuick) ok &= beamCase(2, 16, 128256, false, false, nullptr);
  if (!gQuick) ok &= beamCase(1, 4, 256000, false, false, nullptr);
  ok &= beamCase(2, 50, 4096, false, false, nullptr);
  ok &= beamCase(3, 8, 32000, false, false, nullptr, 0.25f);  // bf16-like ties
  ok &= beamCase(2, 8, 32000, true, false, nullptr, 4.f);     // the chunked kernel's radix-select fallback
  ok &= beamCase(2, 8, 32000, false, false, nullptr, 8.f);    // the cluster kernel's fallback (> 512 candidates)
  ok &= beamCase(2, 8, 32000, false, false, nullptr, 0.f, 1);  // -inf logits
  ok &= beamCase(2, 8, 32000, false, false, nullptr, 0.f, 2);  // top logits crowded into one block
  if (gQuick) return;
  Row row;
  row.name = "beam_search";
  row.shape = "batch 8, W 8, V 32000";
  ok &= beamCase(8, 8, 32000, false, true, &row);
  row.ok = ok;
  gRows.push_back(row);
}

// ---------------------------------------------------------------------------------------------------------
template <typename T>
T toT(float x);
template <>
__half toT<__half>(float x) { return __float2half(x); }
template <>
__nv_bfloat16 toT<__nv_bfloat16>(float x) { return __float2bfloat16(x); }
float toF(__half x) { return __half2float(x); }
float toF(__nv_bfloat16 x) { return __bfloat162float(x); }

struct AttnCase {
  const char* label;
  rc::DType dtype;
  int batch, W, L, alphabet, Hq, Hkv, D, past;
  bool paged;
  int blockSize;
  bool time;
};

// widePhase false: the automatic plan, checked, and (timed cases) its tuning variants. widePhase true: the
// wide-warp kernels (tree_attention_wide.cuh: tuneWide 1 = shared ninth row tile, 2 = a fifth warp), checked, and
// (timed cases) timed beside the automatic plan on the same inputs. A launch that fails counts as a failed check.
template <typename T>
bool attentionCase(const AttnCase& c, Row* row, bool widePhase = false) {
  // a real tree per sequence (build tree's CPU reference), varying context lengths
  auto beams = randomBeams(rng, c.batch, c.W, c.L, c.alphabet);
  auto tree = redrafter::buildTree(beams.data(), c.batch, c.W, c.L);
  const int T_ = tree.maxLength, words = (T_ + 31) / 32, D = c.D;
  std::vector<int32_t> mask(size_t(c.batch) * T_ * words, 0), past(c.batch), treeLen(tree.lengths);
  for (int b = 0; b < c.batch; ++b) {
    for (int i = 0; i < T_; ++i)
      for (int j = 0; j < T_; ++j)
        if (tree.mask[(size_t(b) * T_ + i) * T_ + j]) mask[(size_t(b) * T_ + i) * words + j / 32] |= int32_t(1u << (j % 32));
    past[b] = c.time ? c.past : int(std::uniform_int_distribution<int>(0, c.past)(rng));
  }
  const int maxPast = *std::max_element(past.begin(), past.end());
  const int capacity = maxPast + T_;
  std::normal_distribution<float> nd(0.f, 1.f);
  std::vector<T> q(size_t(c.batch) * T_ * c.Hq * D);
  for (auto& x : q) x = toT<T>(nd(rng));
  // logical contiguous cache [batch, Hkv, capacity, D] (the reference's layout)
  std::vector<T> k(size_t(c.batch) * c.Hkv * capacity * D), v(k.size());
  for (auto& x : k) x = toT<T>(nd(rng));
  for (auto& x : v) x = toT<T>(nd(rng));
  // paged copy: blocks in shuffled order
  const int bs = c.blockSize, blocksPerSeq = (capacity + bs - 1) / bs, numBlocks = c.batch * blocksPerSeq;
  std::vector<int32_t> table(size_t(c.batch) * blocksPerSeq);
  std::iota(table.begin(), table.end(), 0);
  std::shuffle(table.begin(), table.end(), rng);
  std::vector<T> kp, vp;
  if (c.paged) {
    kp.assign(size_t(numBlocks) * c.Hkv * bs * D, toT<T>(0.f));
    vp = kp;
    for (int b = 0; b < c.batch; ++b)
      for (int h = 0; h < c.Hkv; ++h)
        for (int p = 0; p < capacity; ++p) {
          size_t src = ((size_t(b) * c.Hkv + h) * capacity + p) * D;
          size_t dst = ((size_t(table[size_t(b) * blocksPerSeq + p / bs]) * c.Hkv + h) * bs + p % bs) * D;
          std::copy(k.begin() + src, k.begin() + src + D, kp.begin() + dst);
          std::copy(v.begin() + src, v.begin() + src + D, vp.begin() + dst);
        }
  }
  // reference, a thread per sequence
  std::vector<float> ref(q.size());
  {
    std::vector<std::thread> threads;
    for (int b = 0; b < c.batch; ++b)
      threads.emplace_back([&, b] {
        std::vector<float> qf(size_t(T_) * c.Hq * D), kf(size_t(c.Hkv) * capacity * D), vf(kf.size());
        for (size_t i = 0; i < qf.size(); ++i) qf[i] = toF(q[size_t(b) * qf.size() + i]);
        for (size_t i = 0; i < kf.size(); ++i) kf[i] = toF(k[size_t(b) * kf.size() + i]), vf[i] = toF(v[size_t(b) * kf.size() + i]);
        redrafter::TreeAttentionShape s{1, T_, c.Hq, c.Hkv, D, capacity, 1.f / std::sqrt(float(D))};
        redrafter::treeAttentionReference(s, qf.data(), kf.data(), vf.data(), &past[b], &treeLen[b],
                                          mask.data() + size_t(b) * T_ * words, ref.data() + size_t(b) * qf.size());
      });
    for (auto& th : threads) th.join();
  }
  DevBuf<T> dq(q.size()), dk(c.paged ? kp.size() : k.size()), dv(dk.n), dout(q.size());
  DevBuf<int32_t> dPast(c.batch), dTree(c.batch), dMask(mask.size()), dTable(table.size());
  dq.up(q);
  dk.up(c.paged ? kp : k);
  dv.up(c.paged ? vp : v);
  dPast.up(past), dTree.up(treeLen), dMask.up(mask), dTable.up(table);
  rc::TreeAttentionParams p;
  p.dtype = c.dtype, p.batch = c.batch, p.treeTokens = T_, p.qHeads = c.Hq, p.scale = 1.f / std::sqrt(float(D));
  p.q = dq.p, p.pastLengths = dPast.p, p.treeLengths = dTree.p, p.packedMask = dMask.p, p.maxPastLength = maxPast;
  p.out = dout.p;
  p.cache.layout = c.paged ? rc::KvLayout::kPaged : rc::KvLayout::kContiguous;
  p.cache.k = dk.p, p.cache.v = dv.p, p.cache.kvHeads = c.Hkv, p.cache.headDim = D, p.cache.capacity = capacity;
  p.cache.blockTable = dTable.p, p.cache.maxBlocksPerSeq = blocksPerSeq, p.cache.blockSize = bs, p.cache.numBlocks = numBlocks;
  const size_t wsBytes = rc::treeAttentionWorkspaceBytes(p, gSmCount);
  DevBuf<char> ws(wsBytes);
  const int before = gFailures;
  for (int wide = widePhase ? 1 : 0; wide < (widePhase ? 3 : 1); ++wide) {
    rc::TreeAttentionParams pc = p;
    pc.tuneWide = wide;
    const std::string label = std::string(c.label) + (wide ? (wide == 1 ? " [wide, shared tile]" : " [wide, 5 warps]") : "");
    const size_t cb = rc::treeAttentionWorkspaceBytes(pc, gSmCount);
    DevBuf<char> cws(cb);
    double errNum = 0, errDen = 0, maxAbs = 0;
    for (int trial = 0; trial < 2; ++trial) {
      dout.poison();
      CK(cudaMemset(cws.p, 0xff, cb));
      const cudaError_t le = rc::launchTreeAttention(pc, gSmCount, cws.p, cb, 0);
      if (le != cudaSuccess) {
        expect(false, label + ": launch failed: " + rc::lastLaunchError());
        break;
      }
      CK(cudaDeviceSynchronize());
      auto out = dout.down();
      errNum = errDen = maxAbs = 0;
      bool allFinite = true, padZero = true;
      for (int b = 0; b < c.batch; ++b)
        for (int t = 0; t < T_; ++t)
          for (int i = 0; i < c.Hq * D; ++i) {
            size_t o = (size_t(b) * T_ + t) * c.Hq * D + i;
            float g = toF(out[o]);
            if (!std::isfinite(g)) allFinite = false;
            if (t >= treeLen[b] && g != 0.f) padZero = false;
            double e = double(g) - ref[o];
            errNum += e * e, errDen += double(ref[o]) * ref[o], maxAbs = std::max(maxAbs, std::abs(e));
          }
      const double rel = std::sqrt(errNum / std::max(errDen, 1e-30));
      const double tol = c.dtype == rc::DType::F16 ? 2e-3 : 1e-2;
      expect(allFinite, label + ": every output element written and finite");
      expect(padZero, label + ": padding tokens zero");
      expect(rel < tol, label + ": relative error " + std::to_string(rel));
      if (trial == 0) std::printf("  %s: rel err %.2e, max abs err %.2e, T %d, splits workspace %.1f MB\n", label.c_str(), rel, maxAbs, T_, cb / 1e6);
    }
  }
  const bool ok = gFailures == before;
  if (c.time && (row || widePhase)) {
    double bytes = 0;
    for (int b = 0; b < c.batch; ++b) bytes += double(past[b] + treeLen[b]) * c.Hkv * D * sizeof(T) * 2;
    bytes += 2.0 * q.size() * sizeof(T) + mask.size() * 4;
    const double autoUs = timeUs(std::string(c.label) + " automatic plan", [&](int) { rc::launchTreeAttention(p, gSmCount, ws.p, wsBytes, 0); }, 10, 25);
    if (row) row->us = autoUs, row->bytes = bytes;
    if (widePhase)
      std::printf("    %-34s %8.2f us  %6.0f GB/s  %3.0f%% of copy\n", "automatic plan (same inputs)", autoUs,
                  bytes / (autoUs * 1e-6) / 1e9, 100.0 * bytes / (autoUs * 1e-6) / 1e9 / gCopyGBs);
    // tuning variants of the same launch (the check above covered the automatic plan; these are checked too)
    struct Variant { const char* name; int legacy, rpw, scale, stages, producers, wide; };
    const std::vector<Variant> mainVariants = {
        {"no producer warps", 0, 0, 0, 0, -1, 0}, {"3 producer warps", 0, 0, 0, 0, 3, 0},
        {"cp.async stages 3", 0, 0, 0, 3, 0, 0}, {"splits x2", 0, 0, 2, 0, 0, 0},
        {"legacy WMMA kernel", 1, 0, 0, 0, 0, 0}};
    const std::vector<Variant> wideVariants = {
        // 4 compute warps of 32 rows sharing the 9th row tile
        {"wide, shared tile", 0, 0, 0, 0, 0, 1}, {"wide, shared, no producers", 0, 0, 0, 0, -1, 1},
        {"wide, shared, stages 3", 0, 0, 0, 3, 0, 1}, {"wide, shared, splits x2", 0, 0, 2, 0, 0, 1},
        // ... or 5 compute warps, the fifth owning the 9th row tile alone
        {"wide, 5 warps", 0, 0, 0, 0, 0, 2}, {"wide, 5 warps, no producers", 0, 0, 0, 0, -1, 2}};
    for (auto& vt : widePhase ? wideVariants : mainVariants) {
      rc::TreeAttentionParams pv = p;
      pv.tuneLegacyWmma = vt.legacy, pv.tuneRowBlocksPerWarp = vt.rpw, pv.tuneSplitScale = vt.scale;
      pv.tuneStages = vt.stages, pv.tuneProducerWarps = vt.producers, pv.tuneWide = vt.wide;
      const size_t vb = rc::treeAttentionWorkspaceBytes(pv, gSmCount);
      DevBuf<char> vws(vb);
      dout.poison();
      const cudaError_t le = rc::launchTreeAttention(pv, gSmCount, vws.p, vb, 0);
      if (le != cudaSuccess) {
        expect(false, std::string(c.label) + " variant " + vt.name + ": launch failed: " + rc::lastLaunchError());
        std::printf("    variant %-26s launch failed: %s\n", vt.name, rc::lastLaunchError());
        continue;
      }
      CK(cudaDeviceSynchronize());
      auto out = dout.down();
      double num = 0, den = 0;
      for (size_t o = 0; o < out.size(); ++o) {
        double e = double(toF(out[o])) - ref[o];
        num += std::isfinite(e) ? e * e : 1e30, den += double(ref[o]) * ref[o];
      }
      const double rel = std::sqrt(num / den);
      expect(rel < (c.dtype == rc::DType::F16 ? 2e-3 : 1e-2), std::string(c.label) + " variant " + vt.name);
      double us = timeUs(std::string(c.label) + " variant " + vt.name, [&](int) { rc::launchTreeAttention(pv, gSmCount, vws.p, vb, 0); }, 10, 15);
      std::printf("    variant %-26s %8.2f us  %6.0f GB/s  rel err %.1e%s\n", vt.name, us, bytes / (us * 1e-6) / 1e9, rel,
                  widePhase ? (" " + std::to_string(int(100.0 * bytes / (us * 1e-6) / 1e9 / gCopyGBs + 0.5)) + "% of copy").c_str() : "");
    }
  }
  return ok;
}

const AttnCase kAttnCases[] = {
    {"fp16 D128 GQA4 contiguous ctx<=700", rc::DType::F16, 3, 8, 5, 3, 8, 2, 128, 700, false, 64, false},
    {"bf16 D64 GQA8 paged(bs 16) ctx<=1500, 264 rows", rc::DType::BF16, 2, 8, 5, 1000, 32, 4, 64, 1500, true, 16, false},
    {"bf16 D128 MHA paged(bs 64) ctx<=300", rc::DType::BF16, 4, 4, 4, 3, 4, 4, 128, 300, true, 64, false},
    {"fp16 D64 GQA2 contiguous ctx 0..40", rc::DType::F16, 5, 16, 6, 3, 4, 2, 64, 40, false, 64, false},
};
const AttnCase kAttn4k{"fp16 D128 GQA4 contiguous ctx 4096 (timed)", rc::DType::F16, 8, 8, 5, 1000, 32, 8, 128, 4096, false, 64, true};
const AttnCase kAttn32k{"bf16 D128 GQA4 paged ctx 32768 (timed)", rc::DType::BF16, 2, 8, 5, 1000, 32, 8, 128, 32768, true, 64, true};

bool attentionCaseAnyType(const AttnCase& c, Row* row, bool widePhase) {
  return c.dtype == rc::DType::F16 ? attentionCase<__half>(c, row, widePhase)
                                     : attentionCase<__nv_bfloat16>(c, row, widePhase);
}

void runTreeAttention() {
  std::printf("tree attention\n");
  bool ok = true;
  for (auto& c : kAttnCases) ok &= attentionCaseAnyType(c, nullptr, false);
  if (gQuick) return;
  Row r4;
  r4.name = "tree_attention_4k";
  r4.shape = "fp16, batch 8, Hq 32, Hkv 8, D 128, ctx 4096, T 33 (W8 L5 tree)";
  ok &= attentionCaseAnyType(kAttn4k, &r4, false);
  Row r32;
  r32.name = "tree_attention_32k_paged";
  r32.shape = "bf16, batch 2, Hq 32, Hkv 8, D 128, ctx 32768, T 33, paged bs 64";
  ok &= attentionCaseAnyType(kAttn32k, &r32, false);
  r4.ok = r32.ok = ok;
  gRows.push_back(r4);
  gRows.push_back(r32);
}

// The wide-warp attention kernels (candidates for the default, not yet the default), after the table so that a
// fault in them cannot cost the table: every attention case checked with both, the timed cases timed beside the
// automatic plan on the same inputs.
void runTreeAttentionWide() {
  std::printf("\ntree attention, wide-warp kernels (tree_attention_wide.cuh, TreeAttentionParams::tuneWide)\n");
  const int before = gFailures;
  for (auto& c : kAttnCases) attentionCaseAnyType(c, nullptr, true);
  if (!gQuick) {
    attentionCaseAnyType(kAttn4k, nullptr, true);
    attentionCaseAnyType(kAttn32k, nullptr, true);
  }
  std::printf("wide-warp kernels: %s (%d failed checks)\n", gFailures == before ? "all checks passed" : "FAILED",
              gFailures - before);
}

// ---------------------------------------------------------------------------------------------------------
void runAcceptCommit() {
  std::printf("accept + commit\n");
  bool ok = true;
  Row row;
  for (int variant = 0; variant < (gQuick ? 2 : 3); ++variant) {
    const bool paged = variant == 1, timed = variant == 2;
    const int batch = timed ? 64 : 9, W = 8, L = 5, layers = 2, Hkv = 8, D = 128, alphabet = 3;
    auto beams = randomBeams(rng, batch, W, L, alphabet);
    auto tree = redrafter::buildTree(beams.data(), batch, W, L);
    const int cap = W * L;
    // argmax: follow a random beam for a random number of steps, random elsewhere
    std::vector<int32_t> argmax(size_t(batch) * cap), past(batch);
    std::uniform_int_distribution<int> tok(0, alphabet - 1), pick(0, W - 1), depth(0, L - 1), ctx(0, 300);
    for (int b = 0; b < batch; ++b) {
      for (int i = 0; i < cap; ++i) argmax[size_t(b) * cap + i] = tok(rng);
      int w = pick(rng), n = depth(rng);
      const int32_t* un = tree.unpacker.data() + size_t(b) * W * L;
      for (int l = 0; l < n; ++l) argmax[size_t(b) * cap + un[w * L + l]] = beams[(size_t(b) * W + w) * L + l + 1];
      past[b] = ctx(rng);
    }
    // cache: logical [layers, batch, Hkv, capacity, D] fp16 bit patterns
    const int capacity = 300 + cap, bs = 32, bps = (capacity + bs - 1) / bs;
    std::vector<uint16_t> kc(size_t(layers) * batch * Hkv * capacity * D), vc(kc.size());
    std::uniform_int_distribution<int> bits(0, 0x7bff);
    for (auto& x : kc) x = uint16_t(bits(rng));
    for (auto& x : vc) x = uint16_t(bits(rng));
    std::vector<int32_t> table(size_t(batch) * bps);
    std::iota(table.begin(), table.end(), 0);
    std::shuffle(table.begin(), table.end(), rng);
    auto physical = [&](int layer, int b, int h, int p) -> size_t {
      if (!paged) return ((((size_t(layer) * batch + b) * Hkv + h) * capacity) + p) * D;
      return (((size_t(layer) * batch * bps + table[size_t(b) * bps + p / bs]) * Hkv + h) * bs + p % bs) * D;
    };
    const size_t physSize = paged ? size_t(layers) * batch * bps * Hkv * bs * D : kc.size();
    std::vector<uint16_t> kphys(physSize, 0), vphys(physSize, 0);
    for (int layer = 0; layer < layers; ++layer)
      for (int b = 0; b < batch; ++b)
        for (int h = 0; h < Hkv; ++h)
          for (int p = 0; p < capacity; ++p) {
            size_t lo = ((((size_t(layer) * batch + b) * Hkv + h) * capacity) + p) * D;
            std::copy(kc.begin() + lo, kc.begin() + lo + D, kphys.begin() + physical(layer, b, h, p));
            std::copy(vc.begin() + lo, vc.begin() + lo + D, vphys.begin() + physical(layer, b, h, p));
          }
    // references: verifyGreedy + kvCommitPlan applied in order
    std::vector<redrafter::Verification> ver(batch);
    std::vector<uint16_t> kwant = kphys, vwant = vphys;
    for (int b = 0; b < batch; ++b) {
      ver[b] = redrafter::verifyGreedy(beams.data() + size_t(b) * W * L, W, L, tree.unpacker.data() + size_t(b) * W * L,
                                       argmax.data() + size_t(b) * cap);
      auto plan = redrafter::kvCommitPlan(past[b], ver[b].acceptedPacked.data(), int(ver[b].acceptedPacked.size()));
      for (auto& m : plan.moves)
        for (int layer = 0; layer < layers; ++layer)
          for (int h = 0; h < Hkv; ++h) {
            std::copy_n(kwant.begin() + physical(layer, b, h, m.from), D, kwant.begin() + physical(layer, b, h, m.to));
            std::copy_n(vwant.begin() + physical(layer, b, h, m.from), D, vwant.begin() + physical(layer, b, h, m.to));
          }
    }
    // the unpacker as build tree writes it (stride W*L)
    DevBuf<int32_t> dBeams(beams.size()), dUn(tree.unpacker.size()), dArg(argmax.size()), dPast(batch), dBest(batch),
        dLen(batch), dNext(batch), dTok(size_t(batch) * (L - 1)), dPacked(size_t(batch) * L), dNew(batch), dTable(table.size());
    DevBuf<uint16_t> dk(physSize), dv(physSize);
    dBeams.up(beams), dUn.up(tree.unpacker), dArg.up(argmax), dPast.up(past), dTable.up(table), dk.up(kphys), dv.up(vphys);
    rc::AcceptCommitParams p;
    p.batch = batch, p.width = W, p.length = L, p.treeCapacity = cap;
    p.beams = dBeams.p, p.unpacker = dUn.p, p.argmax = dArg.p, p.pastLengths = dPast.p;
    p.bestBeam = dBest.p, p.acceptedLength = dLen.p, p.nextToken = dNext.p, p.acceptedTokens = dTok.p;
    p.acceptedPacked = dPacked.p, p.newLengths = dNew.p;
    p.cache.layout = paged ? rc::KvLayout::kPaged : rc::KvLayout::kContiguous;
    p.cache.k = dk.p, p.cache.v = dv.p, p.cache.kvHeads = Hkv, p.cache.headDim = D;
    p.cache.layerStride = paged ? int64_t(batch) * bps * Hkv * bs * D : int64_t(batch) * Hkv * capacity * D;
    p.cache.capacity = capacity, p.cache.blockTable = dTable.p, p.cache.maxBlocksPerSeq = bps, p.cache.blockSize = bs;
    p.layers = layers, p.elementBytes = 2;
    for (auto* d : {&dBest, &dLen, &dNext, &dTok, &dPacked, &dNew}) d->poison();
    const int before = gFailures;
    CK(rc::launchAcceptCommit(p, 0));
    CK(cudaDeviceSynchronize());
    auto best = dBest.down(), len = dLen.down(), next = dNext.down(), toks = dTok.down(), packed = dPacked.down(),
         nl = dNew.down();
    int acceptedTotal = 0;
    for (int b = 0; b < batch; ++b) {
      expect(best[b] == ver[b].beam, "accept best beam");
      expect(len[b] == ver[b].acceptedLength, "accept length");
      expect(next[b] == ver[b].nextToken, "accept next token");
      expect(nl[b] == past[b] + 1 + ver[b].acceptedLength, "accept new length");
      acceptedTotal += ver[b].acceptedLength;
      for (int k = 0; k < L; ++k)
        expect(packed[size_t(b) * L + k] == (k <= ver[b].acceptedLength ? ver[b].acceptedPacked[k] : -1), "accept packed path");
      for (int k = 0; k + 1 < L; ++k)
        expect(toks[size_t(b) * (L - 1) + k] == (k < ver[b].acceptedLength ? ver[b].acceptedTokens[k] : -1), "accept tokens");
    }
    auto kgot = dk.down(), vgot = dv.down();
    expect(kgot == kwant, "commit: every K element equals the reference plan applied");
    expect(vgot == vwant, "commit: every V element equals the reference plan applied");
    const bool good = gFailures == before;
    ok &= good;
    std::printf("  %s batch %d (accepted %d tokens in all): %s\n", paged ? "paged" : "contiguous", batch, acceptedTotal,
                good ? "ok" : "MISMATCH");
    if (timed) {
      row.us = timeUs("accept_commit batch 64", [&](int) { rc::launchAcceptCommit(p, 0); });
      row.bytes = 4.0 * batch * (2 * W * L + cap + 10) + 2.0 * acceptedTotal * layers * Hkv * D * 2 * 2;
    }
  }
  row.name = "accept_commit";
  row.shape = "batch 64, W 8, L 5, 2 layers x K,V x 8 heads x D128";
  row.ok = ok;
  gRows.push_back(row);
}

void loadTorchTimes() {
  const char* path = std::getenv("REDRAFTER_TORCH_TIMES");
  if (!path) return;
  std::ifstream in(path);
  std::string name;
  double us;
  while (in >> name >> us) gTorchUs[name] = us;
}

}  // namespace

int main() {
  int dev = 0;
  CK(cudaGetDevice(&dev));
  cudaDeviceProp prop;
  CK(cudaGetDeviceProperties(&prop, dev));
  gSmCount = prop.multiProcessorCount;
  gSmMajor = prop.major;
  uint64_t seed = std::chrono::high_resolution_clock::now().time_since_epoch().count();
  rng.seed(seed);
  gQuick = std::getenv("REDRAFTER_GPU_QUICK") != nullptr;
  gProfile = std::getenv("REDRAFTER_GPU_PROFILE") != nullptr;
  if (gProfile) std::printf("profile mode: the timed launches run once each, under Nsight Compute; no times below are measurements\n");
  std::printf("device: %s, sm_%d%d, %d SMs, L2 %d MB; seed %llu\n", prop.name, prop.major, prop.minor, gSmCount,
              prop.l2CacheSize >> 20, static_cast<unsigned long long>(seed));
  if (!gQuick) measureCopy();
  std::printf("device-to-device copy: %.0f GB/s (bytes read + written)\n", gCopyGBs);
  loadTorchTimes();
  runBuildTree();
  runBeamSearch();
  runTreeAttention();
  runAcceptCommit();

  if (gQuick) {
    runTreeAttentionWide();
    std::printf("\n%s (%d failed checks, quick mode)\n", gFailures ? "GPU CHECK FAILED" : "GPU CHECK PASSED", gFailures);
    return gFailures ? 1 : 0;
  }
  std::printf("\n| kernel | shape | check | time (us) | bytes moved | GB/s | %% of copy | other | PyTorch (us) | speed-up |\n");
  std::printf("|---|---|---|---|---|---|---|---|---|---|\n");
  for (auto& r : gRows) {
    auto it = gTorchUs.find(r.name);
    double gbs = r.bytes / (r.us * 1e-6) / 1e9;
    char extra[96] = "", torch[32] = "n/a", speed[32] = "n/a";
    if (r.extra >= 0) std::snprintf(extra, sizeof extra, "%.2f %s", r.extra, r.extraLabel.c_str());
    if (it != gTorchUs.end()) {
      std::snprintf(torch, sizeof torch, "%.1f", it->second);
      std::snprintf(speed, sizeof speed, "%.1fx", it->second / r.us);
    }
    std::printf("| %s | %s | %s | %.2f | %.2f MB | %.0f | %.0f%% | %s | %s | %s |\n", r.name.c_str(), r.shape.c_str(),
                r.ok ? "pass" : "FAIL", r.us, r.bytes / 1e6, gbs, 100.0 * gbs / gCopyGBs, extra, torch, speed);
  }
  std::printf("\n%s (%d failed checks)\n", gFailures ? "GPU CHECK FAILED" : "GPU CHECK PASSED", gFailures);
  std::fflush(stdout);
  runTreeAttentionWide();
  std::printf("\n%s (%d failed checks, wide-warp kernels included)\n", gFailures ? "GPU CHECK FAILED" : "GPU CHECK PASSED",
              gFailures);
  return gFailures ? 1 : 0;
}
