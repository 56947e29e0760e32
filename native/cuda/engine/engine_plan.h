// The CUDA engine's host-side decisions, separate from the device so that CI tests them without a GPU
// (test/cpp/cuda/cuda_engine_plan_test.cpp): which model files it runs (head sizes), how the weights are laid out on
// the device (weight plan), how big every workspace is (workspace plan, sized once for the largest step, so the hot
// path never allocates), the paged KV cache's block bookkeeping, the shape of each decoding step and the key under
// which its CUDA graph is cached.
#pragma once
#include <cstddef>
#include <cstdint>
#include <list>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "engine/host_model.h"

namespace redrafter::cuda::engine {

// The device type of the matrices and of the activations the GEMMs read: f16, or bf16 where the file's matrices
// are bf16. Norm vectors, biases, the residual stream, logits and final hidden states are float32.
enum class ElemType : int { F16 = 0, BF16 = 1 };
const char* elemTypeName(ElemType type);

// "" when the CUDA engine runs a model of this shape, else the one-line refusal naming the head size (the tree
// attention kernel has head sizes 64 and 128 only) or the other shape problem; `path` names the model.
std::string modelShapeError(const ModelConfig& config, const std::string& path);

// ---- weights on the device ------------------------------------------------------------------------------------
// One tensor of the weight arena. Matrices are row-major [rows = out, cols = in] of ElemType, possibly several file
// tensors stacked by rows (q, k, v -> one [dim + 2 kvDim, dim] matrix; gate, up -> one [2 hidden, dim] matrix) so one
// GEMM computes them; vectors (norms, biases) are float32 [cols].
struct UploadPart {
  std::string name;          // the file tensor, e.g. "blk.0.attn_k"
  TensorView source;         // any file type: F32, F16, BF16, Q8_0 (dequantised at load), Q8_G_F32
  int64_t rowOffset = 0;     // first row of the device tensor it fills
};
struct DeviceTensor {
  std::string name;  // e.g. "blk.0.attn_qkv"
  int64_t rows = 0, cols = 0;
  bool matrix = true;
  size_t offset = 0, bytes = 0;  // in the arena (offset aligned to kArenaAlign); an alias has bytes 0
  int aliasOf = -1;              // the tensor whose memory this one shares (a tied classifier), else -1
  std::vector<UploadPart> parts;
};
constexpr size_t kArenaAlign = 256;

struct WeightPlan {
  ElemType type = ElemType::F16;
  std::vector<DeviceTensor> tensors;
  size_t totalBytes = 0;
  struct Layer {
    int attnNorm = -1, wqkv = -1, wo = -1, ffnNorm = -1, w13 = -1, w2 = -1;
  };
  int embedding = -1, output = -1, finalNorm = -1;  // indices into tensors
  std::vector<Layer> layers;
  // the drafter (planDrafterWeights); -1 where the config has none
  int inputProj = -1, inputProjBias = -1, lmHead = -1, rnnW = -1, rnnU = -1, rnnUBias = -1;
  std::vector<int> blockWeight, blockBias;
};

// The LLM's tensors: token_embd [vocab, dim], per layer attn_norm [dim] f32, attn_qkv [dim + 2 kvDim, dim],
// attn_output [dim, dim], ffn_norm [dim] f32, ffn_gate_up [2 hidden, dim] (gate rows first), ffn_down [dim, hidden];
// output_norm [dim] f32, output [vocab, dim] (an alias of token_embd when the file ties them). Throws InvalidModel
// naming the tensor when a shape disagrees with the config, Unsupported for a layout the engine cannot read.
WeightPlan planModelWeights(const ModelWeights& weights);

// The drafter's tensors appended to `plan` (type plan.type, offsets after the LLM's): input_proj [exitDim, 2 hidden]
// + bias [exitDim] (when the config has it), per block lm_head.i.linear [exitDim, exitDim] + bias, lm_head.N
// [vocab, exitDim], rnn_w, rnn_u [hidden, hidden] + rnn_u bias [hidden] (when rnn). The views point into `drafter`,
// which must outlive the upload.
void planDrafterWeights(const DrafterWeights& drafter, WeightPlan& plan);

// Rows [r0, r1) of device tensor `t` in its device form: `type` elements for a matrix, float32 for a vector
// (out: (r1 - r0) * cols elements). scratch: one row of float32.
void convertRows(const DeviceTensor& t, ElemType type, int64_t r0, int64_t r1, void* out, std::vector<float>& scratch);

// ---- sizes and limits -------------------------------------------------------------------------------------------
struct ModelDims {
  int32_t dim = 0, hidden = 0, layers = 0, heads = 0, kvHeads = 0, headDim = 0, vocab = 0;
  int32_t draftHidden = 0, exitDim = 0, draftVocab = 0;  // 0 without a drafter
  bool draftInputProj = false, draftRnn = false;
  int32_t kvDim() const { return kvHeads * headDim; }
  static ModelDims of(const ModelConfig& c);
};

struct EngineLimits {
  int32_t maxBatch = 8;        // requests stepped together (maxActiveRequests)
  int32_t maxBeamWidth = 0;    // 0 without a drafter
  int32_t maxBeamLength = 0;   // tokens per beam, the LLM's own included
  int32_t prefillChunk = 128;  // prompt tokens per prefill forward
  int32_t capacity = 0;        // KV slots per session
  int32_t blockSize = 64;      // KV slots per paged block
  // Tokens of the largest verification tree, padded as the step lays it out: [batch, width * length].
  int32_t treeTokens() const { return maxBeamWidth > 0 ? maxBeamWidth * maxBeamLength : 1; }
  int32_t maxBlocksPerSeq() const { return (capacity + blockSize - 1) / blockSize; }
  // Rows of the largest forward: a whole step's trees, or one prefill chunk.
  int32_t maxRows() const;
};
// "" or the field and rule these limits break (e.g. "maxBeamWidth (60) must be at most 50").
std::string limitsError(const EngineLimits& limits);
// The most drafter tokens per beam search step: Apple's top-k warp (the beam search keeps width <= topK).
constexpr int32_t kDraftTopK = 50;

// Bump allocation of one device buffer (each piece aligned to kArenaAlign).
class ArenaLayout {
 public:
  size_t add(size_t bytes);
  size_t total() const { return total_; }

