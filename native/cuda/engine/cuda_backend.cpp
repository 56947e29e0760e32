#include "engine/cuda_backend.h"

#include <cuda_runtime_api.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>

#include "accept_commit.h"
#include "beam_search.h"
#include "build_tree.h"
#include "core/build_tree.h"
#include "core/error.h"
#include "core/rng.h"
#include "core/verify_greedy.h"
#include "core/verify_sampling.h"
#include "engine/cublas_library.h"
#include "engine/kernels.h"
#include "tree_attention.h"

namespace redrafter::cuda::engine {

using executor::ActiveRequest;
using executor::FinishReason;
using executor::Request;
using Clock = std::chrono::steady_clock;

namespace {

double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

void check(cudaError_t err, const std::string& what) {
  if (err != cudaSuccess)
    fail(ErrorCode::Backend, "cuda: " + what + ": " + cudaGetErrorName(err) + " (" + cudaGetErrorString(err) + ")");
}

// A launcher's refusal or failure: its own sentence (launch_error.h).
void checkLaunch(cudaError_t err, const char* launcher) {
  if (err != cudaSuccess) fail(ErrorCode::Backend, launchFailureMessage(launcher, err, lastLaunchError()));
}

void* deviceAlloc(size_t bytes, const std::string& what) {
  void* p = nullptr;
  cudaError_t err = cudaMalloc(&p, std::max<size_t>(bytes, 1));
  if (err == cudaErrorMemoryAllocation) {
    cudaGetLastError();  // not sticky: clear it
    size_t freeBytes = 0, total = 0;
    cudaMemGetInfo(&freeBytes, &total);
    fail(ErrorCode::OutOfMemory, "out of device memory: " + what + " needs " + std::to_string(bytes) + " bytes, " +
                                     std::to_string(freeBytes) + " of " + std::to_string(total) + " bytes are free");
  }
  check(err, "cudaMalloc (" + what + ", " + std::to_string(bytes) + " bytes)");
  return p;
}

template <typename T>
T* hostAlloc(size_t count, const std::string& what) {
  void* p = nullptr;
  cudaError_t err = cudaMallocHost(&p, std::max<size_t>(count * sizeof(T), 1));
  if (err == cudaErrorMemoryAllocation) {
    cudaGetLastError();
    fail(ErrorCode::OutOfMemory, "out of pinned host memory: " + what + " needs " +
                                     std::to_string(count * sizeof(T)) + " bytes");
  }
  check(err, "cudaMallocHost (" + what + ")");
  return static_cast<T*>(p);
}

int32_t argmaxHost(const float* logits, int vocab) {
  int32_t best = 0;
  for (int i = 1; i < vocab; ++i)
    if (logits[i] > logits[best]) best = i;
  return best;
}

}  // namespace

// ---- state ---------------------------------------------------------------------------------------------------------

struct CudaBackend::Session {
  int32_t length = 0;           // slots of the cache that hold keys/values
  std::vector<int32_t> tokens;  // [length] their tokens
};

struct CudaBackend::RequestState {
  executor::SessionId session = 0;
  int32_t slot = -1;   // row of the slot hidden-state buffer
  int32_t last = -1;   // the last emitted token: not yet in the cache
  Rng rng;
  bool greedy = true;
  SamplingParams params;
  int32_t width = 0, length = 0;
  std::vector<float> probs;  // [vocab] plain sampling scratch
};

struct CudaBackend::Device {
  int index = 0, smCount = 0;
  std::string name;
  cudaStream_t stream = nullptr;
  const CublasApi* blas = nullptr;
  cublasHandle_t cublas = nullptr;
  void* cublasWorkspace = nullptr;
  char* weights = nullptr;  // the WeightPlan arena
  void* kPool = nullptr;    // [layers, numBlocks, kvHeads, blockSize, headDim] T
  void* vPool = nullptr;    // same
  KvPoolPlan kvPlan;
  char* work = nullptr;     // the Workspace
  size_t attentionBytes = 0, beamSearchBytes = 0;  // the launchers' workspaces inside it
  int32_t* devIn = nullptr;   // StepRecords input  [inputInts]
  int32_t* devOut = nullptr;  // StepRecords output [outputInts]
  int32_t* hostIn = nullptr;  // pinned mirrors
  int32_t* hostOut = nullptr;
  int32_t* hostAux = nullptr;  // pinned [2 * prefillChunk + 1 + maxBatch * Wm * Lm]: prefill tokens, positions,
                               // tree length; a sampling step's beams
  float* hostLogits = nullptr;  // pinned [maxBatch * treeTokens, vocab]: a sampling step's tree logits
  LruMap<GraphKey, cudaGraphExec_t> graphs{64};
  CaptureCounter capture;
  std::set<GraphKey> uncapturable;

