// The JS form of a model's architecture (ModelArchitecture in lib/native.ts), shared by Model.config and
// inspectModel.
#pragma once
#include <napi.h>

#include "model/weights.h"

namespace redrafter::addon {

// Sets the architecture fields of `config` on `target` (and returns it).
inline Napi::Object setModelArchitecture(Napi::Object target, const model::ModelConfig& c) {
  target.Set("dim", c.dim);
  target.Set("hiddenDim", c.hiddenDim);
  target.Set("nLayers", c.nLayers);
  target.Set("nHeads", c.nHeads);
  target.Set("nKvHeads", c.nKvHeads);
  target.Set("headDim", c.headDim());
  target.Set("vocabSize", c.vocabSize);
  target.Set("contextLength", c.contextLength);
  target.Set("normEps", c.normEps);
  target.Set("ropeTheta", c.ropeTheta);
  target.Set("tiedClassifier", c.tiedClassifier);
  return target;
}

}  // namespace redrafter::addon