 private:
  size_t total_ = 0;
};

// Offsets (bytes) of every buffer of the step workspace, one device allocation sized for EngineLimits. R = maxRows,
// Rl = rows whose logits a step keeps (maxBatch * treeTokens), B = maxBatch, Tm = treeTokens, Wm/Lm the beam limits,
// Rd = B * Wm drafter rows, words = ceil(max(Tm, prefillChunk) / 32).
struct Workspace {
  size_t x = 0;          // f32 [R, dim] residual stream
  size_t xn = 0;         // T [R, dim] normed input of a GEMM
  size_t qkv = 0;        // f32 [R, dim + 2 kvDim]
  size_t q = 0;          // T [R, dim] roped queries
  size_t att = 0;        // T [R, dim] attention output
  size_t h13 = 0;        // f32 [R, 2 hidden] gate then up
  size_t g = 0;          // T [R, hidden] silu(gate) * up
  size_t hidden = 0;     // f32 [R, dim] final normed hidden states
  size_t hidden16 = 0;   // T [R, dim]
  size_t logits = 0;     // f32 [Rl, vocab]
  size_t argmax = 0;     // i32 [Rl]
  size_t tokens = 0;     // i32 [R] (a prefill's tokens; a step's tree tokens are the tree's)
  size_t positions = 0;  // i32 [R]
  size_t treeLengths = 0;  // i32 [B]
  size_t mask = 0;       // i32 [max(B * Tm, prefillChunk) * words] packed attention masks
  size_t treeTokens = 0, treeBeamIndex = 0, treeOffsets = 0, treeParents = 0;  // i32 [B, Tm] (build tree)
  size_t unpacker = 0;   // i32 [B, Wm, Lm]
  size_t slotHidden = 0;  // f32 [B, dim] each active request's hidden state at its last cached token
  size_t attention = 0;  // tree attention's split workspace (bytes given)
  // drafter (0 without one)
  size_t dEmb = 0;       // T [Rd, draftHidden] embeddings of the beams' last tokens
  size_t dIn = 0;        // T [Rd, 2 draftHidden] concat[h, s]
  size_t dState = 0;     // f32 [2][Rd, draftHidden] recurrent state, ping-pong by step
  size_t dA = 0;         // f32 [Rd, draftHidden]
  size_t dX = 0;         // f32 [Rd, exitDim]
  size_t dX16 = 0;       // T [Rd, exitDim]
  size_t dT = 0;         // f32 [Rd, exitDim]
  size_t dLogits = 0;    // f32 [Rd, draftVocab]
  size_t dScores = 0;    // f32 [2][Rd]
  size_t dParent = 0, dToken = 0;  // i32 [Rd]
  size_t dBeams = 0;     // i32 [2][Rd, Lm]
  size_t beamSearch = 0;  // beam search workspace (bytes given; zeroed once)
  size_t total = 0;
};
Workspace planWorkspace(const ModelDims& dims, const EngineLimits& limits, size_t attentionBytes,
                        size_t beamSearchBytes);

// The per-step host <-> device records, int32 each, one copy each way per step (pinned on the host):
// StepInput  [lastTokens B][pastLengths B][slots B][blockTable B * maxBlocksPerSeq]
// StepOutput [acceptedLength B][nextToken B][bestBeam B][newLengths B][acceptedTokens B * (Lm - 1)]
//            [acceptedPacked B * Lm]   (Lm: max(maxBeamLength, 1))
struct StepRecords {
  int32_t batch = 0, maxBlocks = 0, maxLength = 1;
  size_t lastTokens() const { return 0; }
  size_t pastLengths() const { return size_t(batch); }
  size_t slots() const { return 2 * size_t(batch); }
  size_t blockTable() const { return 3 * size_t(batch); }
  size_t inputInts() const { return 3 * size_t(batch) + size_t(batch) * maxBlocks; }
  size_t acceptedLength() const { return 0; }
  size_t nextToken() const { return size_t(batch); }
  size_t bestBeam() const { return 2 * size_t(batch); }
  size_t newLengths() const { return 3 * size_t(batch); }
  size_t acceptedTokens() const { return 4 * size_t(batch); }
  size_t acceptedPacked() const { return acceptedTokens() + size_t(batch) * (maxLength > 1 ? maxLength - 1 : 1); }
  size_t outputInts() const { return acceptedPacked() + size_t(batch) * maxLength; }
};

// ---- the paged KV cache -------------------------------------------------------------------------------------------
// Device bytes of the KV pools: k and v, [layers, numBlocks, kvHeads, blockSize, headDim] each, elements of 2 bytes.
struct KvPoolPlan {
  int32_t blockSize = 0, numBlocks = 0, maxBlocksPerSeq = 0;
  size_t bytesPerBlock = 0;  // every layer, k and v
  size_t totalBytes = 0;
};
// numBlocks: `requestedBlocks` when > 0, else room for 2 * maxBatch sessions at full capacity (idle sessions keep
// their caches while others run), at most 90% of `freeBytes`. Throws OutOfMemory naming the bytes asked and free
// when not even one session at full capacity fits.
KvPoolPlan planKvPool(const ModelDims& dims, const EngineLimits& limits, int64_t requestedBlocks, size_t freeBytes);

// Which pool blocks each session's cache holds. A session keeps its blocks between requests (prompt reuse) until it
// is released or, when the pool runs short, evicted: idle sessions (not pinned: no request in flight) least recently
// used first. Slot s of a session lives in block blocks[s / blockSize] at row s % blockSize.
class KvBlockManager {
 public:
  KvBlockManager(int32_t numBlocks, int32_t blockSize, int32_t maxBlocksPerSeq);
  int32_t blockSize() const { return blockSize_; }
  int32_t freeBlocks() const { return int32_t(free_.size()); }
  int32_t numBlocks() const { return numBlocks_; }
  // Makes `session` hold blocks for `slots` slots (never fewer than it has), evicting idle sessions when needed; the
  // evicted ones are appended to `evicted` (their caches are gone). False, with nothing changed for `session`, when
  // even that cannot make room (or slots exceed maxBlocksPerSeq * blockSize).
  bool reserve(uint64_t session, int32_t slots, const std::set<uint64_t>& pinned, std::vector<uint64_t>& evicted);
  void release(uint64_t session);
  int32_t heldBlocks(uint64_t session) const;
  // Row [maxBlocksPerSeq] of the block table: the session's blocks, then 0 (never read: beyond its slots).
  void writeBlockTable(uint64_t session, int32_t* row) const;