  ~Device() {
    if (index >= 0) cudaSetDevice(index);
    for (cudaGraphExec_t g : graphs.clear()) cudaGraphExecDestroy(g);
    if (cublas && blas) blas->destroy(cublas);
    for (void* p : {static_cast<void*>(weights), kPool, vPool, static_cast<void*>(work), static_cast<void*>(devIn),
                    static_cast<void*>(devOut), cublasWorkspace})
      if (p) cudaFree(p);
    for (void* p : {static_cast<void*>(hostIn), static_cast<void*>(hostOut), static_cast<void*>(hostAux),
                    static_cast<void*>(hostLogits)})
      if (p) cudaFreeHost(p);
    if (stream) cudaStreamDestroy(stream);
  }
  template <typename T = void>
  T* at(size_t offset) const {
    return reinterpret_cast<T*>(work + offset);
  }
};

// One step's group: requests sharing a beam shape and greedy/sampling, stepped by one pipeline.
struct CudaBackend::Group {
  StepShape shape;
  bool greedy = true;
  std::vector<ActiveRequest*> requests;
  std::vector<RequestState*> states;
  std::vector<int32_t> past;  // [batch] cached lengths before the step
  int treeTokens() const { return shape.drafted ? shape.width * shape.length : 1; }
};

// ---- construction --------------------------------------------------------------------------------------------------

CudaBackend::CudaBackend(std::shared_ptr<const ModelWeights> weights, std::shared_ptr<const DrafterWeights> drafter,
                         CudaBackendOptions options)
    : weights_(std::move(weights)), drafter_(std::move(drafter)), options_(options) {
  RD_REQUIRE(weights_ != nullptr, "model", "is missing");
  const ModelConfig& c = weights_->config;
  plan_ = planModelWeights(*weights_);  // refuses head sizes other than 64 and 128, bad shapes
  dims_ = ModelDims::of(c);
  eps_ = c.normEps;
  theta_ = c.ropeTheta;
  RD_REQUIRE(options_.contextLength >= 0, "contextLength", "must be >= 0");
  const int32_t modelContext = c.contextLength > 0 ? c.contextLength : 2048;
  if (options_.contextLength > modelContext)  // as the CPU engine: refused, not silently cut
    failRange("contextLength", std::to_string(options_.contextLength) + " is larger than the model's context length " +
                                   std::to_string(modelContext) + " (" + weights_->path + ")");
  limits_.capacity = options_.contextLength > 0 ? options_.contextLength : modelContext;
  limits_.maxBatch = options_.maxActiveRequests;
  limits_.prefillChunk = options_.prefillChunk;
  limits_.blockSize = options_.kvBlockSize;
  if (drafter_) {
    checkDrafterMatchesModel(drafter_->config, "drafter", c, weights_->path);
    limits_.maxBeamWidth = std::min(options_.maxBeamWidth, std::min(kDraftTopK, drafter_->config.vocabSize));
    limits_.maxBeamLength = options_.maxBeamLength;
    planDrafterWeights(*drafter_, plan_);
    dims_.draftHidden = drafter_->config.hiddenSize;
    dims_.exitDim = drafter_->config.exitDim;
    dims_.draftVocab = drafter_->config.vocabSize;
    dims_.draftInputProj = drafter_->config.hasInputProj();
    dims_.draftRnn = drafter_->config.rnn;
  }
  if (std::string why = limitsError(limits_); !why.empty()) fail(ErrorCode::InvalidArgument, why);
  records_.batch = limits_.maxBatch;
  records_.maxBlocks = limits_.maxBlocksPerSeq();
  records_.maxLength = std::max(1, limits_.maxBeamLength);
  slotUsed_.assign(size_t(limits_.maxBatch), false);
  {
    const ModelWeights& w = *weights_;
    parameters_ = double(w.tokenEmbedding.elements()) + double(w.finalNorm.elements());
    if (w.output.data != w.tokenEmbedding.data) parameters_ += double(w.output.elements());
    for (const LayerWeights& l : w.layers)
      for (const TensorView* t : {&l.attnNorm, &l.wq, &l.wk, &l.wv, &l.wo, &l.ffnNorm, &l.w1, &l.w2, &l.w3})
        parameters_ += double(t->elements());
  }

  // ---- the device --------------------------------------------------------------------------------------------
  int count = 0;
  cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess || count == 0) {
    cudaGetLastError();
    fail(ErrorCode::Unsupported, std::string("the cuda backend needs an NVIDIA GPU and driver: ") +
                                     (err != cudaSuccess ? cudaGetErrorString(err) : "no CUDA device is visible"));
  }
  RD_REQUIRE(options_.device >= 0 && options_.device < count, "device",
             "(" + std::to_string(options_.device) + ") must be a CUDA device index in [0, " + std::to_string(count - 1) +
                 "] (" + std::to_string(count) + " visible)");
  dev_ = std::make_unique<Device>();
  Device& d = *dev_;
  d.index = options_.device;
  check(cudaSetDevice(d.index), "cudaSetDevice");
  cudaDeviceProp prop{};
  check(cudaGetDeviceProperties(&prop, d.index), "cudaGetDeviceProperties");
  d.name = prop.name;
  d.smCount = prop.multiProcessorCount;
  if (prop.major < 8)
    fail(ErrorCode::Unsupported, "device " + std::to_string(d.index) + " (" + d.name + ", sm_" +
                                     std::to_string(prop.major) + std::to_string(prop.minor) +
                                     ") is older than sm_80, which the cuda backend's kernels need");
  check(cudaStreamCreateWithFlags(&d.stream, cudaStreamNonBlocking), "cudaStreamCreate");
  d.blas = &loadCublas();
  if (d.blas->create(&d.cublas) != CUBLAS_STATUS_SUCCESS)
    fail(ErrorCode::Backend, "cublasCreate failed (" + d.blas->path + ")");
  constexpr size_t kCublasWorkspace = size_t(32) << 20;
  d.cublasWorkspace = deviceAlloc(kCublasWorkspace, "the cuBLAS workspace");
  d.blas->setStream(d.cublas, d.stream);
  d.blas->setWorkspace(d.cublas, d.cublasWorkspace, kCublasWorkspace);
  d.blas->setMathMode(d.cublas, CUBLAS_DEFAULT_MATH);

  // weights: converted on the host in chunks, copied through one pinned staging buffer
  d.weights = static_cast<char*>(deviceAlloc(plan_.totalBytes, "the weights (" + std::string(elemTypeName(plan_.type)) + ")"));
  {
    constexpr size_t kStaging = size_t(16) << 20;
    uint8_t* staging = hostAlloc<uint8_t>(kStaging, "the weight staging buffer");
    std::vector<float> scratch;
    try {
      for (const DeviceTensor& t : plan_.tensors) {
        if (t.aliasOf >= 0 || t.bytes == 0) continue;
        const size_t rowBytes = t.bytes / size_t(t.rows);
        const int64_t rowsPer = std::max<int64_t>(1, int64_t(kStaging / rowBytes));
        for (int64_t r = 0; r < t.rows; r += rowsPer) {
          const int64_t r1 = std::min(t.rows, r + rowsPer);
          convertRows(t, plan_.type, r, r1, staging, scratch);
          check(cudaMemcpy(d.weights + t.offset + size_t(r) * rowBytes, staging, size_t(r1 - r) * rowBytes,
                           cudaMemcpyHostToDevice),
                "uploading " + t.name);
        }
      }
    } catch (...) {
      cudaFreeHost(staging);
      throw;
    }
    cudaFreeHost(staging);
  }

