// The loaded weights of a decoder-only LLaMA-family model, whatever file they came from (llama2.c .bin v0/v2,
// GGUF v3). Tensors are views into the memory-mapped file wherever the file's layout is usable as is; only
// what must be converted is copied (into `owned`). Matrices are row-major [rows=out, cols=in], except the layer
// matrices that the CPU engine repacks into 16- or 8-row panels (Layout::Panels16 / Panels8, cpu/engine/weight_packing.h).
// The tensor vocabulary (DType, Layout, TensorView) is core's: core/tensor.h.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace redrafter::model {

// GGUF general.architecture values the engines run. Llama: RoPE on interleaved pairs (GGUF `llama` stores q/k
// permuted for it), optional rope_freqs (Llama 3.1+ rope scaling), tied or untied classifier (Llama 2/3, Mistral).
// Qwen2: q/k/v biases, NeoX RoPE (rotating the two halves of a head). Qwen3: RMS norms of each q and k head, NeoX RoPE.
enum class Architecture { Llama, Qwen2, Qwen3 };
const char* architectureName(Architecture a);  // "llama", "qwen2", "qwen3"

struct ModelConfig {
  Architecture architecture = Architecture::Llama;
  int32_t dim = 0;          // residual width D
  int32_t hiddenDim = 0;    // FFN width
  int32_t nLayers = 0;
  int32_t nHeads = 0;
  int32_t nKvHeads = 0;
  int32_t vocabSize = 0;
  int32_t contextLength = 0;  // the model's trained context (llama2.c seq_len, GGUF llama.context_length)
  float normEps = 1e-5f;
  float ropeTheta = 10000.0f;
  bool tiedClassifier = true;  // output projection shares the token embedding
  bool ropeNeox = false;       // RoPE pairs (i, i + headDim/2) instead of (2i, 2i+1): qwen2, qwen3
  // The width of one attention head when it is not dim / nHeads (GGUF <arch>.attention.key_length: Qwen3 0.6B has
  // dim 1024, 16 heads of 128); 0 = dim / nHeads.
  int32_t headSize = 0;
  int32_t headDim() const { return headSize > 0 ? headSize : dim / nHeads; }
  int32_t qDim() const { return headDim() * nHeads; }    // the queries' (and attention output's) width
  int32_t kvDim() const { return headDim() * nKvHeads; }  // the keys' and values' width
};

struct LayerWeights {
  TensorView attnNorm;  // [1, dim] F32
  TensorView wq;        // [qDim, dim]  (qDim = nHeads * headDim: dim unless the heads are wider)
  TensorView wk;        // [kvDim, dim]
  TensorView wv;        // [kvDim, dim]
  TensorView wo;        // [dim, qDim]
  TensorView ffnNorm;   // [1, dim] F32
  TensorView w1;        // [hiddenDim, dim]  gate
  TensorView w2;        // [dim, hiddenDim]  down
  TensorView w3;        // [hiddenDim, dim]  up
  TensorView bq, bk, bv;  // [1, qDim], [1, kvDim], [1, kvDim] F32 biases (qwen2), empty otherwise
  TensorView qNorm, kNorm;  // [1, headDim] F32 RMS norm weights of each q / k head (qwen3), empty otherwise
};

struct ModelWeights {
  std::string path;          // the file it came from
  std::string format;        // "llama2c", "llama2c-q8", "gguf"
  ModelConfig config;
  TensorView tokenEmbedding;  // [vocab, dim]
  std::vector<LayerWeights> layers;
  TensorView finalNorm;       // [1, dim] F32
  TensorView output;          // [vocab, dim] (== tokenEmbedding when tied)
  TensorView ropeFreqs;       // [1, headDim/2] F32 divisors of each RoPE frequency (GGUF rope_freqs), or empty
  std::shared_ptr<void> mapping;                 // keeps the memory-mapped file alive
  std::vector<std::shared_ptr<void>> owned;      // converted tensors
};

struct LoadOptions {
  // Called once on the freshly loaded weights, before they are shared as const, with the memory-mapped file's bytes
  // [mapBegin, mapEnd): where an engine lays tensors out for its kernels (the CPU engine repacks the layer matrices
  // into 16- or 8-row panels: cpu::loadPackedModelWeights, cpu/engine/weight_packing.h). Tools that only read tensors by
  // row (convert, inspect) leave it empty.
  std::function<void(ModelWeights& weights, const void* mapBegin, const void* mapEnd)> prepare;
};

// Loads a model file, detecting its format from its first bytes. Throws redrafter::Error (InvalidModel naming
// the file and the problem, Io, Unsupported) and never reads outside the file.
std::shared_ptr<const ModelWeights> loadModelWeights(const std::string& path, const LoadOptions& options = {});

// One row of the token embedding, dequantised to float32: out [dim].
void embeddingRow(const ModelWeights& weights, int32_t token, float* out);

// One row of the output projection (the classifier: logits = output · final hidden state), float32: out [dim].
void classifierRow(const ModelWeights& weights, int32_t token, float* out);

}  // namespace redrafter::model
