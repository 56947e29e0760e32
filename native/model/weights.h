// The loaded weights of a decoder-only LLaMA-family model, whatever file they came from (llama2.c .bin v0/v2,
// GGUF v3). Tensors are views into the memory-mapped file wherever the file's layout is usable as is; only
// what must be converted is copied (into `owned`). Matrices are row-major [rows=out, cols=in], except the layer
// matrices that LoadOptions::packMatrices repacks into 16-row panels (Layout::Panels16, model/weight_packing.h).
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace redrafter::cpu {

enum class DType {
  F32,
  F16,
  BF16,
  Q8_0,      // GGUF Q8_0: blocks of 32 { fp16 scale d; int8 q[32] } (34 bytes), value = d * q
  Q8_G_F32,  // llama2.c runq v2: int8 q[rows*cols] at `data`, one float32 scale per `groupSize` values at `scales`;
             // groups run over the flattened tensor (value i*cols+j uses scales[(i*cols+j)/groupSize]), so a group
             // may span two rows when cols % groupSize != 0 (stories260K: w2 has cols 172, group size 32)
};

const char* dtypeName(DType type);

// How a matrix's values are laid out at `data`.
enum class Layout {
  RowMajor,  // W[r, k] at r * cols + k (Q8 types: their blocks or groups, as the file stores them)
  Panels16,  // F32/F16 only (kernels/packed_matmul.h): rows in panels of 16, k-major inside a panel:
             // W[r, k] at ((r / 16) * cols + k) * 16 + r % 16; the last panel is padded with zero rows
};

struct TensorView {
  DType type = DType::F32;
  int64_t rows = 0;  // 1 for vectors
  int64_t cols = 0;
  const void* data = nullptr;
  const float* scales = nullptr;  // Q8_G_F32 only
  int32_t groupSize = 0;          // Q8_G_F32 only
  Layout layout = Layout::RowMajor;
  bool empty() const { return data == nullptr; }
  int64_t elements() const { return rows * cols; }
};

struct ModelConfig {
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
  int32_t headDim() const { return dim / nHeads; }
  int32_t kvDim() const { return headDim() * nKvHeads; }
};

struct LayerWeights {
  TensorView attnNorm;  // [1, dim] F32
  TensorView wq;        // [dim, dim]
  TensorView wk;        // [kvDim, dim]
  TensorView wv;        // [kvDim, dim]
  TensorView wo;        // [dim, dim]
  TensorView ffnNorm;   // [1, dim] F32
  TensorView w1;        // [hiddenDim, dim]  gate
  TensorView w2;        // [dim, hiddenDim]  down
  TensorView w3;        // [hiddenDim, dim]  up
};

struct ModelWeights {
  std::string path;          // the file it came from
  std::string format;        // "llama2c", "llama2c-q8", "gguf"
  ModelConfig config;
  TensorView tokenEmbedding;  // [vocab, dim]
  std::vector<LayerWeights> layers;
  TensorView finalNorm;       // [1, dim] F32
  TensorView output;          // [vocab, dim] (== tokenEmbedding when tied)
  std::shared_ptr<void> mapping;                 // keeps the memory-mapped file alive
  std::vector<std::shared_ptr<void>> owned;      // converted tensors
};

struct LoadOptions {
  // Repack the layers' F32/F16 matrices for the packed matmul (model/weight_packing.h), releasing their mapped pages:
  // what the engine wants; tools that only read tensors by row (convert, inspect) leave it off.
  bool packMatrices = false;
  int32_t threads = 1;  // threads for the packing (0 = all cores)
};

// Loads a model file, detecting its format from its first bytes. Throws redrafter::Error (InvalidModel naming
// the file and the problem, Io, Unsupported) and never reads outside the file.
std::shared_ptr<const ModelWeights> loadModelWeights(const std::string& path, const LoadOptions& options = {});

// One row of the token embedding, dequantised to float32: out [dim].
void embeddingRow(const ModelWeights& weights, int32_t token, float* out);

// One row of the output projection (the classifier: logits = output · final hidden state), float32: out [dim].
void classifierRow(const ModelWeights& weights, int32_t token, float* out);

}  // namespace redrafter::cpu
