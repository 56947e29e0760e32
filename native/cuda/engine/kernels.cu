#include "engine/kernels.h"

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cfloat>
#include <climits>

#include "kv_address.cuh"
#include "launch_error.h"

namespace redrafter::cuda::engine {
namespace {

constexpr int kThreads = 256;

template <typename T>
__device__ __forceinline__ float toF(T v);
template <>
__device__ __forceinline__ float toF<__half>(__half v) {
  return __half2float(v);
}
template <>
__device__ __forceinline__ float toF<__nv_bfloat16>(__nv_bfloat16 v) {
  return __bfloat162float(v);
}
template <typename T>
__device__ __forceinline__ T fromF(float v);
template <>
__device__ __forceinline__ __half fromF<__half>(float v) {
  return __float2half_rn(v);
}
template <>
__device__ __forceinline__ __nv_bfloat16 fromF<__nv_bfloat16>(float v) {
  return __float2bfloat16_rn(v);
}

__device__ __forceinline__ float silu(float x) { return x / (1.0f + expf(-x)); }

// Sum over the block (blockDim.x a multiple of 32, at most 1024); every thread gets the total.
__device__ float blockSum(float v) {
  __shared__ float partial[32];
  __shared__ float total;
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  if (lane == 0) partial[warp] = v;
  __syncthreads();
  if (warp == 0) {
    float s = lane < int(blockDim.x / 32) ? partial[lane] : 0.f;
    for (int o = 16; o > 0; o >>= 1) s += __shfl_xor_sync(0xffffffffu, s, o);
    if (lane == 0) total = s;
  }
  __syncthreads();
  return total;
}

unsigned blocksFor(long long n, int threads = kThreads) { return unsigned((n + threads - 1) / threads); }

#define RD_DISPATCH(type, ...)         \
  if ((type) == ElemType::BF16) {      \
    using T = __nv_bfloat16;           \
    __VA_ARGS__;                       \
  } else {                             \
    using T = __half;                  \
    __VA_ARGS__;                       \
  }

// ---- forward ---------------------------------------------------------------------------------------------------

template <typename T>
__global__ void embedKernel(const T* table, const int32_t* tokens, int n, int dim, float* x) {
  const long long total = static_cast<long long>(n) * dim;
  for (long long i = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<long long>(gridDim.x) * blockDim.x) {
    const long long r = i / dim, j = i % dim;
    x[i] = toF(table[static_cast<long long>(tokens[r]) * dim + j]);
  }
}

template <typename T>
__global__ void rmsNormKernel(const float* x, const float* weight, float eps, int dim, T* out16, float* out32) {
  const long long row = blockIdx.x;
  const float* xr = x + row * dim;
  float ss = 0.f;
  for (int j = threadIdx.x; j < dim; j += blockDim.x) ss += xr[j] * xr[j];
  ss = blockSum(ss);
  const float scale = 1.0f / sqrtf(ss / static_cast<float>(dim) + eps);
  for (int j = threadIdx.x; j < dim; j += blockDim.x) {
    const float v = weight[j] * (scale * xr[j]);
    out16[row * dim + j] = fromF<T>(v);
    if (out32) out32[row * dim + j] = v;
  }
}

// The rotation of pair (2i, 2i+1) of a head at `pos`: the CPU engine's ropeTable (float pow, cos, sin).
__device__ __forceinline__ void ropePair(float theta, int d, int headDim, int pos, float& c, float& s) {
  const float freq = 1.0f / powf(theta, static_cast<float>(d) / static_cast<float>(headDim));
  const float angle = static_cast<float>(pos) * freq;
  c = cosf(angle);
  s = sinf(angle);
}

template <typename T>
__global__ void ropeCacheKernel(RopeCacheParams p) {
  const int row = blockIdx.x;
  const int b = row / p.treeTokens, t = row % p.treeTokens;
  const int pos = p.positions[row];
  const int kv = p.kvHeads * p.headDim, width = p.dim + 2 * kv;
  const float* src = p.qkv + static_cast<long long>(row) * width;
  T* q = static_cast<T*>(p.q16) + static_cast<long long>(row) * p.dim;
  for (int i = threadIdx.x; i < p.dim / 2; i += blockDim.x) {
    const int e = 2 * i, d = e % p.headDim;
    float c, s;
    ropePair(p.theta, d, p.headDim, pos, c, s);
    const float v0 = src[e], v1 = src[e + 1];
    q[e] = fromF<T>(v0 * c - v1 * s);
    q[e + 1] = fromF<T>(v0 * s + v1 * c);
  }
  if (t >= p.treeLengths[b]) return;
  const int slot = p.pastLengths[b] + t;
  T* kc = static_cast<T*>(p.cache.k);
  T* vc = static_cast<T*>(p.cache.v);
  const float* k = src + p.dim;
  const float* v = k + kv;
  for (int i = threadIdx.x; i < kv / 2; i += blockDim.x) {
    const int e = 2 * i, h = e / p.headDim, d = e % p.headDim;
    float c, s;
    ropePair(p.theta, d, p.headDim, pos, c, s);
    const float v0 = k[e], v1 = k[e + 1];
    const long long at = kvRowOffset(p.cache, 0, b, h, slot) + d;
    kc[at] = fromF<T>(v0 * c - v1 * s);
    kc[at + 1] = fromF<T>(v0 * s + v1 * c);
  }
  for (int e = threadIdx.x; e < kv; e += blockDim.x) {
    const int h = e / p.headDim, d = e % p.headDim;
    vc[kvRowOffset(p.cache, 0, b, h, slot) + d] = fromF<T>(v[e]);
  }
}

template <typename T>
__global__ void siluMulKernel(const float* h13, int n, int hidden, T* g) {
  const long long total = static_cast<long long>(n) * hidden;
  for (long long i = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<long long>(gridDim.x) * blockDim.x) {
    const long long r = i / hidden, j = i % hidden;
    const float* row = h13 + r * 2 * hidden;
    g[i] = fromF<T>(silu(row[j]) * row[hidden + j]);
  }
}

__device__ __forceinline__ bool better(float v, int i, float bv, int bi) {
  return v > bv || (v == bv && i < bi);
}

__global__ void argmaxKernel(const float* logits, int vocab, int32_t* out) {
  __shared__ float sv[32];
  __shared__ int si[32];
  const float* row = logits + static_cast<long long>(blockIdx.x) * vocab;
  float bv = -FLT_MAX;
  int bi = INT_MAX;
  for (int i = threadIdx.x; i < vocab; i += blockDim.x)
    if (better(row[i], i, bv, bi)) bv = row[i], bi = i;
  for (int o = 16; o > 0; o >>= 1) {
    const float ov = __shfl_xor_sync(0xffffffffu, bv, o);
    const int oi = __shfl_xor_sync(0xffffffffu, bi, o);
    if (better(ov, oi, bv, bi)) bv = ov, bi = oi;
  }
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  if (lane == 0) sv[warp] = bv, si[warp] = bi;
  __syncthreads();
  if (warp == 0) {
    bv = lane < int(blockDim.x / 32) ? sv[lane] : -FLT_MAX;
    bi = lane < int(blockDim.x / 32) ? si[lane] : INT_MAX;
    for (int o = 16; o > 0; o >>= 1) {
      const float ov = __shfl_xor_sync(0xffffffffu, bv, o);
      const int oi = __shfl_xor_sync(0xffffffffu, bi, o);
      if (better(ov, oi, bv, bi)) bv = ov, bi = oi;
    }
    if (lane == 0) out[blockIdx.x] = bi == INT_MAX ? 0 : bi;  // a row of NaNs: 0, as the CPU's argmax
  }
}

__global__ void treePositionsKernel(const int32_t* past, const int32_t* offsets, int batch, int treeTokens,
                                    int32_t* positions) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= batch * treeTokens) return;
  const int o = offsets[i];
  positions[i] = past[i / treeTokens] + (o > 0 ? o : 0);
}

