// JS class Context: one sequence's KV cache on a Model (forward, commit, truncate).
#pragma once
#include <napi.h>

#include <memory>
#include <string>

#include "addon/model.h"
#include "cpu/engine/kv_cache.h"

namespace redrafter::addon {

struct ForwardJob;

class Context : public Napi::ObjectWrap<Context> {
 public:
  static void Init(Napi::Env env, Napi::Object exports);
  explicit Context(const Napi::CallbackInfo& info);  // JS: only through model.createContext

  // Creates a JS Context with `capacity` slots on the model behind `handle` (main thread).
  static Napi::Object create(Napi::Env env, std::shared_ptr<ModelHandle> handle, int32_t capacity);

  // For other addon parts (executor): the KV cache of a JS Context, with its model's engine. Throws InvalidArgument
  // naming `field` for anything else, Disposed when it or its model was disposed, InvalidArgument while a forward
  // runs on it. The caller must not use the cache concurrently with the Context's own methods.
  static std::shared_ptr<cpu::KvCache> cacheOf(Napi::Value value, const char* field,
                                               std::shared_ptr<cpu::Transformer>* engine = nullptr);

  // Model.forwardBatch(items): several contexts of `model` in one forward pass (weights read once); resolves to
  // one {logits, hidden?} per item. Everything is validated before anything runs.
  static Napi::Value forwardBatch(Napi::Env env, const std::shared_ptr<ModelHandle>& model, Napi::Value items);

 private:
  friend class ForwardWorker;
  Napi::Value Forward(const Napi::CallbackInfo& info);
  Napi::Value Commit(const Napi::CallbackInfo& info);
  Napi::Value Truncate(const Napi::CallbackInfo& info);
  Napi::Value Dispose(const Napi::CallbackInfo& info);
  Napi::Value GetLength(const Napi::CallbackInfo& info);
  Napi::Value GetCapacity(const Napi::CallbackInfo& info);
  Napi::Value GetDisposed(const Napi::CallbackInfo& info);
  void checkUsable(const char* what);  // throws Disposed / busy errors
  void prepare(Napi::Value tokens, Napi::Value options, const std::string& prefix, int32_t vocab, ForwardJob& job);

  std::shared_ptr<ModelHandle> model_;
  std::shared_ptr<cpu::KvCache> cache_;  // null once disposed
  int32_t capacity_ = 0;
  int32_t length_ = 0;            // as JS sees it while a forward runs (updated on the main thread)
  bool busy_ = false;             // a forward is in flight
  int32_t lastStart_ = 0;         // cache length before the last forward
  int32_t lastCount_ = 0;         // tokens of the last forward (0 after commit/truncate)
};

}  // namespace redrafter::addon
