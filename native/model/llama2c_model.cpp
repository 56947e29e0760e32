// llama2.c checkpoint loaders (karpathy/llama2.c export.py):
//   v0 (legacy): int32 dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size (negative = untied classifier),
//       seq_len; float32 token_embedding [vocab, dim], rms_att [L, dim], wq [L, dim, dim], wk [L, kvDim, dim],
//       wv [L, kvDim, dim], wo [L, dim, dim], rms_ffn [L, dim], w1 [L, hidden, dim], w2 [L, dim, hidden],
//       w3 [L, hidden, dim], rms_final [dim], freq_cis_real/imag [seq_len, headDim/2] (unused), then wcls
//       [vocab, dim] when untied.
//   v1/v2: 256-byte header: uint32 magic 0x616b3432 ("ak42"), int32 version, the 7 int32 above (vocab positive),
//       uint8 shared_classifier, (v2) int32 group_size, zero padding. Then float32 rms_att [L, dim],
//       rms_ffn [L, dim], rms_final [dim]; then the matrices token_embedding, wq[L], wk[L], wv[L], wo[L], w1[L],
//       w2[L], w3[L], (wcls if untied): v1 as float32; v2 each as int8 q[numel] followed by its float32 scales
//       [numel / group_size] (one per group of the flattened tensor).
#include <cstring>
#include <vector>

#include "model/byte_reader.h"
#include "model/loaders.h"