__global__ void causalMaskKernel(int treeTokens, int32_t* mask) {
  const int words = (treeTokens + 31) / 32;
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= treeTokens * words) return;
  const int t = i / words, w = i % words;
  const int first = w * 32;  // bits j = first .. first + 31 of row t: set where j <= t
  uint32_t bits;
  if (t >= first + 31) bits = 0xffffffffu;
  else if (t < first) bits = 0u;
  else bits = (t - first == 31) ? 0xffffffffu : ((1u << (t - first + 1)) - 1u);
  mask[i] = static_cast<int32_t>(bits);
}

__global__ void gatherHiddenKernel(const float* hidden, const int32_t* acceptedPacked, const int32_t* acceptedLength,
                                   const int32_t* slots, int treeTokens, int length, int dim, float* slotHidden) {
  const int b = blockIdx.x;
  const int packed = acceptedPacked[b * length + acceptedLength[b]];
  const float* src = hidden + (static_cast<long long>(b) * treeTokens + packed) * dim;
  float* dst = slotHidden + static_cast<long long>(slots[b]) * dim;
  for (int j = threadIdx.x; j < dim; j += blockDim.x) dst[j] = src[j];
}

// grid (layers * 2 * kvHeads, batch): each block moves its (layer, k|v, head)'s accepted rows, all reads first.
__global__ void commitPathKernel(KvCacheView cache, const int32_t* past, const int32_t* acceptedPacked,
                                 const int32_t* counts, int length) {
  extern __shared__ uint16_t rows[];  // [length, headDim]
  const int b = blockIdx.y, H = cache.kvHeads, unit = blockIdx.x;
  const int layer = unit / (2 * H), which = (unit / H) % 2, h = unit % H;
  uint16_t* base = static_cast<uint16_t*>(which ? cache.v : cache.k);
  const int count = counts[b], p0 = past[b], hd = cache.headDim;
  const int32_t* path = acceptedPacked + b * length;
  for (int i = threadIdx.x; i < count * hd; i += blockDim.x) {
    const int k = i / hd, d = i % hd;
    rows[i] = base[kvRowOffset(cache, layer, b, h, p0 + path[k]) + d];
  }
  __syncthreads();
  for (int i = threadIdx.x; i < count * hd; i += blockDim.x) {
    const int k = i / hd, d = i % hd;
    if (path[k] != k) base[kvRowOffset(cache, layer, b, h, p0 + k) + d] = rows[i];
  }
}

