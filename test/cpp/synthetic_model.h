// A LLaMA model with seeded random weights built in memory, in any weight DType, for engine tests that need
// shapes the fixtures lack (wide rows for the SIMD main loops, odd tails, F16/BF16/Q8_0 and Q4_0/Q4_K/Q5_K/Q6_K
// tensors; the K types need dim and hiddenDim multiples of 256).
#pragma once
#include <cmath>
#include <cstring>
#include <memory>
#include <random>
#include <vector>

#include "model/dequantize.h"
#include "model/half.h"
#include "model/weights.h"

namespace redrafter::test {

struct SyntheticShape {
  int32_t dim = 128, hiddenDim = 352, nLayers = 2, nHeads = 4, nKvHeads = 2, vocab = 96, context = 256;
};

inline std::shared_ptr<const model::ModelWeights> syntheticModel(const SyntheticShape& s, DType type,
                                                               uint32_t seed = 7) {
  using namespace redrafter::model;
  auto w = std::make_shared<ModelWeights>();
  w->path = "<synthetic>";
  w->format = "synthetic";
  ModelConfig& c = w->config;
  c.dim = s.dim;
  c.hiddenDim = s.hiddenDim;
  c.nLayers = s.nLayers;
  c.nHeads = s.nHeads;
  c.nKvHeads = s.nKvHeads;
  c.vocabSize = s.vocab;
  c.contextLength = s.context;
  c.tiedClassifier = false;
  std::mt19937 rng(seed);
  auto make = [&](int64_t rows, int64_t cols, float scale, DType t) {
    std::normal_distribution<float> dist(0.0f, scale);
    std::vector<float> values(rows * cols);
    for (auto& v : values) v = dist(rng);
    TensorView view;
    view.type = t;
    view.rows = rows;
    view.cols = cols;
    if (t == DType::F32) {
      auto buf = std::make_shared<std::vector<float>>(values);
      view.data = buf->data();
      w->owned.push_back(buf);
    } else if (t == DType::F16 || t == DType::BF16) {
      auto buf = std::make_shared<std::vector<uint16_t>>(values.size());
      for (size_t i = 0; i < values.size(); ++i) {
        if (t == DType::F16) {
          (*buf)[i] = f32ToFp16(values[i]);
        } else {
          uint32_t bits;
          std::memcpy(&bits, &values[i], 4);
          (*buf)[i] = static_cast<uint16_t>(bits >> 16);
        }
      }
      view.data = buf->data();
      w->owned.push_back(buf);
    } else if (t == DType::Q8_0) {  // blocks of 32 along each row: fp16 d, int8 q[32]
      auto buf = std::make_shared<std::vector<uint8_t>>(values.size() / 32 * 34);
      for (size_t b = 0; b < values.size() / 32; ++b) {
        float amax = 0;
        for (int i = 0; i < 32; ++i) amax = std::max(amax, std::fabs(values[b * 32 + i]));
        float d = amax / 127.0f;
        uint16_t dh = f32ToFp16(d);
        std::memcpy(buf->data() + b * 34, &dh, 2);
        for (int i = 0; i < 32; ++i) {
          float q = d > 0 ? std::round(values[b * 32 + i] / d) : 0.0f;
          (*buf)[b * 34 + 2 + i] = static_cast<uint8_t>(static_cast<int8_t>(q));
        }
      }
      view.data = buf->data();
      w->owned.push_back(buf);
    } else if (t == DType::Q4_0 || t == DType::Q4_K || t == DType::Q5_K || t == DType::Q6_K) {
      auto buf = std::make_shared<std::vector<uint8_t>>(values.size() / blockFormat(t).elements * blockFormat(t).bytes);
      quantizeRow(t, values.data(), static_cast<int64_t>(values.size()), buf->data());
      view.data = buf->data();
      w->owned.push_back(buf);
    } else {  // Q8_G_F32 with groups of 32
      auto q = std::make_shared<std::vector<int8_t>>(values.size());
      auto sc = std::make_shared<std::vector<float>>(values.size() / 32);
      for (size_t g = 0; g < sc->size(); ++g) {
        float amax = 0;
        for (int i = 0; i < 32; ++i) amax = std::max(amax, std::fabs(values[g * 32 + i]));
        float d = amax / 127.0f;
        (*sc)[g] = d;
        for (int i = 0; i < 32; ++i) (*q)[g * 32 + i] = static_cast<int8_t>(d > 0 ? std::round(values[g * 32 + i] / d) : 0);
      }
      view.data = q->data();
      view.scales = sc->data();
      view.groupSize = 32;
      w->owned.push_back(q);
      w->owned.push_back(sc);
    }
    return view;
  };
  auto norm = [&]() {
    std::uniform_real_distribution<float> dist(0.8f, 1.2f);
    auto buf = std::make_shared<std::vector<float>>(c.dim);
    for (auto& v : *buf) v = dist(rng);
    w->owned.push_back(buf);
    TensorView view;
    view.rows = 1;
    view.cols = c.dim;
    view.data = buf->data();
    return view;
  };
  const float in = 1.0f / std::sqrt(static_cast<float>(c.dim)), inH = 1.0f / std::sqrt(static_cast<float>(c.hiddenDim));
  w->tokenEmbedding = make(c.vocabSize, c.dim, 1.0f, type);
  for (int32_t l = 0; l < c.nLayers; ++l) {
    LayerWeights L;
    L.attnNorm = norm();
    L.wq = make(c.dim, c.dim, in, type);
    L.wk = make(c.kvDim(), c.dim, in, type);
    L.wv = make(c.kvDim(), c.dim, in, type);
    L.wo = make(c.dim, c.dim, in, type);
    L.ffnNorm = norm();
    L.w1 = make(c.hiddenDim, c.dim, in, type);
    L.w2 = make(c.dim, c.hiddenDim, inH, type);
    L.w3 = make(c.hiddenDim, c.dim, in, type);
    w->layers.push_back(L);
  }
  w->finalNorm = norm();
  w->output = make(c.vocabSize, c.dim, in, type);
  return w;
}

}  // namespace redrafter::test
