// loadModelWeights: format detection and the checks every loader shares; embeddingRow.
#include "model/weights.h"

#include <cstring>

#include "core/error.h"
#include "model/dequantize.h"
#include "model/half.h"
#include "model/loaders.h"

namespace redrafter::model {

const char* architectureName(Architecture a) {
  switch (a) {
    case Architecture::Llama: return "llama";
    case Architecture::Qwen2: return "qwen2";
    case Architecture::Qwen3: return "qwen3";
  }
  return "llama";
}

void validateConfig(const ModelConfig& c, const std::string& path) {
  auto bad = [&](const std::string& problem) { fail(ErrorCode::InvalidModel, path + ": " + problem); };
  auto range = [&](const char* name, int64_t value, int64_t max) {
    if (value <= 0 || value > max)
      bad(std::string(name) + " is " + std::to_string(value) + " (must be in 1.." + std::to_string(max) + ")");
  };
  range("dim", c.dim, kMaxDim);
  range("hidden_dim", c.hiddenDim, kMaxHiddenDim);
  range("n_layers", c.nLayers, kMaxLayers);
  range("n_heads", c.nHeads, c.dim > 0 ? c.dim : 1);
  range("n_kv_heads", c.nKvHeads, c.nHeads > 0 ? c.nHeads : 1);
  range("vocab_size", c.vocabSize, kMaxVocab);
  range("context_length", c.contextLength, kMaxContext);
  if (c.headSize != 0) range("head size", c.headSize, kMaxDim);
  else if (c.dim % c.nHeads != 0)
    bad("dim " + std::to_string(c.dim) + " is not a multiple of n_heads " + std::to_string(c.nHeads));
  if (c.nHeads % c.nKvHeads != 0)
    bad("n_heads " + std::to_string(c.nHeads) + " is not a multiple of n_kv_heads " + std::to_string(c.nKvHeads));
  if (c.headDim() % 2 != 0) bad("head size " + std::to_string(c.headDim()) + " is odd (RoPE rotates pairs)");
  if (!(c.normEps > 0.0f && c.normEps < 1.0f)) bad("the RMSNorm epsilon " + std::to_string(c.normEps) + " is not in (0, 1)");
  if (!(c.ropeTheta > 0.0f && c.ropeTheta < 1e12f)) bad("the RoPE theta " + std::to_string(c.ropeTheta) + " is not positive and finite");
}

std::shared_ptr<const ModelWeights> loadModelWeights(const std::string& path, const LoadOptions& options) {
  auto file = MappedFile::open(path);
  std::shared_ptr<ModelWeights> w =
      file->size() >= 4 && std::memcmp(file->data(), "GGUF", 4) == 0 ? loadGgufModel(file) : loadLlama2c(file);
  if (options.prepare) options.prepare(*w, file->data(), file->data() + file->size());
  return w;
}

namespace {

// Row `token` of a [vocab, dim] matrix, dequantised to float32.
void matrixRow(const TensorView& e, int32_t token, float* out) {
  if (token < 0 || token >= e.rows)
    fail(ErrorCode::InvalidArgument,
         "token " + std::to_string(token) + " is outside the vocabulary (0.." + std::to_string(e.rows - 1) + ")");
  if (e.layout != Layout::RowMajor)  // never packed (weight_packing.h), so this is a programming error
    fail(ErrorCode::Internal, "matrixRow: the embedding or classifier was packed");
  const int64_t cols = e.cols;
  switch (e.type) {
    case DType::F32:
      std::memcpy(out, static_cast<const float*>(e.data) + token * cols, sizeof(float) * cols);
      return;
    case DType::F16: {
      const uint8_t* row = static_cast<const uint8_t*>(e.data) + 2 * token * cols;
      for (int64_t i = 0; i < cols; ++i) {
        uint16_t h;
        std::memcpy(&h, row + 2 * i, 2);
        out[i] = fp16ToF32(h);
      }
      return;
    }
    case DType::BF16: {
      const uint8_t* row = static_cast<const uint8_t*>(e.data) + 2 * token * cols;
      for (int64_t i = 0; i < cols; ++i) {
        uint16_t h;
        std::memcpy(&h, row + 2 * i, 2);
        out[i] = bf16ToF32(h);
      }
      return;
    }
    case DType::Q8_0: {  // cols % 32 == 0 (checked by the loader): blocks of { fp16 d; int8 q[32] }
      const uint8_t* row = static_cast<const uint8_t*>(e.data) + 34 * (token * cols / 32);
      for (int64_t b = 0; b < cols / 32; ++b) {
        const uint8_t* block = row + 34 * b;
        uint16_t d16;
        std::memcpy(&d16, block, 2);
        float d = fp16ToF32(d16);
        const int8_t* q = reinterpret_cast<const int8_t*>(block + 2);
        for (int i = 0; i < 32; ++i) out[32 * b + i] = d * float(q[i]);
      }
      return;
    }
    case DType::Q8_G_F32: {  // groups run over the flattened tensor: scale index = flat index / groupSize
      const int8_t* q = static_cast<const int8_t*>(e.data);
      const int64_t base = int64_t(token) * cols;
      for (int64_t i = 0; i < cols; ++i) out[i] = float(q[base + i]) * e.scales[(base + i) / e.groupSize];
      return;
    }
    case DType::Q4_0:
    case DType::Q4_K:
    case DType::Q5_K:
    case DType::Q6_K: return dequantizeRow(e, token, out);
  }
  fail(ErrorCode::Internal, "matrixRow: unknown tensor type");
}

}  // namespace

void embeddingRow(const ModelWeights& weights, int32_t token, float* out) { matrixRow(weights.tokenEmbedding, token, out); }

void classifierRow(const ModelWeights& weights, int32_t token, float* out) { matrixRow(weights.output, token, out); }

}  // namespace redrafter::model
