// The CUDA engine's own small kernels (kernels.cu): the parts of the LLaMA forward and of the drafter around the
// cuBLAS GEMMs and the ReDrafter launchers. Plain C++ declarations; each returns the launch's cudaError_t. `type`
// is the element type of the `T` buffers (ElemType: f16 or bf16). Shapes in brackets; rows are row-major.
#pragma once
#include <cstdint>
#include <string>

#include <cuda_runtime_api.h>

#include "engine/engine_plan.h"
#include "kv_cache.h"

namespace redrafter::cuda::engine {

// The engine's error text for a launcher that returned `err`: "<what>: <recorded>" where the launcher recorded why
// (launch_error.h's lastLaunchError, passed as `recorded`), else "<what>: <CUDA error name> (<its text>)".
std::string launchFailureMessage(const std::string& what, cudaError_t err, const std::string& recorded);

// x [N, dim] f32 = table [vocab, dim] (T) rows of tokens [N].
cudaError_t launchEmbed(ElemType type, const void* table, const int32_t* tokens, int n, int dim, float* x,
                        cudaStream_t stream);

// out16 [N, dim] (T) and, when out32 is set, out32 [N, dim] f32 = weight * (x / sqrt(mean(x^2) + eps)), row by row,
// as the CPU engine: scale = 1 / sqrt(sum(x^2) / dim + eps), out = w * (scale * x).
cudaError_t launchRmsNorm(ElemType type, const float* x, const float* weight, float eps, int n, int dim, void* out16,
                          float* out32, cudaStream_t stream);

// RoPE on interleaved pairs of every head (pair (2i, 2i+1) of a head of size hd rotates by position * theta^(-2i/hd),
// llama2.c's and GGUF llama's convention) of the queries and keys in qkv [N, dim + 2 kvDim] (q | k | v per row), at
// positions [N]. Writes q16 [N, dim] (T) and, for rows whose t = row % treeTokens < treeLengths[b] (b = row /
// treeTokens), the key and value into the cache (one layer's view) at slot pastLengths[b] + t.
struct RopeCacheParams {
  const float* qkv = nullptr;
  const int32_t* positions = nullptr;    // [N]
  const int32_t* pastLengths = nullptr;  // [B]
  const int32_t* treeLengths = nullptr;  // [B]
  int n = 0, treeTokens = 0, dim = 0, heads = 0, kvHeads = 0, headDim = 0;
  float theta = 10000.f;
  void* q16 = nullptr;
  KvCacheView cache;  // layer 0 of the view is written (pass the layer's base pointers)
};
cudaError_t launchRopeAndCache(ElemType type, const RopeCacheParams& p, cudaStream_t stream);

// g [N, hidden] (T) = silu(h13[:, j]) * h13[:, hidden + j], silu(x) = x / (1 + exp(-x)).
cudaError_t launchSiluMul(ElemType type, const float* h13, int n, int hidden, void* g, cudaStream_t stream);

// out [N] = the lowest index of the largest value of each row of logits [N, vocab] (the CPU engine's argmax).
cudaError_t launchArgmaxRows(const float* logits, int n, int vocab, int32_t* out, cudaStream_t stream);

// positions [B, T] = pastLengths[b] + max(offsets[b, t], 0).
cudaError_t launchTreePositions(const int32_t* pastLengths, const int32_t* offsets, int batch, int treeTokens,
                                int32_t* positions, cudaStream_t stream);

// mask [T, ceil(T/32)]: row t has bits 0..t set (causal), for a prefill chunk of T tokens.
cudaError_t launchCausalMask(int treeTokens, int32_t* mask, cudaStream_t stream);

// slotHidden[slots[b]] (rows of [*, dim]) = hidden[b * treeTokens + acceptedPacked[b, acceptedLength[b]]], the final
// hidden state at the last accepted token of each sequence. acceptedPacked: [B, length].
cudaError_t launchGatherHidden(const float* hidden, const int32_t* acceptedPacked, const int32_t* acceptedLength,
                               const int32_t* slots, int batch, int treeTokens, int length, int dim, float* slotHidden,
                               cudaStream_t stream);

// Moves each sequence's accepted rows (slots past + acceptedPacked[b, k] -> past + k, k < counts[b]; every layer,
// k and v, every head) in place: the commit of a path chosen on the host (sampling). acceptedPacked: [B, length].
cudaError_t launchCommitPath(const KvCacheView& cache, int layers, const int32_t* pastLengths,
                             const int32_t* acceptedPacked, const int32_t* counts, int batch, int length,
                             cudaStream_t stream);

// ---- the drafter ------------------------------------------------------------------------------------------------
// R = batch * width rows, one per beam; H = the drafter's hidden size (the LLM's dim).
// Start of a beam search: in16[r, 0:H] = slotHidden[slots[b]] (T), state [R, H] = 0, beams[r, 0] = lastTokens[b],
// scores [R] = 0. beams: [R, length].
cudaError_t launchDraftInit(ElemType type, const float* slotHidden, const int32_t* slots, const int32_t* lastTokens,
                            int batch, int width, int length, int hiddenSize, void* in16, float* state,
                            int32_t* beams, float* scores, cudaStream_t stream);
// emb16 [R, H] (T) = table rows of beams[r, step]; and in16[r, H:2H] = state [R, H] (the state the recurrent
// update reads, as T).
cudaError_t launchDraftEmbed(ElemType type, const void* table, const int32_t* beams, int rows, int length, int step,
                             int hiddenSize, const float* state, void* emb16, void* in16, cudaStream_t stream);
// The recurrent update after a = rnn_w e + rnn_u s: state = silu(a + bias) (rnn), or state += e (!rnn, a unused);
// in16[r, H:2H] = state (T).
cudaError_t launchDraftState(ElemType type, bool rnn, const float* a, const float* bias, const void* emb16, int rows,
                             int hiddenSize, float* state, void* in16, cudaStream_t stream);
// x [R, 2H] f32 = concat[slotHidden[slots[r / width]], state[r]] and x16 (T) alike: the head's input where the
// drafter has no input projection.
cudaError_t launchDraftConcat(ElemType type, const float* slotHidden, const int32_t* slots, const float* state,
                              int rows, int width, int hiddenSize, float* x, void* x16, cudaStream_t stream);
// x = x + bias (bias may be null), x16 = x (T): after the input projection's GEMM.
cudaError_t launchAddBias(ElemType type, float* x, const float* bias, int rows, int cols, void* x16,
                          cudaStream_t stream);
// A residual block after t = W x16: x += silu(t + bias); x16 = x (T).
cudaError_t launchResidualSilu(ElemType type, float* x, const float* t, const float* bias, int rows, int cols,
                               void* x16, cudaStream_t stream);
// The beams after a beam search step: next[r, 0..step] = cur[src, 0..step], next[r, step + 1] = token[r], stateNext[r]
// = state[src], src = (r / width) * width + parent[r].
cudaError_t launchDraftRegroup(const int32_t* parent, const int32_t* token, const int32_t* cur, const float* state,
                               int rows, int width, int length, int step, int hiddenSize, int32_t* next,
                               float* stateNext, cudaStream_t stream);

}  // namespace redrafter::cuda::engine