// ---- drafter -----------------------------------------------------------------------------------------------------

template <typename T>
__global__ void draftInitKernel(const float* slotHidden, const int32_t* slots, const int32_t* lastTokens, int width,
                                int length, int H, T* in16, float* state, int32_t* beams, float* scores) {
  const int r = blockIdx.x, b = r / width;
  const float* h = slotHidden + static_cast<long long>(slots[b]) * H;
  for (int j = threadIdx.x; j < H; j += blockDim.x) {
    in16[static_cast<long long>(r) * 2 * H + j] = fromF<T>(h[j]);
    state[static_cast<long long>(r) * H + j] = 0.f;
  }
  if (threadIdx.x == 0) {
    beams[static_cast<long long>(r) * length] = lastTokens[b];
    scores[r] = 0.f;
  }
}

template <typename T>
__global__ void draftEmbedKernel(const T* table, const int32_t* beams, int length, int step, int H, const float* state,
                                 T* emb16, T* in16) {
  const int r = blockIdx.x;
  const long long token = beams[static_cast<long long>(r) * length + step];
  for (int j = threadIdx.x; j < H; j += blockDim.x) {
    emb16[static_cast<long long>(r) * H + j] = table[token * H + j];
    in16[static_cast<long long>(r) * 2 * H + H + j] = fromF<T>(state[static_cast<long long>(r) * H + j]);
  }
}

template <typename T>
__global__ void draftStateKernel(bool rnn, const float* a, const float* bias, const T* emb16, int H, float* state,
                                 T* in16) {
  const int r = blockIdx.x;
  for (int j = threadIdx.x; j < H; j += blockDim.x) {
    const long long i = static_cast<long long>(r) * H + j;
    const float s = rnn ? silu(a[i] + bias[j]) : state[i] + toF(emb16[i]);
    state[i] = s;
    in16[static_cast<long long>(r) * 2 * H + H + j] = fromF<T>(s);
  }
}

template <typename T>
__global__ void draftConcatKernel(const float* slotHidden, const int32_t* slots, const float* state, int width, int H,
                                  float* x, T* x16) {
  const int r = blockIdx.x;
  const float* h = slotHidden + static_cast<long long>(slots[r / width]) * H;
  for (int j = threadIdx.x; j < 2 * H; j += blockDim.x) {
    const float v = j < H ? h[j] : state[static_cast<long long>(r) * H + j - H];
    x[static_cast<long long>(r) * 2 * H + j] = v;
    x16[static_cast<long long>(r) * 2 * H + j] = fromF<T>(v);
  }
}

template <typename T>
__global__ void addBiasKernel(float* x, const float* bias, int rows, int cols, T* x16) {
  const long long total = static_cast<long long>(rows) * cols;
  for (long long i = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<long long>(gridDim.x) * blockDim.x) {
    const float v = x[i] + (bias ? bias[i % cols] : 0.f);
    x[i] = v;
    x16[i] = fromF<T>(v);
  }
}