  // workspaces, sized once for the largest step (no allocation on the hot path)
  const DType kvType = plan_.type == ElemType::BF16 ? DType::BF16 : DType::F16;
  size_t attentionBytes = 0;
  {
    TreeAttentionParams p;
    p.dtype = kvType;
    p.qHeads = dims_.heads;
    p.cache.layout = KvLayout::kPaged;
    p.cache.kvHeads = dims_.kvHeads;
    p.cache.headDim = dims_.headDim;
    p.cache.blockSize = limits_.blockSize;
    p.cache.maxBlocksPerSeq = limits_.maxBlocksPerSeq();
    for (const AttentionShape& shape : attentionShapes(limits_)) {
      p.batch = shape.batch;
      p.treeTokens = shape.treeTokens;
      p.maxPastLength = shape.pastBucket;
      attentionBytes = std::max(attentionBytes, treeAttentionWorkspaceBytes(p, d.smCount));
    }
  }
  size_t beamBytes = 0;
  if (drafter_)
    for (int b = 1; b <= limits_.maxBatch; ++b)
      for (int w = 1; w <= limits_.maxBeamWidth; ++w)
        beamBytes = std::max(beamBytes, beamSearchWorkspaceBytes(b, w, dims_.draftVocab,
                                                                 std::min(kDraftTopK, dims_.draftVocab)));
  ws_ = planWorkspace(dims_, limits_, attentionBytes, beamBytes);
  d.attentionBytes = attentionBytes;
  d.beamSearchBytes = beamBytes;
  d.work = static_cast<char*>(deviceAlloc(ws_.total, "the step workspaces"));
  if (drafter_) check(cudaMemset(d.work + ws_.beamSearch, 0, beamBytes), "zeroing the beam search workspace");
  d.devIn = static_cast<int32_t*>(deviceAlloc(records_.inputInts() * 4, "the step records"));
  d.devOut = static_cast<int32_t*>(deviceAlloc(records_.outputInts() * 4, "the step records"));
  d.hostIn = hostAlloc<int32_t>(records_.inputInts(), "the step records");
  d.hostOut = hostAlloc<int32_t>(records_.outputInts(), "the step records");
  d.hostAux = hostAlloc<int32_t>(size_t(2 * limits_.prefillChunk + 1) +
                                     size_t(limits_.maxBatch) * std::max(1, limits_.maxBeamWidth) * records_.maxLength,
                                 "the prefill records");
  d.hostLogits = hostAlloc<float>(size_t(limits_.maxBatch) * limits_.treeTokens() * dims_.vocab, "the sampling logits");
  std::memset(d.hostIn, 0, records_.inputInts() * 4);

  // the KV pool last: it takes what the rest left
  size_t freeBytes = 0, total = 0;
  check(cudaMemGetInfo(&freeBytes, &total), "cudaMemGetInfo");
  d.kvPlan = planKvPool(dims_, limits_, options_.kvBlocks, freeBytes);
  d.kPool = deviceAlloc(d.kvPlan.totalBytes / 2, "the KV cache (keys)");
  d.vPool = deviceAlloc(d.kvPlan.totalBytes / 2, "the KV cache (values)");
  kv_ = std::make_unique<KvBlockManager>(d.kvPlan.numBlocks, d.kvPlan.blockSize, d.kvPlan.maxBlocksPerSeq);
  check(cudaDeviceSynchronize(), "loading the model");
}

CudaBackend::~CudaBackend() = default;

std::string CudaBackend::deviceName() const { return dev_->name; }
size_t CudaBackend::weightBytes() const { return plan_.totalBytes; }

executor::ModelInfo CudaBackend::modelInfo() const {
  executor::ModelInfo info;
  info.vocabSize = dims_.vocab;
  info.contextLength = limits_.capacity;
  info.maxBeamWidth = drafter_ ? limits_.maxBeamWidth : 0;
  info.maxBeamLength = drafter_ ? limits_.maxBeamLength : 0;
  info.parameters = parameters_;
  info.backend = "cuda";
  return info;
}

void CudaBackend::validate(const Request& r) const {
  executor::RequestLimits limits;
  limits.hasDrafter = drafter_ != nullptr;
  limits.maxBeamWidth = limits_.maxBeamWidth;  // the engine's maxBeamWidth / maxBeamLength (workspace sizes)
  limits.maxBeamLength = limits_.maxBeamLength;
  limits.vocabSize = dims_.vocab;
  limits.contextLength = limits_.capacity;
  executor::validateRequest(r, limits);
  if (r.draft.beamWidth > 0 && r.draft.acceptance == executor::Acceptance::Apple && r.sampling.temperature > 0)
    fail(ErrorCode::Unsupported, "acceptance 'apple' with sampling is not supported by the cuda backend "
                                 "(its drafter keeps no log-probabilities); use 'exact'");
}

CudaBackend::Session& CudaBackend::session(executor::SessionId id) {
  auto& s = sessions_[id];
  if (!s) s = std::make_unique<Session>();
  return *s;
}

void CudaBackend::reserveSlots(executor::SessionId id, int32_t slots) {
  std::vector<uint64_t> evicted;
  const bool ok = kv_->reserve(id, slots, pinned_, evicted);
  for (uint64_t e : evicted) {  // their caches are gone: the next request of that session prefills again
    auto it = sessions_.find(e);
    if (it != sessions_.end()) {
      it->second->length = 0;
      it->second->tokens.clear();
    }
  }
  if (!ok)
    fail(ErrorCode::OutOfMemory, "the KV cache is full: a session needs " +
                                     std::to_string((slots + kv_->blockSize() - 1) / kv_->blockSize()) + " blocks of " +
                                     std::to_string(kv_->blockSize()) + " slots, " + std::to_string(kv_->freeBlocks()) +
                                     " of " + std::to_string(kv_->numBlocks()) +
                                     " are free and the rest belong to requests in flight");
}

// ---- device work ---------------------------------------------------------------------------------------------------

