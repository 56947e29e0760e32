// JS class Drafter: Apple's recurrent drafter (cpu/drafter/drafter.h), read from a drafter directory by Drafter.load
// (model/drafter_file.h) or built from float32 tensors (a training result). Other addon parts (the executor) reach
// the C++ drafter through Drafter::drafterOf.
#pragma once
#include <napi.h>

#include <memory>

#include "cpu/drafter/drafter.h"

namespace redrafter::addon {

class Drafter : public Napi::ObjectWrap<Drafter> {
 public:
  static void Init(Napi::Env env, Napi::Object exports);
  // new Drafter(config {vocabSize, hiddenSize, exitDim, numDraftLayers, rnn}, tensors {name: Float32Array},
  //             source: string, options? {threads, weightType}); Drafter.load's result is made from an External
  explicit Drafter(const Napi::CallbackInfo& info);

  // The C++ drafter of a JS Drafter object; throws InvalidArgument naming `field` for anything else.
  static std::shared_ptr<const cpu::Drafter> drafterOf(Napi::Value value, const char* field);
  std::shared_ptr<const cpu::Drafter> drafter() const { return drafter_; }

 private:
  Napi::Value GetConfig(const Napi::CallbackInfo& info);
  Napi::Value GetSource(const Napi::CallbackInfo& info);
  Napi::Value GetWeightType(const Napi::CallbackInfo& info);
  Napi::Value Tensors(const Napi::CallbackInfo& info);
  Napi::Value CheckModel(const Napi::CallbackInfo& info);
  Napi::Value Draft(const Napi::CallbackInfo& info);

  std::shared_ptr<const cpu::Drafter> drafter_;
};

// A plain JS object for a drafter config ({vocabSize, hiddenSize, exitDim, numDraftLayers, rnn}).
Napi::Object drafterConfigObject(Napi::Env env, const model::DrafterConfig& config);
// {name: Float32Array} copies of every tensor, in the canonical order.
Napi::Object drafterTensorsObject(Napi::Env env, const model::DrafterWeights& weights);

}  // namespace redrafter::addon
