// GGUF model loader for the architectures `llama`, `qwen2` and `qwen3` (weights.h: Architecture): <arch>.*
// hyperparameters (attention.key_length: heads wider than dim / heads), token_embd / blk.N.* / output_norm / output
// tensors (output.weight absent = tied classifier), qwen2's attn_{q,k,v}.bias, qwen3's attn_{q,k}_norm, llama's
// optional rope_freqs. Matrices of F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q5_K or Q6_K are views into the mapping; vectors
// (norms, biases, rope_freqs) are used as F32 (F16/BF16 ones are
// converted into owned copies).
#include <cstring>

#include "core/error.h"
#include "model/gguf_reader.h"
#include "model/half.h"
#include "model/loaders.h"

namespace redrafter::model {

namespace {

struct Builder {
  const GgufFile& g;
  ModelWeights& w;

  const GgufTensorInfo& tensor(const std::string& name) const {
    const GgufTensorInfo* t = g.findTensor(name);
    if (!t) g.invalid("tensor '" + name + "' is missing");
    return *t;
  }

  void checkShape(const GgufTensorInfo& t, int64_t rows, int64_t cols) const {
    bool ok = t.ne[0] == uint64_t(cols) && t.ne[2] == 1 && t.ne[3] == 1 &&
              (rows == 1 ? t.ne[1] == 1 : t.ne[1] == uint64_t(rows));
    if (!ok)
      g.invalid("tensor '" + t.name + "' has shape [" + std::to_string(t.ne[0]) + ", " + std::to_string(t.ne[1]) +
                ", " + std::to_string(t.ne[2]) + ", " + std::to_string(t.ne[3]) + "] but the config needs [" +
                std::to_string(cols) + ", " + std::to_string(rows) + "] (GGUF order: columns first)");
  }

  // A matrix [rows, cols] of F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q5_K or Q6_K (the reader checked that a row is whole
  // blocks of its type).
  TensorView matrix(const std::string& name, int64_t rows, int64_t cols) {
    const GgufTensorInfo& t = tensor(name);
    checkShape(t, rows, cols);
    TensorView v;
    v.rows = rows;
    v.cols = cols;
    v.data = t.data;
    size_t align = 1;
    switch (GgmlType(t.type)) {
      case GgmlType::F32: v.type = DType::F32; align = 4; break;
      case GgmlType::F16: v.type = DType::F16; align = 2; break;
      case GgmlType::BF16: v.type = DType::BF16; align = 2; break;
      case GgmlType::Q8_0: v.type = DType::Q8_0; break;
      case GgmlType::Q4_0: v.type = DType::Q4_0; break;
      case GgmlType::Q4_K: v.type = DType::Q4_K; break;
      case GgmlType::Q5_K: v.type = DType::Q5_K; break;
      case GgmlType::Q6_K: v.type = DType::Q6_K; break;
      default:
        fail(ErrorCode::Unsupported, g.path() + ": tensor '" + name + "' has type " + ggmlTypeTraits(t.type)->name +
                                         " (supported: f32, f16, bf16, q8_0, q4_0, q4_k, q5_k, q6_k)");
    }
    if (reinterpret_cast<uintptr_t>(t.data) % align != 0) {  // only with general.alignment < 4: copy
      auto copy = std::shared_ptr<uint8_t>(new uint8_t[t.bytes + 8], std::default_delete<uint8_t[]>());
      uint8_t* p = copy.get() + (8 - reinterpret_cast<uintptr_t>(copy.get()) % 8) % 8;
      std::memcpy(p, t.data, t.bytes);
      w.owned.push_back(copy);
      v.data = p;
    }
    return v;
  }