namespace redrafter::model {

namespace {

constexpr uint32_t kMagicAk42 = 0x616b3432;

struct Header {
  int32_t dim, hiddenDim, nLayers, nHeads, nKvHeads, vocabSize, seqLen;
};

Header readHeader(ByteReader& r) {
  Header h;
  h.dim = r.read<int32_t>("dim");
  h.hiddenDim = r.read<int32_t>("hidden_dim");
  h.nLayers = r.read<int32_t>("n_layers");
  h.nHeads = r.read<int32_t>("n_heads");
  h.nKvHeads = r.read<int32_t>("n_kv_heads");
  h.vocabSize = r.read<int32_t>("vocab_size");
  h.seqLen = r.read<int32_t>("seq_len");
  return h;
}

ModelConfig toConfig(const Header& h, bool tied, const std::string& path) {
  ModelConfig c;
  c.dim = h.dim;
  c.hiddenDim = h.hiddenDim;
  c.nLayers = h.nLayers;
  c.nHeads = h.nHeads;
  c.nKvHeads = h.nKvHeads;
  c.vocabSize = h.vocabSize;
  c.contextLength = h.seqLen;
  c.normEps = 1e-5f;
  c.ropeTheta = 10000.0f;
  c.tiedClassifier = tied;
  validateConfig(c, path);
  return c;
}

// The v1/v2 matrices in file order: their shape, and where they go (a model-level view, or the same view of every
// layer, stored layer after layer). The file's size is checked against these shapes before anything is allocated.
struct MatrixRun {
  TensorView ModelWeights::*model;  // or null
  TensorView LayerWeights::*layer;  // or null
  int64_t rows, cols;
  int64_t count(const ModelConfig& c) const { return layer ? c.nLayers : 1; }
};

std::vector<MatrixRun> matricesInOrder(const ModelConfig& c) {
  std::vector<MatrixRun> runs = {
      {&ModelWeights::tokenEmbedding, nullptr, c.vocabSize, c.dim},
      {nullptr, &LayerWeights::wq, c.dim, c.dim},
      {nullptr, &LayerWeights::wk, c.kvDim(), c.dim},
      {nullptr, &LayerWeights::wv, c.kvDim(), c.dim},
      {nullptr, &LayerWeights::wo, c.dim, c.dim},
      {nullptr, &LayerWeights::w1, c.hiddenDim, c.dim},
      {nullptr, &LayerWeights::w2, c.dim, c.hiddenDim},
      {nullptr, &LayerWeights::w3, c.hiddenDim, c.dim},
  };
  if (!c.tiedClassifier) runs.push_back({&ModelWeights::output, nullptr, c.vocabSize, c.dim});
  return runs;
}

TensorView f32View(const uint8_t* p, int64_t rows, int64_t cols) {
  TensorView v;
  v.type = DType::F32;
  v.rows = rows;
  v.cols = cols;
  v.data = p;
  return v;
}

void sizeMismatch(const std::string& path, uint64_t actual, uint64_t expected, const char* what) {
  fail(ErrorCode::InvalidModel, path + ": the file has " + std::to_string(actual) + " bytes but its header (" + what +
                                    ") implies " + std::to_string(expected) + " bytes");
}

// v1/v2 store all norms first.
void mapNorms(ModelWeights& w, ByteReader& r) {
  const ModelConfig& c = w.config;
  for (auto& layer : w.layers) layer.attnNorm = f32View(r.take(4ull * c.dim, "rms_att"), 1, c.dim);
  for (auto& layer : w.layers) layer.ffnNorm = f32View(r.take(4ull * c.dim, "rms_ffn"), 1, c.dim);
  w.finalNorm = f32View(r.take(4ull * c.dim, "rms_final"), 1, c.dim);
}

std::shared_ptr<ModelWeights> loadV0(const std::shared_ptr<MappedFile>& file) {
  ByteReader r(file->data(), file->size(), file->path());
  Header h = readHeader(r);
  bool tied = h.vocabSize > 0;
  if (h.vocabSize < 0 && h.vocabSize != INT32_MIN) h.vocabSize = -h.vocabSize;
  auto w = std::make_shared<ModelWeights>();
  w->path = file->path();
  w->format = "llama2c";
  w->config = toConfig(h, tied, file->path());
  const ModelConfig& c = w->config;
  const int64_t L = c.nLayers, D = c.dim, H = c.hiddenDim, KV = c.kvDim(), V = c.vocabSize;
  const int64_t floats = V * D + L * D + L * D * D * 2 + L * KV * D * 2 + L * D + L * H * D * 3 + D +
                         int64_t(c.contextLength) * c.headDim() + (tied ? 0 : V * D);
  const uint64_t expected = 28 + 4 * uint64_t(floats);
  if (file->size() != expected) sizeMismatch(file->path(), file->size(), expected, "llama2.c version 0, float32");
  w->layers.resize(L);
  w->tokenEmbedding = f32View(r.take(4ull * V * D, "token_embedding"), V, D);
  auto stacked = [&](TensorView LayerWeights::*member, int64_t rows, int64_t cols, const char* name) {
    for (auto& layer : w->layers) layer.*member = f32View(r.take(4ull * rows * cols, name), rows, cols);
  };
  stacked(&LayerWeights::attnNorm, 1, D, "rms_att");
  stacked(&LayerWeights::wq, D, D, "wq");
  stacked(&LayerWeights::wk, KV, D, "wk");
  stacked(&LayerWeights::wv, KV, D, "wv");
  stacked(&LayerWeights::wo, D, D, "wo");
  stacked(&LayerWeights::ffnNorm, 1, D, "rms_ffn");
  stacked(&LayerWeights::w1, H, D, "w1");
  stacked(&LayerWeights::w2, D, H, "w2");
  stacked(&LayerWeights::w3, H, D, "w3");
  w->finalNorm = f32View(r.take(4ull * D, "rms_final"), 1, D);
  r.take(4ull * c.contextLength * c.headDim(), "freq_cis");  // legacy RoPE tables: RoPE is computed instead
  w->output = tied ? w->tokenEmbedding : f32View(r.take(4ull * V * D, "wcls"), V, D);
  w->mapping = file;
  return w;
}

std::shared_ptr<ModelWeights> loadAk42(const std::shared_ptr<MappedFile>& file) {
  ByteReader r(file->data(), file->size(), file->path());
  r.need(256, "the 256-byte header");
  r.read<uint32_t>("magic");
  int32_t version = r.read<int32_t>("version");
  if (version != 1 && version != 2)
    fail(ErrorCode::Unsupported, file->path() + ": llama2.c checkpoint version " + std::to_string(version) +
                                     " is not supported (supported: 0, 1, 2)");
  Header h = readHeader(r);
  uint8_t shared = r.read<uint8_t>("shared_classifier");
  if (shared > 1) r.invalid("shared_classifier flag is " + std::to_string(shared) + " (expected 0 or 1)");
  int32_t groupSize = version == 2 ? r.read<int32_t>("group_size") : 0;
  auto w = std::make_shared<ModelWeights>();
  w->path = file->path();
  w->format = version == 2 ? "llama2c-q8" : "llama2c";
  w->config = toConfig(h, shared == 1, file->path());
  const ModelConfig& c = w->config;
  if (version == 2 && (groupSize <= 0 || groupSize > c.dim || c.dim % groupSize != 0))
    r.invalid("group_size " + std::to_string(groupSize) + " must be positive and divide dim " + std::to_string(c.dim));
  // Check the total size before allocating or mapping anything (the layer count comes from the header).
  const std::vector<MatrixRun> runs = matricesInOrder(c);
  uint64_t expected = 256 + 4ull * (2ull * c.nLayers * c.dim + c.dim);
  for (const auto& run : runs) {
    uint64_t n = uint64_t(run.rows) * uint64_t(run.cols);
    if (version == 1) {
      expected += run.count(c) * 4 * n;
    } else {
      if (n % uint64_t(groupSize) != 0)
        r.invalid("a [" + std::to_string(run.rows) + ", " + std::to_string(run.cols) +
                  "] tensor is not a whole number of quantisation groups of " + std::to_string(groupSize));
      expected += run.count(c) * (n + 4 * (n / groupSize));
    }
  }
  if (file->size() != expected)
    sizeMismatch(file->path(), file->size(), expected,
                 version == 1 ? "llama2.c version 1, float32" : "llama2.c version 2, int8 groups");
  w->layers.resize(c.nLayers);
  r.seek(256, "weights");
  mapNorms(*w, r);
  auto map = [&](int64_t rows, int64_t cols) {
    uint64_t n = uint64_t(rows) * uint64_t(cols);
    if (version == 1) return f32View(r.take(4 * n, "weights"), rows, cols);
    TensorView v;
    v.type = DType::Q8_G_F32;
    v.rows = rows;
    v.cols = cols;
    v.groupSize = groupSize;
    v.data = r.take(n, "int8 weights");
    const uint8_t* scales = r.take(4 * (n / groupSize), "scales");
    if (reinterpret_cast<uintptr_t>(scales) % alignof(float) != 0) {  // odd group sizes: copy to aligned floats
      auto copy = std::shared_ptr<float>(new float[n / groupSize], std::default_delete<float[]>());
      std::memcpy(copy.get(), scales, 4 * (n / groupSize));
      w->owned.push_back(copy);
      v.scales = copy.get();
    } else {
      v.scales = reinterpret_cast<const float*>(scales);
    }
    return v;
  };
  for (const auto& run : runs) {
    if (run.model) (*w).*run.model = map(run.rows, run.cols);
    else for (auto& layer : w->layers) layer.*run.layer = map(run.rows, run.cols);
  }
  if (c.tiedClassifier) w->output = w->tokenEmbedding;
  w->mapping = file;
  return w;
}

}  // namespace

std::shared_ptr<ModelWeights> loadLlama2c(const std::shared_ptr<MappedFile>& file) {
  uint32_t magic = 0;
  if (file->size() >= 4) std::memcpy(&magic, file->data(), 4);
  if (magic == kMagicAk42) return loadAk42(file);
  if (file->size() < 28)
    fail(ErrorCode::InvalidModel, file->path() + ": too short for a model file (" + std::to_string(file->size()) +
                                      " bytes): not a llama2.c checkpoint or GGUF");
  return loadV0(file);
}

}  // namespace redrafter::model