template <typename T>
__global__ void residualSiluKernel(float* x, const float* t, const float* bias, int rows, int cols, T* x16) {
  const long long total = static_cast<long long>(rows) * cols;
  for (long long i = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<long long>(gridDim.x) * blockDim.x) {
    const float v = x[i] + silu(t[i] + (bias ? bias[i % cols] : 0.f));
    x[i] = v;
    x16[i] = fromF<T>(v);
  }
}

__global__ void draftRegroupKernel(const int32_t* parent, const int32_t* token, const int32_t* cur, const float* state,
                                   int width, int length, int step, int H, int32_t* next, float* stateNext) {
  const int r = blockIdx.x;
  const int src = (r / width) * width + parent[r];
  for (int l = threadIdx.x; l <= step; l += blockDim.x)
    next[static_cast<long long>(r) * length + l] = cur[static_cast<long long>(src) * length + l];
  if (threadIdx.x == 0) next[static_cast<long long>(r) * length + step + 1] = token[r];
  for (int j = threadIdx.x; j < H; j += blockDim.x)
    stateNext[static_cast<long long>(r) * H + j] = state[static_cast<long long>(src) * H + j];
}

// The launch's outcome, recorded for lastLaunchError() as the ReDrafter launchers do ("" on success, else the
// launcher and the CUDA error), so that a failure names itself rather than an earlier launcher's message.
cudaError_t finished(const char* launcher) { return cuda::detail::finishLaunch(launcher, cudaGetLastError()); }

unsigned gridFor(long long total) {
  const long long blocks = (total + kThreads - 1) / kThreads;
  return unsigned(blocks < 65535 * 8 ? (blocks > 0 ? blocks : 1) : 65535 * 8);
}

}  // namespace

std::string launchFailureMessage(const std::string& what, cudaError_t err, const std::string& recorded) {
  if (!recorded.empty()) return what + ": " + recorded;
  return what + ": " + cudaGetErrorName(err) + " (" + cudaGetErrorString(err) + ")";
}

cudaError_t launchEmbed(ElemType type, const void* table, const int32_t* tokens, int n, int dim, float* x,
                        cudaStream_t stream) {
  RD_DISPATCH(type, embedKernel<T><<<gridFor(1LL * n * dim), kThreads, 0, stream>>>(static_cast<const T*>(table),
                                                                                     tokens, n, dim, x));
  return finished("launchEmbed");
}

cudaError_t launchRmsNorm(ElemType type, const float* x, const float* weight, float eps, int n, int dim, void* out16,
                          float* out32, cudaStream_t stream) {
  RD_DISPATCH(type, rmsNormKernel<T><<<n, kThreads, 0, stream>>>(x, weight, eps, dim, static_cast<T*>(out16), out32));
  return finished("launchRmsNorm");
}

cudaError_t launchRopeAndCache(ElemType type, const RopeCacheParams& p, cudaStream_t stream) {
  RD_DISPATCH(type, ropeCacheKernel<T><<<p.n, 128, 0, stream>>>(p));
  return finished("launchRopeAndCache");
}

cudaError_t launchSiluMul(ElemType type, const float* h13, int n, int hidden, void* g, cudaStream_t stream) {
  RD_DISPATCH(type, siluMulKernel<T><<<gridFor(1LL * n * hidden), kThreads, 0, stream>>>(h13, n, hidden,
                                                                                        static_cast<T*>(g)));
  return finished("launchSiluMul");
}

cudaError_t launchArgmaxRows(const float* logits, int n, int vocab, int32_t* out, cudaStream_t stream) {
  argmaxKernel<<<n, kThreads, 0, stream>>>(logits, vocab, out);
  return finished("launchArgmaxRows");
}

cudaError_t launchTreePositions(const int32_t* pastLengths, const int32_t* offsets, int batch, int treeTokens,
                                int32_t* positions, cudaStream_t stream) {
  treePositionsKernel<<<blocksFor(1LL * batch * treeTokens), kThreads, 0, stream>>>(pastLengths, offsets, batch,
                                                                                    treeTokens, positions);
  return finished("launchTreePositions");
}

cudaError_t launchCausalMask(int treeTokens, int32_t* mask, cudaStream_t stream) {
  const long long n = 1LL * treeTokens * ((treeTokens + 31) / 32);
  causalMaskKernel<<<blocksFor(n), kThreads, 0, stream>>>(treeTokens, mask);
  return finished("launchCausalMask");
}

