// The CUDA engine's host-side decisions (native/cuda/engine/engine_plan.h, cublas_library.h), without a
// GPU: which models it takes, how the weights are laid out and converted, the workspace and step-record layouts,
// the paged KV cache's bookkeeping, the step shapes and graph keys, and where cuBLAS is looked for.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "core/error.h"
#include "engine/cublas_library.h"
#include "build_tree.h"
#include "engine/engine_plan.h"
#include "engine/kernels.h"
#include "launch_error.h"
#include "model/dequantize.h"
#include "synthetic_model.h"
#include "temp_files.h"

namespace ce = redrafter::cuda::engine;
using redrafter::ErrorCode;

namespace {

redrafter::test::SyntheticShape headShape(int dim, int heads, int kvHeads) {
  redrafter::test::SyntheticShape s;
  s.dim = dim;
  s.nHeads = heads;
  s.nKvHeads = kvHeads;
  s.hiddenDim = 96;
  s.vocab = 40;
  s.nLayers = 2;
  return s;
}

template <typename F>
std::string errorOf(F f, ErrorCode* code = nullptr) {
  try {
    f();
  } catch (const redrafter::Error& e) {
    if (code) *code = e.code();
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("the cuda engine takes head sizes 64 and 128 and refuses others in one line naming the head size") {
  ce::ModelConfig c;
  c.dim = 256, c.hiddenDim = 64, c.nLayers = 1, c.nHeads = 4, c.nKvHeads = 2, c.vocabSize = 10;
  CHECK(ce::modelShapeError(c, "m.gguf") == "");  // 64
  c.nHeads = 2;
  CHECK(ce::modelShapeError(c, "m.gguf") == "");  // 128
  c.dim = 192, c.nHeads = 2;
  const std::string why = ce::modelShapeError(c, "m.gguf");
  CHECK(why.find("head size 96") != std::string::npos);
  CHECK(why.find("m.gguf") == 0);
  CHECK(why.find('\n') == std::string::npos);
  auto w = redrafter::test::syntheticModel(headShape(96, 3, 3), redrafter::DType::F32);  // head size 32
  ErrorCode code{};
  CHECK(errorOf([&] { ce::planModelWeights(*w); }, &code).find("head size 32") != std::string::npos);
  CHECK(code == ErrorCode::Unsupported);
}

TEST_CASE("weight plan: q/k/v and gate/up stacked, aligned, every row converted from its own file tensor") {
  using redrafter::DType;
  // the 4-6 bit types are dequantised at upload like Q8_0 (the K types need rows of whole 256-value blocks)
  for (DType type : {DType::F32, DType::F16, DType::Q8_0, DType::BF16, DType::Q4_0, DType::Q4_K, DType::Q6_K}) {
    CAPTURE(int(type));
    const bool k = type == DType::Q4_K || type == DType::Q6_K;
    redrafter::test::SyntheticShape shape = k ? headShape(256, 4, 2) : headShape(128, 2, 1);  // head 64, GQA 2
    if (k) shape.hiddenDim = 256;
    auto w = redrafter::test::syntheticModel(shape, type);
    const auto& c = w->config;
    ce::WeightPlan plan = ce::planModelWeights(*w);
    CHECK(plan.type == (type == DType::BF16 ? ce::ElemType::BF16 : ce::ElemType::F16));
    REQUIRE(plan.layers.size() == 2);
    const ce::DeviceTensor& qkv = plan.tensors[size_t(plan.layers[1].wqkv)];
    CHECK(qkv.rows == c.dim + 2 * c.kvDim());
    CHECK(qkv.cols == c.dim);
    REQUIRE(qkv.parts.size() == 3);
    CHECK(qkv.parts[1].name == "blk.1.attn_k");
    CHECK(qkv.parts[1].rowOffset == c.dim);
    CHECK(qkv.parts[2].rowOffset == c.dim + c.kvDim());
    const ce::DeviceTensor& w13 = plan.tensors[size_t(plan.layers[0].w13)];
    CHECK(w13.rows == 2 * c.hiddenDim);
    CHECK(w13.parts[1].name == "blk.0.ffn_up");
    CHECK(plan.tensors[size_t(plan.layers[0].w2)].cols == c.hiddenDim);
    CHECK_FALSE(plan.tensors[size_t(plan.layers[0].attnNorm)].matrix);
    CHECK(plan.tensors[size_t(plan.output)].aliasOf == -1);  // the synthetic model is untied

    // the arena: aligned, in order, without overlap
    size_t end = 0;
    for (const auto& t : plan.tensors) {
      CHECK(t.offset % ce::kArenaAlign == 0);
      CHECK(t.offset >= end);
      CHECK(t.bytes == size_t(t.rows * t.cols) * (t.matrix ? 2 : 4));
      end = t.offset + t.bytes;
    }
    CHECK(plan.totalBytes == end);

    // a row of attn_k (row 3 of the k part) converts from that tensor's own row 3
    std::vector<uint16_t> rows(size_t(qkv.cols) * 2);
    std::vector<float> scratch, expect(size_t(c.dim));
    ce::convertRows(qkv, plan.type, c.dim + 3, c.dim + 5, rows.data(), scratch);
    redrafter::model::dequantizeRow(w->layers[1].wk, 3, expect.data());
    for (int j = 0; j < c.dim; ++j) {
      const float got = plan.type == ce::ElemType::BF16 ? ce::bf16ToF32(rows[size_t(j)]) : ce::fp16ToF32(rows[size_t(j)]);
      const float want = plan.type == ce::ElemType::BF16 ? ce::bf16ToF32(ce::f32ToBf16(expect[size_t(j)]))
                                                         : ce::fp16ToF32(ce::f32ToFp16(expect[size_t(j)]));
      REQUIRE(got == want);
    }
    // a norm stays float32
    const ce::DeviceTensor& norm = plan.tensors[size_t(plan.finalNorm)];
    std::vector<float> normOut(size_t(c.dim));
    ce::convertRows(norm, plan.type, 0, 1, normOut.data(), scratch);
    CHECK(normOut[5] == static_cast<const float*>(w->finalNorm.data)[5]);
  }
}

TEST_CASE("weight plan: a tied classifier shares the embedding's memory; a wrong shape names its tensor") {
  auto w = std::const_pointer_cast<redrafter::model::ModelWeights>(
      redrafter::test::syntheticModel(headShape(128, 2, 2), redrafter::DType::F16));
  w->output = w->tokenEmbedding;
  ce::WeightPlan plan = ce::planModelWeights(*w);
  const ce::DeviceTensor& out = plan.tensors[size_t(plan.output)];
  CHECK(out.aliasOf == plan.embedding);
  CHECK(out.bytes == 0);
  w->layers[1].wv.rows = 7;
  ErrorCode code{};
  const std::string why = errorOf([&] { ce::planModelWeights(*w); }, &code);
  CHECK(code == ErrorCode::InvalidModel);
  CHECK(why.find("blk.1.attn_v has shape [7, 128], expected [128, 128]") != std::string::npos);
}

TEST_CASE("weight plan: the drafter's tensors follow the model's, input_proj only where the config has one") {
  auto w = redrafter::test::syntheticModel(headShape(128, 2, 2), redrafter::DType::F16);
  for (int exitDim : {256, 96}) {
    CAPTURE(exitDim);
    ce::DrafterConfig dc;
    dc.vocabSize = 40, dc.hiddenSize = 128, dc.exitDim = exitDim, dc.numDraftLayers = 2, dc.rnn = true;
    ce::DrafterWeights d = ce::DrafterWeights::zeros(dc);
    for (size_t i = 0; i < d.data.size(); ++i) d.data[i] = float(i % 17) * 0.25f;
    ce::WeightPlan plan = ce::planModelWeights(*w);
    const size_t modelBytes = plan.totalBytes;
    ce::planDrafterWeights(d, plan);
    CHECK(plan.totalBytes > modelBytes);
    CHECK((plan.inputProj >= 0) == (exitDim != 256));
    CHECK(plan.blockWeight.size() == 2);
    CHECK(plan.rnnW >= 0);
    const ce::DeviceTensor& head = plan.tensors[size_t(plan.lmHead)];
    CHECK(head.rows == 40);
    CHECK(head.cols == exitDim);
    CHECK(head.offset >= modelBytes);
    std::vector<uint16_t> row(static_cast<size_t>(exitDim));
    std::vector<float> scratch;
    ce::convertRows(head, plan.type, 2, 3, row.data(), scratch);
    const float* src = d.views().lmHead + 2 * exitDim;
    for (int j = 0; j < exitDim; ++j) REQUIRE(ce::fp16ToF32(row[size_t(j)]) == src[j]);  // quarters: exact in f16
  }
}

TEST_CASE("limits and workspaces: refused limits name their field; buffers are aligned and disjoint") {
  ce::EngineLimits l;
  l.capacity = 512;
  l.maxBeamWidth = 8, l.maxBeamLength = 8;
  CHECK(ce::limitsError(l) == "");
  CHECK(l.treeTokens() == 64);
  CHECK(l.maxRows() == 8 * 64);
  CHECK(l.maxBlocksPerSeq() == 8);
  ce::EngineLimits bad = l;
  bad.maxBeamWidth = 60;
  CHECK(ce::limitsError(bad) == "maxBeamWidth (60) must be in [0, 50]");
  bad = l;
  bad.maxBeamLength = 1;
  CHECK(ce::limitsError(bad).find("maxBeamLength (1)") == 0);
  bad = l;
  bad.maxBeamWidth = 40, bad.maxBeamLength = 40;
  CHECK(ce::limitsError(bad).find("maxBeamWidth * maxBeamLength (1600)") == 0);

  ce::ModelDims d;
  d.dim = 128, d.hidden = 96, d.layers = 2, d.heads = 2, d.kvHeads = 1, d.headDim = 64, d.vocab = 40;
  d.draftHidden = 128, d.exitDim = 256, d.draftVocab = 40;
  ce::Workspace w = ce::planWorkspace(d, l, 1000, 300);
  const std::vector<std::pair<size_t, size_t>> pieces = {  // (offset, bytes), in layout order
      {w.x, 512 * 128 * 4},     {w.xn, 512 * 128 * 2},  {w.qkv, 512 * 256 * 4},   {w.q, 512 * 128 * 2},
      {w.att, 512 * 128 * 2},   {w.h13, 512 * 192 * 4}, {w.g, 512 * 96 * 2},      {w.hidden, 512 * 128 * 4},
      {w.hidden16, 512 * 128 * 2}, {w.logits, 512 * 40 * 4}, {w.argmax, 512 * 4}, {w.tokens, 512 * 4},
      {w.positions, 512 * 4},   {w.treeLengths, 8 * 4}, {w.mask, 512 * 4 * 4},    {w.treeTokens, 512 * 4},
      {w.treeBeamIndex, 512 * 4}, {w.treeOffsets, 512 * 4}, {w.treeParents, 512 * 4}, {w.unpacker, 512 * 4},
      {w.slotHidden, 8 * 128 * 4}, {w.attention, 1000}, {w.dEmb, 64 * 128 * 2},  {w.dIn, 64 * 256 * 2},
      {w.dState, 2 * 64 * 128 * 4}, {w.dA, 64 * 128 * 4}, {w.dX, 64 * 256 * 4},  {w.dX16, 64 * 256 * 2},
      {w.dT, 64 * 256 * 4},     {w.dLogits, 64 * 40 * 4}, {w.dScores, 2 * 64 * 4}, {w.dParent, 64 * 4},
      {w.dToken, 64 * 4},       {w.dBeams, 2 * 64 * 8 * 4}, {w.beamSearch, 300}};
  size_t end = 0;
  for (const auto& [offset, bytes] : pieces) {
    CHECK(offset % ce::kArenaAlign == 0);
    CHECK(offset >= end);
    end = offset + bytes;
  }
  CHECK(w.total == end);
  // without a drafter: no drafter buffers
  d.draftHidden = 0;
  CHECK(ce::planWorkspace(d, l, 1000, 0).dEmb == 0);
}

TEST_CASE("step records: the input and output arrays of a step are disjoint and fit their counts") {
  ce::StepRecords r;
  r.batch = 4, r.maxBlocks = 10, r.maxLength = 8;
  CHECK(r.pastLengths() == 4);
  CHECK(r.blockTable() == 12);
  CHECK(r.inputInts() == 12 + 40);
  CHECK(r.acceptedTokens() == 16);
  CHECK(r.acceptedPacked() == 16 + 4 * 7);
  CHECK(r.outputInts() == 16 + 28 + 32);
  r.maxLength = 1;  // plain decoding: no drafted tokens, one packed index per sequence
  CHECK(r.outputInts() == 16 + 4 + 4);
}

TEST_CASE("KV pool: sized for two sessions per request at full capacity, capped by free memory; too little is OOM") {
  ce::ModelDims d;
  d.layers = 2, d.kvHeads = 2, d.headDim = 64;
  ce::EngineLimits l;
  l.capacity = 1000, l.blockSize = 64, l.maxBatch = 4;
  const size_t perBlock = 2 * 2 * 2 * 64 * 64 * 2;
  ce::KvPoolPlan p = ce::planKvPool(d, l, 0, size_t(1) << 34);
  CHECK(p.bytesPerBlock == perBlock);
  CHECK(p.maxBlocksPerSeq == 16);
  CHECK(p.numBlocks == 2 * 4 * 16);
  CHECK(p.totalBytes == size_t(p.numBlocks) * perBlock);
  p = ce::planKvPool(d, l, 0, 40 * perBlock);  // 90% of 40 blocks
  CHECK(p.numBlocks == 36);
  CHECK(ce::planKvPool(d, l, 20, size_t(1) << 34).numBlocks == 20);
  ErrorCode code{};
  const std::string why = errorOf([&] { ce::planKvPool(d, l, 0, 10 * perBlock); }, &code);
  CHECK(code == ErrorCode::OutOfMemory);
  CHECK(why.find(std::to_string(16 * perBlock) + " bytes") != std::string::npos);
  CHECK(why.find(std::to_string(10 * perBlock) + " bytes are free") != std::string::npos);
}

TEST_CASE("KV blocks: sessions grow by blocks, idle ones are evicted least recently used first, pinned never") {
  ce::KvBlockManager m(6, 16, 4);
  std::vector<uint64_t> evicted;
  CHECK(m.reserve(1, 20, {1}, evicted));  // 2 blocks
  CHECK(m.heldBlocks(1) == 2);
  CHECK(m.reserve(2, 32, {2}, evicted));  // 2 blocks
  CHECK(m.reserve(3, 16, {3}, evicted));  // 1 block
  CHECK(m.freeBlocks() == 1);
  CHECK(m.reserve(1, 10, {1}, evicted));  // never shrinks
  CHECK(m.heldBlocks(1) == 2);
  int32_t row[4];
  m.writeBlockTable(1, row);
  CHECK(row[0] == 0);
  CHECK(row[1] == 1);
  CHECK(row[2] == 0);
  CHECK_FALSE(m.reserve(4, 80, {4}, evicted));  // more than maxBlocksPerSeq * blockSize
  // session 4 needs 3 blocks: 1 free + the least recently used idle session (2: 1 and 3 were used later)
  CHECK(m.reserve(4, 48, {4, 1}, evicted));
  CHECK(evicted == std::vector<uint64_t>{2});
  CHECK(m.heldBlocks(2) == 0);
  CHECK(m.freeBlocks() == 0);
  // everything left is pinned: nothing changes for the asking session
  evicted.clear();
  CHECK_FALSE(m.reserve(5, 16, {1, 3, 4, 5}, evicted));
  CHECK(evicted.empty());
  CHECK(m.heldBlocks(5) == 0);
  m.release(4);
  CHECK(m.freeBlocks() == 3);
  std::set<int32_t> seen;
  for (uint64_t s : {1, 3}) {
    m.writeBlockTable(s, row);
    for (int i = 0; i < m.heldBlocks(s); ++i) CHECK(seen.insert(row[i]).second);  // no block held twice
  }
}

TEST_CASE("step shapes follow the CPU engine: no longer than the tokens wanted and the free slots allow") {
  ce::StepShape s = ce::chooseStepShape(4, 5, 100, 10, 1000);
  CHECK(s.drafted);
  CHECK(s.width == 4);
  CHECK(s.length == 5);
  CHECK(s.treeSlots() == 1 + 4 * 4);
  CHECK(ce::chooseStepShape(4, 5, 3, 10, 1000).length == 3);    // 3 tokens wanted
  CHECK(ce::chooseStepShape(4, 5, 100, 990, 1000).length == 3);  // 9 free slots: 1 + 4 * 2
  s = ce::chooseStepShape(4, 5, 1, 10, 1000);                     // one token left: a plain step
  CHECK_FALSE(s.drafted);
  CHECK(s.width == 1);
  CHECK(s.length == 1);
  CHECK(s.treeSlots() == 1);
  CHECK_FALSE(ce::chooseStepShape(0, 0, 100, 10, 1000).drafted);  // no drafting asked
  CHECK_FALSE(ce::chooseStepShape(4, 5, 100, 998, 1000).drafted);
}

TEST_CASE("graph keys: past lengths share power-of-two buckets; the cache captures on the second sight") {
  CHECK(ce::pastBucket(0, 2048) == 256);
  CHECK(ce::pastBucket(256, 2048) == 256);
  CHECK(ce::pastBucket(257, 2048) == 512);
  CHECK(ce::pastBucket(1500, 2048) == 2048);
  CHECK(ce::pastBucket(1500, 1600) == 1600);  // never past the capacity
  CHECK(ce::pastBucket(100, 128) == 128);
  ce::GraphKey a{4, 2, 5, 512, true}, b{4, 2, 5, 1024, true}, c{4, 1, 1, 512, false};
  CHECK(a < b);
  CHECK_FALSE(a == b);
  CHECK(a == ce::GraphKey{4, 2, 5, 512, true});
  CHECK(a.describe() == "batch 4, beams 2x5, past <= 512");
  CHECK(c.describe() == "batch 4, plain, past <= 512");
  ce::CaptureCounter counter;
  CHECK_FALSE(counter.shouldCapture(a));
  CHECK(counter.shouldCapture(a));
  CHECK(counter.shouldCapture(a));  // again after an eviction
  CHECK_FALSE(counter.shouldCapture(b));

  ce::LruMap<ce::GraphKey, int> lru(2);
  CHECK(lru.put(a, 1).empty());
  CHECK(lru.put(b, 2).empty());
  REQUIRE(lru.find(a));  // a is now the most recent
  const std::vector<int> out = lru.put(c, 3);
  CHECK(out == std::vector<int>{2});
  CHECK(lru.find(b) == nullptr);
  CHECK(*lru.find(c) == 3);
  CHECK(lru.put(c, 4) == std::vector<int>{3});  // replacing hands back the old value
  CHECK(lru.clear().size() == 2);
  CHECK(lru.size() == 0);
}

TEST_CASE("cuBLAS is looked for in the user's path, the toolkits, the wheels, then by the loader; no duplicates") {
  ce::CublasSearch s;
  s.soname = "libcublas.so.13";
  s.userPath = "/opt/blas";
  s.toolkitDirs = {"/usr/local/cuda/lib64", "/opt/cuda/lib64/"};
  s.wheelDirs = {"/venv/lib/python3.12/site-packages/nvidia/cu13/lib", "/usr/local/cuda/lib64"};
  const std::vector<std::string> want = {"/opt/blas/libcublas.so.13", "/usr/local/cuda/lib64/libcublas.so.13",
                                         "/opt/cuda/lib64/libcublas.so.13",
                                         "/venv/lib/python3.12/site-packages/nvidia/cu13/lib/libcublas.so.13",
                                         "libcublas.so.13"};
  CHECK(ce::cublasCandidates(s) == want);
  s.userPath = "/opt/blas/libcublas.so.13.1";  // a file is tried as it is
  CHECK(ce::cublasCandidates(s).front() == "/opt/blas/libcublas.so.13.1");
  s.userPath.clear();
  CHECK(ce::cublasCandidates(s).front() == "/usr/local/cuda/lib64/libcublas.so.13");
  CHECK(ce::cublasCandidates(s).back() == "libcublas.so.13");
}

TEST_CASE("cuBLAS search from the environment: REDRAFTER_CUBLAS_PATH first, /usr/local/cuda among the toolkits") {
  setenv("REDRAFTER_CUBLAS_PATH", "/nowhere/cublas", 1);
  ce::CublasSearch s = ce::cublasSearchFromEnvironment();
  unsetenv("REDRAFTER_CUBLAS_PATH");
  CHECK(s.userPath == "/nowhere/cublas");
  CHECK(s.soname.rfind("libcublas.so.", 0) == 0);
  CHECK(std::find(s.toolkitDirs.begin(), s.toolkitDirs.end(), "/usr/local/cuda/lib64") != s.toolkitDirs.end());
  CHECK(ce::cublasCandidates(s).front() == "/nowhere/cublas/" + s.soname);
}

TEST_CASE("a failed engine launch names itself and the CUDA error, never an earlier launcher's message") {
  // the text the engine throws: the launcher's own record where there is one, else the CUDA error
  CHECK(ce::launchFailureMessage("rms norm", cudaErrorInvalidConfiguration, "") ==
        "rms norm: cudaErrorInvalidConfiguration (" + std::string(cudaGetErrorString(cudaErrorInvalidConfiguration)) +
            ")");
  const std::string refusal = "BuildTreeParams.batch (0) must be positive";
  CHECK(ce::launchFailureMessage("launchBuildTree", cudaErrorInvalidValue, refusal) == "launchBuildTree: " + refusal);
  // a ReDrafter launcher's refusal leaves its sentence; the engine's next launch replaces it with its own outcome
  redrafter::cuda::BuildTreeParams bad;
  CHECK(redrafter::cuda::launchBuildTree(bad, nullptr) == cudaErrorInvalidValue);
  CHECK(std::string(redrafter::cuda::lastLaunchError()).find("BuildTreeParams.batch") == 0);
  // zero rows: an invalid launch on a GPU, and no launch at all without one; either way it fails and says so
  const cudaError_t err = ce::launchArgmaxRows(nullptr, 0, 40, nullptr, nullptr);
  CHECK(err != cudaSuccess);
  CHECK(std::string(redrafter::cuda::lastLaunchError()).find("launchArgmaxRows: ") == 0);
  cudaGetLastError();
}

TEST_CASE("tree attention's workspace is sized over every shape a step or a prefill launches it with") {
  for (int32_t capacity : {100, 256, 300, 512, 2048, 3000}) {
    CAPTURE(capacity);
    const std::vector<int32_t> buckets = ce::pastBuckets(capacity);
    CHECK(std::is_sorted(buckets.begin(), buckets.end()));
    CHECK(buckets.back() == capacity);
    for (int32_t past = 0; past <= capacity; ++past)
      CHECK(std::binary_search(buckets.begin(), buckets.end(), ce::pastBucket(past, capacity)));
  }
  CHECK(ce::pastBuckets(2048) == std::vector<int32_t>{256, 512, 1024, 2048});
  CHECK(ce::pastBuckets(3000) == std::vector<int32_t>{256, 512, 1024, 2048, 3000});

  ce::EngineLimits l;
  l.capacity = 600, l.maxBatch = 3, l.maxBeamWidth = 3, l.maxBeamLength = 4, l.prefillChunk = 20;
  const std::vector<ce::AttentionShape> shapes = ce::attentionShapes(l);
  auto has = [&](int32_t batch, int32_t tree, int32_t bucket) {
    return std::binary_search(shapes.begin(), shapes.end(), ce::AttentionShape{batch, tree, bucket});
  };
  // every step the backend can take: a group of b requests sharing the shape chooseStepShape gives them
  int steps = 0;
  for (int32_t width = 0; width <= l.maxBeamWidth; ++width)
    for (int32_t length = 2; length <= l.maxBeamLength; ++length)
      for (int32_t remaining : {1, 2, 3, 100})
        for (int32_t cached = 1; cached < l.capacity; cached += 7) {
          const ce::StepShape s = ce::chooseStepShape(width, length, remaining, cached, l.capacity);
          const int32_t tree = s.drafted ? s.width * s.length : 1;
          for (int32_t b = 1; b <= l.maxBatch; ++b, ++steps)
            REQUIRE(has(b, tree, ce::pastBucket(cached, l.capacity)));
        }
  CHECK(steps > 1000);
  // every prefill chunk: one sequence, up to prefillChunk tokens after any cached prefix
  for (int32_t cached = 0; cached < l.capacity; cached += 5)
    for (int32_t n = 1; n <= std::min(l.prefillChunk, l.capacity - cached); ++n)
      REQUIRE(has(1, n, ce::pastBucket(cached, l.capacity)));
  // and nothing the engine never launches (a prefill-sized tree for several sequences)
  CHECK_FALSE(has(2, 20, 256));
}