  // A vector [1, n] as F32 (converted when stored as F16/BF16).
  TensorView norm(const std::string& name, int64_t n) {
    const GgufTensorInfo& t = tensor(name);
    checkShape(t, 1, n);
    TensorView v;
    v.type = DType::F32;
    v.rows = 1;
    v.cols = n;
    GgmlType type = GgmlType(t.type);
    if (type == GgmlType::F32 && reinterpret_cast<uintptr_t>(t.data) % 4 == 0) {
      v.data = t.data;
      return v;
    }
    if (type != GgmlType::F32 && type != GgmlType::F16 && type != GgmlType::BF16)
      fail(ErrorCode::Unsupported, g.path() + ": norm tensor '" + name + "' has type " +
                                       ggmlTypeTraits(t.type)->name + " (supported: f32, f16, bf16)");
    auto copy = std::shared_ptr<float>(new float[n], std::default_delete<float[]>());
    for (int64_t i = 0; i < n; ++i) {
      if (type == GgmlType::F32) {
        std::memcpy(copy.get() + i, t.data + 4 * i, 4);
      } else {
        uint16_t h;
        std::memcpy(&h, t.data + 2 * i, 2);
        copy.get()[i] = type == GgmlType::F16 ? fp16ToF32(h) : bf16ToF32(h);
      }
    }
    w.owned.push_back(copy);
    v.data = copy.get();
    return v;
  }
};

}  // namespace

ModelConfig ggufModelConfig(const GgufFile& g) {
  const std::string arch = g.getString("general.architecture", "", true);
  ModelConfig c;
  if (arch == "llama") {
    c.architecture = Architecture::Llama;
  } else if (arch == "qwen2") {
    c.architecture = Architecture::Qwen2;
  } else if (arch == "qwen3") {
    c.architecture = Architecture::Qwen3;
  } else {
    fail(ErrorCode::Unsupported,
         g.path() + ": general.architecture = \"" + arch + "\" is not supported (supported: llama, qwen2, qwen3)");
  }
  c.ropeNeox = c.architecture != Architecture::Llama;
  const std::string a = arch + ".";
  c.dim = int32_t(g.getUint(a + "embedding_length", 0, true, kMaxDim));
  c.hiddenDim = int32_t(g.getUint(a + "feed_forward_length", 0, true, kMaxHiddenDim));
  c.nLayers = int32_t(g.getUint(a + "block_count", 0, true, kMaxLayers));
  c.nHeads = int32_t(g.getUint(a + "attention.head_count", 0, true, kMaxDim));
  c.nKvHeads = int32_t(g.getUint(a + "attention.head_count_kv", uint64_t(c.nHeads), false, kMaxDim));
  c.contextLength = int32_t(g.getUint(a + "context_length", 0, true, kMaxContext));
  c.normEps = float(g.getFloat(a + "attention.layer_norm_rms_epsilon", 1e-5, false));
  c.ropeTheta = float(g.getFloat(a + "rope.freq_base", 10000.0, false));
  const std::string scaling = g.getString(a + "rope.scaling.type", "none", false);
  if (scaling != "none")
    fail(ErrorCode::Unsupported, g.path() + ": " + a + "rope.scaling.type = \"" + scaling +
                                     "\" is not supported (supported: none; Llama 3's scaling comes as rope_freqs)");
  // Heads as wide as attention.key_length (Qwen3 0.6B: 128, with dim 1024 and 16 heads); values as wide as keys
  if (g.find(a + "attention.key_length") && c.nHeads > 0) {
    const uint64_t k = g.getUint(a + "attention.key_length", 0, false, kMaxDim);
    if (c.dim % c.nHeads != 0 || k != uint64_t(c.dim / c.nHeads)) c.headSize = int32_t(k);
  }
  if (g.find(a + "attention.value_length") && c.nHeads > 0) {
    const uint64_t v = g.getUint(a + "attention.value_length", 0, false, kMaxDim);
    if (v != uint64_t(c.headDim()))
      fail(ErrorCode::Unsupported, g.path() + ": " + a + "attention.value_length = " + std::to_string(v) +
                                       " is not supported (supported: the key width " + std::to_string(c.headDim()) +
                                       ")");
  }
  const GgufTensorInfo* embd = g.findTensor("token_embd.weight");
  if (!embd) g.invalid("tensor 'token_embd.weight' is missing");
  if (embd->ne[1] > uint64_t(kMaxVocab)) g.invalid("token_embd.weight has an absurd vocabulary of " + std::to_string(embd->ne[1]));
  c.vocabSize = int32_t(embd->ne[1]);
  if (g.find(a + "vocab_size")) {
    uint64_t n = g.getUint(a + "vocab_size", 0, false, kMaxVocab);
    if (n != uint64_t(c.vocabSize))
      g.invalid(a + "vocab_size " + std::to_string(n) + " differs from token_embd.weight's " + std::to_string(c.vocabSize) + " rows");
  }
  c.tiedClassifier = g.findTensor("output.weight") == nullptr;
  validateConfig(c, g.path());
  uint64_t rot = g.getUint(a + "rope.dimension_count", uint64_t(c.headDim()), false, kMaxDim);
  if (rot != uint64_t(c.headDim()))
    fail(ErrorCode::Unsupported, g.path() + ": " + a + "rope.dimension_count = " + std::to_string(rot) +
                                     " is not supported (supported: the head size " + std::to_string(c.headDim()) +
                                     "; partial RoPE)");
  return c;
}

std::shared_ptr<ModelWeights> loadGgufModel(const std::shared_ptr<MappedFile>& file) {
  auto g = GgufFile::parse(file);
  auto w = std::make_shared<ModelWeights>();
  w->path = file->path();
  w->format = "gguf";
  w->config = ggufModelConfig(*g);
  const ModelConfig& c = w->config;
  Builder b{*g, *w};
  // 9 tensors per layer, with token_embd and output_norm: a block_count the file cannot back fails before anything
  // is allocated for it
  const uint64_t needed = 9ull * uint64_t(c.nLayers) + 2;
  if (g->tensors().size() < needed)
    g->invalid("llama.block_count " + std::to_string(c.nLayers) + " needs at least " + std::to_string(needed) +
               " tensors, the file has " + std::to_string(g->tensors().size()));
  w->tokenEmbedding = b.matrix("token_embd.weight", c.vocabSize, c.dim);
  w->layers.resize(c.nLayers);
  for (int32_t l = 0; l < c.nLayers; ++l) {
    std::string p = "blk." + std::to_string(l) + ".";
    LayerWeights& L = w->layers[l];
    L.attnNorm = b.norm(p + "attn_norm.weight", c.dim);
    L.wq = b.matrix(p + "attn_q.weight", c.qDim(), c.dim);
    L.wk = b.matrix(p + "attn_k.weight", c.kvDim(), c.dim);
    L.wv = b.matrix(p + "attn_v.weight", c.kvDim(), c.dim);
    L.wo = b.matrix(p + "attn_output.weight", c.dim, c.qDim());
    L.ffnNorm = b.norm(p + "ffn_norm.weight", c.dim);
    L.w1 = b.matrix(p + "ffn_gate.weight", c.hiddenDim, c.dim);
    L.w2 = b.matrix(p + "ffn_down.weight", c.dim, c.hiddenDim);
    L.w3 = b.matrix(p + "ffn_up.weight", c.hiddenDim, c.dim);
    if (c.architecture == Architecture::Qwen2) {
      L.bq = b.norm(p + "attn_q.bias", c.qDim());
      L.bk = b.norm(p + "attn_k.bias", c.kvDim());
      L.bv = b.norm(p + "attn_v.bias", c.kvDim());
    }
    if (c.architecture == Architecture::Qwen3) {
      L.qNorm = b.norm(p + "attn_q_norm.weight", c.headDim());
      L.kNorm = b.norm(p + "attn_k_norm.weight", c.headDim());
    }
  }
  if (c.architecture == Architecture::Llama && g->findTensor("rope_freqs.weight"))
    w->ropeFreqs = b.norm("rope_freqs.weight", c.headDim() / 2);
  w->finalNorm = b.norm("output_norm.weight", c.dim);
  w->output = c.tiedClassifier ? w->tokenEmbedding : b.matrix("output.weight", c.vocabSize, c.dim);
  w->mapping = file;
  return w;
}

}  // namespace redrafter::model