cudaError_t launchGatherHidden(const float* hidden, const int32_t* acceptedPacked, const int32_t* acceptedLength,
                               const int32_t* slots, int batch, int treeTokens, int length, int dim, float* slotHidden,
                               cudaStream_t stream) {
  gatherHiddenKernel<<<batch, kThreads, 0, stream>>>(hidden, acceptedPacked, acceptedLength, slots, treeTokens, length,
                                                      dim, slotHidden);
  return finished("launchGatherHidden");
}

cudaError_t launchCommitPath(const KvCacheView& cache, int layers, const int32_t* pastLengths,
                             const int32_t* acceptedPacked, const int32_t* counts, int batch, int length,
                             cudaStream_t stream) {
  const size_t shared = sizeof(uint16_t) * size_t(length) * size_t(cache.headDim);
  dim3 grid(unsigned(layers * 2 * cache.kvHeads), unsigned(batch));
  commitPathKernel<<<grid, kThreads, shared, stream>>>(cache, pastLengths, acceptedPacked, counts, length);
  return finished("launchCommitPath");
}

cudaError_t launchDraftInit(ElemType type, const float* slotHidden, const int32_t* slots, const int32_t* lastTokens,
                            int batch, int width, int length, int hiddenSize, void* in16, float* state,
                            int32_t* beams, float* scores, cudaStream_t stream) {
  RD_DISPATCH(type, draftInitKernel<T><<<batch * width, kThreads, 0, stream>>>(
                        slotHidden, slots, lastTokens, width, length, hiddenSize, static_cast<T*>(in16), state, beams,
                        scores));
  return finished("launchDraftInit");
}

cudaError_t launchDraftEmbed(ElemType type, const void* table, const int32_t* beams, int rows, int length, int step,
                             int hiddenSize, const float* state, void* emb16, void* in16, cudaStream_t stream) {
  RD_DISPATCH(type, draftEmbedKernel<T><<<rows, kThreads, 0, stream>>>(static_cast<const T*>(table), beams, length,
                                                                       step, hiddenSize, state,
                                                                       static_cast<T*>(emb16), static_cast<T*>(in16)));
  return finished("launchDraftEmbed");
}

cudaError_t launchDraftState(ElemType type, bool rnn, const float* a, const float* bias, const void* emb16, int rows,
                             int hiddenSize, float* state, void* in16, cudaStream_t stream) {
  RD_DISPATCH(type, draftStateKernel<T><<<rows, kThreads, 0, stream>>>(rnn, a, bias, static_cast<const T*>(emb16),
                                                                       hiddenSize, state, static_cast<T*>(in16)));
  return finished("launchDraftState");
}

cudaError_t launchDraftConcat(ElemType type, const float* slotHidden, const int32_t* slots, const float* state,
                              int rows, int width, int hiddenSize, float* x, void* x16, cudaStream_t stream) {
  RD_DISPATCH(type, draftConcatKernel<T><<<rows, kThreads, 0, stream>>>(slotHidden, slots, state, width, hiddenSize,
                                                                        x, static_cast<T*>(x16)));
  return finished("launchDraftConcat");
}

cudaError_t launchAddBias(ElemType type, float* x, const float* bias, int rows, int cols, void* x16,
                          cudaStream_t stream) {
  RD_DISPATCH(type, addBiasKernel<T><<<gridFor(1LL * rows * cols), kThreads, 0, stream>>>(x, bias, rows, cols,
                                                                                         static_cast<T*>(x16)));
  return finished("launchAddBias");
}

cudaError_t launchResidualSilu(ElemType type, float* x, const float* t, const float* bias, int rows, int cols,
                               void* x16, cudaStream_t stream) {
  RD_DISPATCH(type, residualSiluKernel<T><<<gridFor(1LL * rows * cols), kThreads, 0, stream>>>(
                        x, t, bias, rows, cols, static_cast<T*>(x16)));
  return finished("launchResidualSilu");
}

cudaError_t launchDraftRegroup(const int32_t* parent, const int32_t* token, const int32_t* cur, const float* state,
                               int rows, int width, int length, int step, int hiddenSize, int32_t* next,
                               float* stateNext, cudaStream_t stream) {
  draftRegroupKernel<<<rows, kThreads, 0, stream>>>(parent, token, cur, state, width, length, step, hiddenSize, next,
                                                    stateNext);
  return finished("launchDraftRegroup");
}

}  // namespace redrafter::cuda::engine