 private:
  int32_t numBlocks_, blockSize_, maxBlocksPerSeq_;
  std::vector<int32_t> free_;  // a stack: the lowest block ids are handed out first
  std::map<uint64_t, std::vector<int32_t>> held_;
  std::map<uint64_t, uint64_t> lastUse_;
  uint64_t clock_ = 0;
};

// ---- steps and their CUDA graphs -----------------------------------------------------------------------------------
// The beam shape of one request's step, as the CPU engine chooses it: the session's width and length, no longer
// than the tokens still wanted and the cache's free slots allow; drafted = false (a plain step: width = length = 1)
// when fewer than 2 tokens per beam remain or there is no drafting.
struct StepShape {
  int32_t width = 1, length = 1;
  bool drafted = false;
  // Slots the step's tree may occupy after the cached ones: 1 + width * (length - 1) (the beams share the root).
  int32_t treeSlots() const { return drafted ? 1 + width * (length - 1) : 1; }
};
StepShape chooseStepShape(int32_t width, int32_t length, int32_t remainingTokens, int32_t cached, int32_t capacity);

// The bound on cached tokens that a step's attention is planned for: the next power of two >= max(maxPast, 256),
// at most `capacity` (shapes under one bucket share a graph; the kernel reads the true lengths on the device).
int32_t pastBucket(int32_t maxPast, int32_t capacity);

// Every bucket pastBucket gives for a cached length in [0, capacity], ascending.
std::vector<int32_t> pastBuckets(int32_t capacity);

// The shapes the engine launches tree attention with, for sizing its workspace once: a step's group (batch 1 ..
// maxBatch; a plain tree of 1 token or a drafted one of width * length tokens, width <= maxBeamWidth, 2 <= length <=
// maxBeamLength) and a prefill chunk (batch 1, 1 .. prefillChunk tokens), each at every past bucket.
struct AttentionShape {
  int32_t batch = 0, treeTokens = 0, pastBucket = 0;
  bool operator<(const AttentionShape& o) const;
};
std::vector<AttentionShape> attentionShapes(const EngineLimits& limits);

// One captured step: the requests in flight (batch), their beam shape and the attention's past bucket. Greedy
// steps only (sampling steps stop on the host between device work and are launched directly).
struct GraphKey {
  int32_t batch = 0, width = 1, length = 1, pastBucket = 0;
  bool drafted = false;
  bool operator<(const GraphKey& o) const;
  bool operator==(const GraphKey& o) const { return !(*this < o) && !(o < *this); }
  std::string describe() const;
};

// A least-recently-used map of at most `capacity` entries: put returns the evicted values (to destroy).
template <typename K, typename V>
class LruMap {
 public:
  explicit LruMap(size_t capacity) : capacity_(capacity) {}
  V* find(const K& key) {
    auto it = map_.find(key);
    if (it == map_.end()) return nullptr;
    order_.splice(order_.begin(), order_, it->second.second);
    return &it->second.first;
  }
  std::vector<V> put(const K& key, V value) {
    std::vector<V> evicted;
    auto it = map_.find(key);
    if (it != map_.end()) {
      evicted.push_back(std::move(it->second.first));
      it->second.first = std::move(value);
      order_.splice(order_.begin(), order_, it->second.second);
      return evicted;
    }
    order_.push_front(key);
    map_.emplace(key, std::make_pair(std::move(value), order_.begin()));
    while (map_.size() > capacity_) {
      auto last = map_.find(order_.back());
      evicted.push_back(std::move(last->second.first));
      map_.erase(last);
      order_.pop_back();
    }
    return evicted;
  }
  std::vector<V> clear() {
    std::vector<V> all;
    for (auto& [k, v] : map_) all.push_back(std::move(v.first));
    map_.clear();
    order_.clear();
    return all;
  }
  size_t size() const { return map_.size(); }

 private:
  size_t capacity_;
  std::list<K> order_;  // most recent first
  std::map<K, std::pair<V, typename std::list<K>::iterator>> map_;
};

// Whether a key is seen often enough to capture: the first step of a shape runs directly (it also does the lazy
// one-time work of the kernels and cuBLAS, which must not happen inside a capture); the second captures the graph.
class CaptureCounter {
 public:
  // Counts one step of `key` that found no graph; true from the second on (also after an evicted graph).
  bool shouldCapture(const GraphKey& key);

 private:
  std::map<GraphKey, int> seen_;
};

}  // namespace redrafter::cuda::engine