// y [rows, out] = x [rows, in] (row stride ldx) . W^T, W = plan tensor `matrix` [out, in]; y f32 or T, row stride
// ldy; beta 1 accumulates into y (the residual adds).
void CudaBackend::gemm(int matrix, const void* x, int ldx, int rows, void* y, bool yFloat, int ldy, float beta) {
  const DeviceTensor& t = plan_.tensors[size_t(matrix)];
  const DeviceTensor& mem = t.aliasOf >= 0 ? plan_.tensors[size_t(t.aliasOf)] : t;
  const cudaDataType ab = plan_.type == ElemType::BF16 ? CUDA_R_16BF : CUDA_R_16F;
  const float alpha = 1.0f;
  const cublasStatus_t st = dev_->blas->gemmEx(
      dev_->cublas, CUBLAS_OP_T, CUBLAS_OP_N, int(t.rows), rows, int(t.cols), &alpha, dev_->weights + mem.offset, ab,
      int(t.cols), x, ab, ldx, &beta, y, yFloat ? CUDA_R_32F : ab, ldy, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
  if (st != CUBLAS_STATUS_SUCCESS)
    fail(ErrorCode::Backend, "cublasGemmEx (" + t.name + ", " + std::to_string(rows) + " rows): " +
                                 dev_->blas->statusString(st));
}

// The LLM over `batch` sequences of `treeTokens` rows each (row b * treeTokens + t). Keys and values of rows
// t < treeLengths[b] go to slots pastLengths[b] + t (block tables: the step input records). Final hidden states and
// logits of rows [outFirst, outFirst + outCount) land in rows [0, outCount) of ws.hidden, ws.hidden16, ws.logits.
void CudaBackend::forward(int batch, int treeTokens, int maxPast, const int32_t* tokens, const int32_t* positions,
                          const int32_t* pastLengths, const int32_t* treeLengths, const int32_t* mask, int outFirst,
                          int outCount) {
  Device& d = *dev_;
  cudaStream_t s = d.stream;
  const ElemType T = plan_.type;
  const int N = batch * treeTokens, D = dims_.dim, KV = dims_.kvDim(), H = dims_.hidden;
  float* x = d.at<float>(ws_.x);
  void* xn = d.at(ws_.xn);
  float* qkv = d.at<float>(ws_.qkv);
  float* h13 = d.at<float>(ws_.h13);
  auto f32 = [&](int index) { return reinterpret_cast<const float*>(d.weights + plan_.tensors[size_t(index)].offset); };
  checkLaunch(launchEmbed(T, d.weights + plan_.tensors[size_t(plan_.embedding)].offset, tokens, N, D, x, s), "embedding");

  KvCacheView cache;
  cache.layout = KvLayout::kPaged;
  cache.kvHeads = dims_.kvHeads;
  cache.headDim = dims_.headDim;
  cache.blockTable = d.devIn + records_.blockTable();
  cache.maxBlocksPerSeq = records_.maxBlocks;
  cache.blockSize = d.kvPlan.blockSize;
  cache.numBlocks = d.kvPlan.numBlocks;
  const int64_t layerElems = int64_t(d.kvPlan.numBlocks) * dims_.kvHeads * d.kvPlan.blockSize * dims_.headDim;
  cache.layerStride = layerElems;

  TreeAttentionParams ap;
  ap.dtype = T == ElemType::BF16 ? DType::BF16 : DType::F16;
  ap.batch = batch;
  ap.treeTokens = treeTokens;
  ap.qHeads = dims_.heads;
  ap.scale = 1.0f / std::sqrt(float(dims_.headDim));
  ap.q = d.at(ws_.q);
  ap.pastLengths = pastLengths;
  ap.treeLengths = treeLengths;
  ap.packedMask = mask;
  ap.maxPastLength = maxPast;
  ap.out = d.at(ws_.att);

  RopeCacheParams rp;
  rp.qkv = qkv;
  rp.positions = positions;
  rp.pastLengths = pastLengths;
  rp.treeLengths = treeLengths;
  rp.n = N;
  rp.treeTokens = treeTokens;
  rp.dim = D;
  rp.heads = dims_.heads;
  rp.kvHeads = dims_.kvHeads;
  rp.headDim = dims_.headDim;
  rp.theta = theta_;
  rp.q16 = d.at(ws_.q);

  for (int l = 0; l < dims_.layers; ++l) {
    const WeightPlan::Layer& L = plan_.layers[size_t(l)];
    KvCacheView layer = cache;  // this layer's pools: layer 0 of the view
    layer.k = static_cast<char*>(d.kPool) + size_t(l) * size_t(layerElems) * 2;
    layer.v = static_cast<char*>(d.vPool) + size_t(l) * size_t(layerElems) * 2;
    checkLaunch(launchRmsNorm(T, x, f32(L.attnNorm), eps_, N, D, xn, nullptr, s), "rms norm");
    gemm(L.wqkv, xn, D, N, qkv, true, D + 2 * KV, 0.f);
    rp.cache = layer;
    checkLaunch(launchRopeAndCache(T, rp, s), "rope");
    ap.cache = layer;
    checkLaunch(launchTreeAttention(ap, d.smCount, d.at(ws_.attention), d.attentionBytes, s),
                "launchTreeAttention");
    gemm(L.wo, d.at(ws_.att), D, N, x, true, D, 1.f);  // x += attention . Wo^T
    checkLaunch(launchRmsNorm(T, x, f32(L.ffnNorm), eps_, N, D, xn, nullptr, s), "rms norm");
    gemm(L.w13, xn, D, N, h13, true, 2 * H, 0.f);
    checkLaunch(launchSiluMul(T, h13, N, H, d.at(ws_.g), s), "silu");
    gemm(L.w2, d.at(ws_.g), H, N, x, true, D, 1.f);  // x += g . W2^T
  }
  if (outCount <= 0) return;
  checkLaunch(launchRmsNorm(T, x + size_t(outFirst) * D, f32(plan_.finalNorm), eps_, outCount, D, d.at(ws_.hidden16),
                            d.at<float>(ws_.hidden), s),
              "final norm");
  gemm(plan_.output, d.at(ws_.hidden16), D, outCount, d.at<float>(ws_.logits), true, dims_.vocab, 0.f);
}

// The drafter's beam search for `batch` sequences (step input records: last tokens, slots), all on the device.
// Returns the beams [batch, width, length] (device).
int32_t* CudaBackend::draft(int batch, int width, int length) {
  Device& d = *dev_;
  cudaStream_t s = d.stream;
  const ElemType T = plan_.type;
  const int R = batch * width, H = dims_.draftHidden, E = dims_.exitDim, V = dims_.draftVocab;
  const size_t Rd = size_t(limits_.maxBatch) * size_t(limits_.maxBeamWidth);
  const size_t elem = 2;
  int32_t* beams[2] = {d.at<int32_t>(ws_.dBeams), d.at<int32_t>(ws_.dBeams) + Rd * size_t(records_.maxLength)};
  float* state[2] = {d.at<float>(ws_.dState), d.at<float>(ws_.dState) + Rd * size_t(H)};
  float* scores[2] = {d.at<float>(ws_.dScores), d.at<float>(ws_.dScores) + Rd};
  char* in16 = d.at<char>(ws_.dIn);
  const int32_t* slots = d.devIn + records_.slots();
  const int32_t* lastTokens = d.devIn + records_.lastTokens();
  const float* slotHidden = d.at<float>(ws_.slotHidden);
  auto f32 = [&](int index) {
    return index < 0 ? nullptr : reinterpret_cast<const float*>(d.weights + plan_.tensors[size_t(index)].offset);
  };
  // The beam search's completion counters sit at the head of its workspace, laid out for this (batch, width): a
  // launch leaves its own counters at zero, but a step of another shape wrote its candidate lists over bytes that are
  // this shape's counters. Zero them once per draft (all of this draft's launches share the shape).
  check(cudaMemsetAsync(d.at(ws_.beamSearch), 0, beamSearchCounterBytes(batch, width), s),
        "zeroing the beam search counters");
  checkLaunch(launchDraftInit(T, slotHidden, slots, lastTokens, batch, width, length, H, in16, state[0], beams[0],
                              scores[0], s),
              "draft init");
  BeamSearchParams bp;
  bp.batch = batch;
  bp.width = width;
  bp.vocab = V;
  bp.topK = std::min(kDraftTopK, V);
  bp.logits = d.at<float>(ws_.dLogits);
  bp.outParent = d.at<int32_t>(ws_.dParent);
  bp.outToken = d.at<int32_t>(ws_.dToken);
  int cur = 0;
  for (int step = 0; step < length - 1; ++step) {
    checkLaunch(launchDraftEmbed(T, d.weights + plan_.tensors[size_t(plan_.embedding)].offset, beams[cur], R, length,
                                 step, H, state[cur], d.at(ws_.dEmb), in16, s),
                "draft embed");
    if (dims_.draftRnn) {
      gemm(plan_.rnnW, d.at(ws_.dEmb), H, R, d.at<float>(ws_.dA), true, H, 0.f);
      gemm(plan_.rnnU, in16 + size_t(H) * elem, 2 * H, R, d.at<float>(ws_.dA), true, H, 1.f);
    }
    checkLaunch(launchDraftState(T, dims_.draftRnn, d.at<float>(ws_.dA), f32(plan_.rnnUBias), d.at(ws_.dEmb), R, H,
                                 state[cur], in16, s),
                "draft state");
    if (dims_.draftInputProj) {
      gemm(plan_.inputProj, in16, 2 * H, R, d.at<float>(ws_.dX), true, E, 0.f);
      checkLaunch(launchAddBias(T, d.at<float>(ws_.dX), f32(plan_.inputProjBias), R, E, d.at(ws_.dX16), s),
                  "draft input projection");
    } else {
      checkLaunch(launchDraftConcat(T, slotHidden, slots, state[cur], R, width, H, d.at<float>(ws_.dX),
                                    d.at(ws_.dX16), s),
                  "draft concat");
    }
    for (size_t i = 0; i < plan_.blockWeight.size(); ++i) {
      gemm(plan_.blockWeight[i], d.at(ws_.dX16), E, R, d.at<float>(ws_.dT), true, E, 0.f);
      checkLaunch(launchResidualSilu(T, d.at<float>(ws_.dX), d.at<float>(ws_.dT), f32(plan_.blockBias[i]), R, E,
                                     d.at(ws_.dX16), s),
                  "draft residual block");
    }
    gemm(plan_.lmHead, d.at(ws_.dX16), E, R, d.at<float>(ws_.dLogits), true, V, 0.f);
    bp.scores = scores[cur];
    bp.outScores = scores[1 - cur];
    bp.firstStep = step == 0;
    checkLaunch(launchBeamSearchStep(bp, d.at(ws_.beamSearch), d.beamSearchBytes, s), "launchBeamSearchStep");
    checkLaunch(launchDraftRegroup(bp.outParent, bp.outToken, beams[cur], state[cur], R, width, length, step, H,
                                   beams[1 - cur], state[1 - cur], s),
                "draft regroup");
    cur = 1 - cur;
  }
  return beams[cur];
}

// Everything a step does on the device after the host filled hostIn: upload, draft, tree, forward and, greedy, the
// acceptance, commit, next hidden states and the download of the outputs. Capturable (no host synchronisation).
void CudaBackend::enqueueStep(const Group& g, int bucket, bool greedy) {
  Device& d = *dev_;
  cudaStream_t s = d.stream;
  const int B = int(g.requests.size()), W = g.shape.width, L = g.shape.length, T = g.treeTokens();
  check(cudaMemcpyAsync(d.devIn, d.hostIn, records_.inputInts() * 4, cudaMemcpyHostToDevice, s), "step upload");
  const int32_t* past = d.devIn + records_.pastLengths();
  const int32_t* beams = g.shape.drafted ? draft(B, W, L) : d.devIn + records_.lastTokens();  // plain: [B, 1, 1]
  BuildTreeParams tp;
  tp.beams = beams;
  tp.batch = B;
  tp.width = W;
  tp.length = L;
  tp.capacity = T;
  tp.lengths = d.at<int32_t>(ws_.treeLengths);
  tp.tokens = d.at<int32_t>(ws_.treeTokens);
  tp.beamTokenIndex = d.at<int32_t>(ws_.treeBeamIndex);
  tp.positionOffsets = d.at<int32_t>(ws_.treeOffsets);
  tp.parents = d.at<int32_t>(ws_.treeParents);
  tp.unpacker = d.at<int32_t>(ws_.unpacker);
  tp.packedMask = d.at<int32_t>(ws_.mask);
  checkLaunch(launchBuildTree(tp, s), "launchBuildTree");
  checkLaunch(launchTreePositions(past, tp.positionOffsets, B, T, d.at<int32_t>(ws_.positions), s), "tree positions");
  forward(B, T, bucket, tp.tokens, d.at<int32_t>(ws_.positions), past, tp.lengths, tp.packedMask, 0, B * T);
  if (!greedy) return;
  checkLaunch(launchArgmaxRows(d.at<float>(ws_.logits), B * T, dims_.vocab, d.at<int32_t>(ws_.argmax), s), "argmax");
  AcceptCommitParams ac;
  ac.batch = B;
  ac.width = W;
  ac.length = L;
  ac.treeCapacity = T;
  ac.beams = beams;
  ac.unpacker = tp.unpacker;
  ac.argmax = d.at<int32_t>(ws_.argmax);
  ac.pastLengths = past;
  ac.bestBeam = d.devOut + records_.bestBeam();
  ac.acceptedLength = d.devOut + records_.acceptedLength();
  ac.nextToken = d.devOut + records_.nextToken();
  ac.acceptedTokens = d.devOut + records_.acceptedTokens();
  ac.acceptedPacked = d.devOut + records_.acceptedPacked();
  ac.newLengths = d.devOut + records_.newLengths();
  ac.cache.layout = KvLayout::kPaged;
  ac.cache.k = d.kPool;
  ac.cache.v = d.vPool;
  ac.cache.kvHeads = dims_.kvHeads;
  ac.cache.headDim = dims_.headDim;
  ac.cache.layerStride = int64_t(d.kvPlan.numBlocks) * dims_.kvHeads * d.kvPlan.blockSize * dims_.headDim;
  ac.cache.blockTable = d.devIn + records_.blockTable();
  ac.cache.maxBlocksPerSeq = records_.maxBlocks;
  ac.cache.blockSize = d.kvPlan.blockSize;
  ac.cache.numBlocks = d.kvPlan.numBlocks;
  ac.layers = dims_.layers;
  ac.elementBytes = 2;
  checkLaunch(launchAcceptCommit(ac, s), "launchAcceptCommit");
  if (drafter_)
    checkLaunch(launchGatherHidden(d.at<float>(ws_.hidden), ac.acceptedPacked, ac.acceptedLength,
                                   d.devIn + records_.slots(), B, T, L, dims_.dim, d.at<float>(ws_.slotHidden), s),
                "gather hidden");
  check(cudaMemcpyAsync(d.hostOut, d.devOut, records_.outputInts() * 4, cudaMemcpyDeviceToHost, s), "step download");
}

void CudaBackend::runGreedy(Group& g, int bucket) {
  Device& d = *dev_;
  GraphKey key;
  key.batch = int32_t(g.requests.size());
  key.width = g.shape.width;
  key.length = g.shape.length;
  key.drafted = g.shape.drafted;
  key.pastBucket = bucket;
  if (!options_.cudaGraphs || d.uncapturable.count(key)) {
    enqueueStep(g, bucket, true);
  } else if (cudaGraphExec_t* exec = d.graphs.find(key)) {
    check(cudaGraphLaunch(*exec, d.stream), "cudaGraphLaunch (" + key.describe() + ")");
  } else if (!d.capture.shouldCapture(key)) {
    enqueueStep(g, bucket, true);  // the first step of a shape runs directly (and warms the lazy initialisations)
  } else {
    cudaGraph_t graph = nullptr;
    check(cudaStreamBeginCapture(d.stream, cudaStreamCaptureModeThreadLocal), "cudaStreamBeginCapture");
    bool captured = true;
    try {
      enqueueStep(g, bucket, true);
    } catch (...) {  // something refused to be captured: end the capture (else the stream stays capturing), run
      captured = false;  // this shape directly from now on (where it fails again, that error is the step's)
    }
    cudaError_t err = cudaStreamEndCapture(d.stream, &graph);
    if (!captured && err == cudaSuccess) err = cudaErrorStreamCaptureInvalidated;
    cudaGraphExec_t exec = nullptr;
    if (err == cudaSuccess) err = cudaGraphInstantiate(&exec, graph, 0);
    if (graph) cudaGraphDestroy(graph);
    if (err != cudaSuccess) {  // run it directly from now on
      cudaGetLastError();
      d.uncapturable.insert(key);
      enqueueStep(g, bucket, true);
    } else {
      for (cudaGraphExec_t old : d.graphs.put(key, exec)) cudaGraphExecDestroy(old);
      check(cudaGraphLaunch(exec, d.stream), "cudaGraphLaunch (" + key.describe() + ")");
    }
  }
  if (observer_ && !g.shape.drafted)
    check(cudaMemcpyAsync(d.hostLogits, d.at<float>(ws_.logits), g.requests.size() * size_t(dims_.vocab) * 4,
                          cudaMemcpyDeviceToHost, d.stream),
          "logits download");
  check(cudaStreamSynchronize(d.stream), "a decoding step (" + key.describe() + ")");
}

void CudaBackend::runSampling(Group& g, int bucket) {
  Device& d = *dev_;
  cudaStream_t s = d.stream;
  const int B = int(g.requests.size()), W = g.shape.width, L = g.shape.length, T = g.treeTokens();
  const int V = dims_.vocab;
  enqueueStep(g, bucket, false);
  int32_t* hostBeams = d.hostAux + 2 * limits_.prefillChunk + 1;
  check(cudaMemcpyAsync(d.hostLogits, d.at<float>(ws_.logits), size_t(B) * T * V * 4, cudaMemcpyDeviceToHost, s),
        "tree logits download");
  if (g.shape.drafted) {
    // the beams the step drafted: the tree's source (re-derived on the host to walk it)
    const size_t Rd = size_t(limits_.maxBatch) * size_t(limits_.maxBeamWidth);
    const int parity = (L - 1) % 2;
    const int32_t* beams = d.at<int32_t>(ws_.dBeams) + (parity ? Rd * size_t(records_.maxLength) : 0);
    check(cudaMemcpyAsync(hostBeams, beams, size_t(B) * W * L * 4, cudaMemcpyDeviceToHost, s), "beams download");
  }
  check(cudaStreamSynchronize(s), "a sampling step");
  // verification on the host: the CPU engine's exact rule with each request's seeded generator
  int32_t* acceptedLength = d.hostOut + records_.acceptedLength();
  int32_t* counts = d.hostOut + records_.bestBeam();
  int32_t* packed = d.hostOut + records_.acceptedPacked();
  int32_t* nextToken = d.hostOut + records_.nextToken();
  int32_t* acceptedTokens = d.hostOut + records_.acceptedTokens();
  for (int b = 0; b < B; ++b) {
    RequestState& st = *g.states[size_t(b)];
    const float* logits = d.hostLogits + size_t(b) * T * V;
    Verification v;
    if (g.shape.drafted) {
      const int32_t* rowBeams = hostBeams + size_t(b) * W * L;
      PackedTrees tree = buildTree(rowBeams, 1, W, L);
      v = verifySamplingExact(tree, 0, rowBeams, logits, V, st.params, st.rng);
      for (size_t k = 0; k < v.acceptedPacked.size(); ++k) packed[b * L + int(k)] = v.acceptedPacked[k];
    } else {
      st.probs.resize(size_t(V));
      samplingDistribution(logits, V, st.params, st.probs.data());
      v.nextToken = sampleFrom(st.probs.data(), V, st.rng);
      v.acceptedPacked = {0};
      packed[b * L] = 0;
    }
    if (v.acceptedPacked.empty()) {
      v.acceptedPacked = {0};
      packed[b * L] = 0;
    }
    const int count = int(v.acceptedPacked.size());
    counts[b] = count;
    acceptedLength[b] = count - 1;
    nextToken[b] = v.nextToken;
    for (int k = 0; k + 1 < count; ++k) acceptedTokens[b * std::max(1, L - 1) + k] = v.acceptedTokens[size_t(k)];
  }
  check(cudaMemcpyAsync(d.devOut, d.hostOut, records_.outputInts() * 4, cudaMemcpyHostToDevice, s), "path upload");
  KvCacheView cache;
  cache.layout = KvLayout::kPaged;
  cache.k = d.kPool;
  cache.v = d.vPool;
  cache.kvHeads = dims_.kvHeads;
  cache.headDim = dims_.headDim;
  cache.layerStride = int64_t(d.kvPlan.numBlocks) * dims_.kvHeads * d.kvPlan.blockSize * dims_.headDim;
  cache.blockTable = d.devIn + records_.blockTable();
  cache.maxBlocksPerSeq = records_.maxBlocks;
  cache.blockSize = d.kvPlan.blockSize;
  cache.numBlocks = d.kvPlan.numBlocks;
  checkLaunch(launchCommitPath(cache, dims_.layers, d.devIn + records_.pastLengths(), d.devOut + records_.acceptedPacked(),
                               d.devOut + records_.bestBeam(), B, L, s),
              "commit");
  if (drafter_)
    checkLaunch(launchGatherHidden(d.at<float>(ws_.hidden), d.devOut + records_.acceptedPacked(),
                                   d.devOut + records_.acceptedLength(), d.devIn + records_.slots(), B, T, L, dims_.dim,
                                   d.at<float>(ws_.slotHidden), s),
                "gather hidden");
  check(cudaStreamSynchronize(s), "a sampling commit");
  for (int b = 0; b < B; ++b) d.hostOut[records_.newLengths() + b] = g.past[size_t(b)] + counts[b];
}

// ---- the StepBackend -----------------------------------------------------------------------------------------------

void CudaBackend::start(ActiveRequest& r) {
  const Clock::time_point t0 = Clock::now();
  Device& d = *dev_;
  check(cudaSetDevice(d.index), "cudaSetDevice");  // the executor's worker thread
  const Request& q = r.request();
  auto st = std::make_shared<RequestState>();
  st->session = q.session;
  st->rng = Rng(q.sampling.seed);
  st->greedy = q.sampling.temperature == 0;
  st->params.temperature = st->greedy ? 1.0f : q.sampling.temperature;
  st->params.topK = q.sampling.topK;
  st->params.topP = q.sampling.topP;
  st->width = drafter_ ? q.draft.beamWidth : 0;
  st->length = st->width > 0 ? q.draft.beamLength : 1;
  for (size_t i = 0; i < slotUsed_.size() && st->slot < 0; ++i)
    if (!slotUsed_[i]) st->slot = int32_t(i);
  if (st->slot < 0) fail(ErrorCode::Internal, "more requests in flight than maxActiveRequests");
  slotUsed_[size_t(st->slot)] = true;
  pinned_.insert(q.session);
  r.state = st;
  Session& s = session(q.session);

  // Reuse the longest prefix of the prompt the session's cache holds (at least one token is run).
  const auto& input = q.inputTokenIds;
  size_t common = 0;
  while (common < input.size() && common < s.tokens.size() && s.tokens[common] == input[common]) ++common;
  if (common == input.size()) --common;
  s.length = int32_t(common);
  s.tokens.resize(common);
  r.stats.reusedTokens = int32_t(common);
  reserveSlots(q.session, int32_t(input.size()));

  cudaStream_t stream = d.stream;
  int32_t* hostTokens = d.hostAux;
  int32_t* hostPositions = d.hostAux + limits_.prefillChunk;
  int32_t* hostTreeLength = d.hostAux + 2 * limits_.prefillChunk;
  d.hostIn[records_.slots()] = st->slot;
  kv_->writeBlockTable(q.session, d.hostIn + records_.blockTable());
  try {
    for (size_t i = common; i < input.size(); i += size_t(limits_.prefillChunk)) {
      const int n = int(std::min<size_t>(size_t(limits_.prefillChunk), input.size() - i));
      const bool lastChunk = i + size_t(n) == input.size();
      d.hostIn[records_.pastLengths()] = s.length;
      for (int j = 0; j < n; ++j) {
        hostTokens[j] = input[i + size_t(j)];
        hostPositions[j] = s.length + j;
      }
      *hostTreeLength = n;
      check(cudaMemcpyAsync(d.devIn, d.hostIn, records_.inputInts() * 4, cudaMemcpyHostToDevice, stream),
            "prefill upload");
      check(cudaMemcpyAsync(d.at(ws_.tokens), hostTokens, size_t(n) * 4, cudaMemcpyHostToDevice, stream),
            "prefill upload");
      check(cudaMemcpyAsync(d.at(ws_.positions), hostPositions, size_t(n) * 4, cudaMemcpyHostToDevice, stream),
            "prefill upload");
      check(cudaMemcpyAsync(d.at(ws_.treeLengths), hostTreeLength, 4, cudaMemcpyHostToDevice, stream),
            "prefill upload");
      checkLaunch(launchCausalMask(n, d.at<int32_t>(ws_.mask), stream), "causal mask");
      forward(1, n, pastBucket(s.length, limits_.capacity), d.at<int32_t>(ws_.tokens), d.at<int32_t>(ws_.positions),
              d.devIn + records_.pastLengths(), d.at<int32_t>(ws_.treeLengths), d.at<int32_t>(ws_.mask), n - 1,
              lastChunk ? 1 : 0);
      if (lastChunk) {
        check(cudaMemcpyAsync(d.at<float>(ws_.slotHidden) + size_t(st->slot) * dims_.dim, d.at<float>(ws_.hidden),
                              size_t(dims_.dim) * 4, cudaMemcpyDeviceToDevice, stream),
              "prefill hidden state");
        check(cudaMemcpyAsync(d.hostLogits, d.at<float>(ws_.logits), size_t(dims_.vocab) * 4, cudaMemcpyDeviceToHost,
                              stream),
              "prefill logits");
      }
      check(cudaStreamSynchronize(stream), "prefill");  // the pinned records are reused by the next chunk
      s.length += n;
      s.tokens.insert(s.tokens.end(), input.begin() + long(i), input.begin() + long(i) + n);
    }
  } catch (...) {  // nothing left on the device reading the pinned records the next request rewrites
    cudaStreamSynchronize(stream);
    throw;
  }
  int32_t first;
  if (st->greedy) {
    first = argmaxHost(d.hostLogits, dims_.vocab);
  } else {
    st->probs.resize(size_t(dims_.vocab));
    samplingDistribution(d.hostLogits, dims_.vocab, st->params, st->probs.data());
    first = sampleFrom(st->probs.data(), dims_.vocab, st->rng);
  }
  if (observer_ && st->greedy) observer_(r, d.hostLogits, dims_.vocab);
  st->last = first;
  r.stats.prefillSeconds = since(t0);
  r.emit(&first, 1);
}

void CudaBackend::step(const std::vector<ActiveRequest*>& requests) {
  Device& d = *dev_;
  check(cudaSetDevice(d.index), "cudaSetDevice");
  std::vector<Group> groups;
  for (ActiveRequest* r : requests) {
    auto* st = static_cast<RequestState*>(r->state.get());
    Session& s = session(st->session);
    if (s.length >= limits_.capacity) {  // the last token cannot be cached: the context is full
      r->finish(FinishReason::Context);
      continue;
    }
    const StepShape shape = chooseStepShape(st->width, st->length, r->remainingTokens(), s.length, limits_.capacity);
    try {
      reserveSlots(st->session, s.length + shape.treeSlots());
    } catch (const Error& e) {
      r->fail(e.code(), e.what());
      continue;
    }
    auto g = std::find_if(groups.begin(), groups.end(), [&](const Group& x) {
      return x.shape.drafted == shape.drafted && x.shape.width == shape.width && x.shape.length == shape.length &&
             x.greedy == st->greedy;
    });
    if (g == groups.end()) {
      groups.emplace_back();
      g = groups.end() - 1;
      g->shape = shape;
      g->greedy = st->greedy;
    }
    g->requests.push_back(r);
    g->states.push_back(st);
    g->past.push_back(s.length);
  }

  for (Group& g : groups) {
    const Clock::time_point t0 = Clock::now();
    const int B = int(g.requests.size()), L = g.shape.length;
    int32_t maxPast = 0;
    for (int b = 0; b < B; ++b) {
      const RequestState& st = *g.states[size_t(b)];
      d.hostIn[records_.lastTokens() + b] = st.last;
      d.hostIn[records_.pastLengths() + b] = g.past[size_t(b)];
      d.hostIn[records_.slots() + b] = st.slot;
      kv_->writeBlockTable(st.session, d.hostIn + records_.blockTable() + size_t(b) * records_.maxBlocks);
      maxPast = std::max(maxPast, g.past[size_t(b)]);
    }
    const int bucket = pastBucket(maxPast, limits_.capacity);
    try {
      if (g.greedy)
        runGreedy(g, bucket);
      else
        runSampling(g, bucket);
    } catch (...) {
      // the work enqueued before the failure may still read the pinned records the next step rewrites
      cudaStreamSynchronize(d.stream);
      throw;
    }
    const double seconds = since(t0);

    for (int b = 0; b < B; ++b) {
      ActiveRequest& r = *g.requests[size_t(b)];
      RequestState& st = *g.states[size_t(b)];
      Session& s = session(st.session);
      const int accepted = d.hostOut[records_.acceptedLength() + b];
      const int32_t next = d.hostOut[records_.nextToken() + b];
      const int32_t* drafted = d.hostOut + records_.acceptedTokens() + size_t(b) * std::max(1, L - 1);
      if (observer_ && g.greedy && !g.shape.drafted) observer_(r, d.hostLogits + size_t(b) * dims_.vocab, dims_.vocab);
      r.stats.forwardSeconds += seconds;  // the whole device step: drafting, tree, forward, acceptance, commit
      s.tokens.push_back(st.last);
      for (int k = 0; k < accepted; ++k) s.tokens.push_back(drafted[k]);
      s.length = d.hostOut[records_.newLengths() + b];
      st.last = next;
      const Clock::time_point tEmit = Clock::now();
      std::vector<int32_t> out(drafted, drafted + accepted);
      out.push_back(next);
      r.recordStep(int(out.size()), g.shape.drafted ? g.shape.width : 0, g.shape.drafted ? L : 1);
      r.emit(out.data(), int(out.size()));
      r.stats.otherSeconds += since(tEmit);
    }
  }
}

void CudaBackend::end(ActiveRequest& r) {
  if (auto* st = static_cast<RequestState*>(r.state.get())) {
    if (st->slot >= 0) slotUsed_[size_t(st->slot)] = false;
    pinned_.erase(st->session);
  }
  r.state.reset();
}

void CudaBackend::releaseSession(executor::SessionId id) {
  kv_->release(id);
  sessions_.erase(id);
}

}  // namespace redrafter::cuda::engine
