// The Session JS class: one executor session of an Engine: its conversation (executor::Conversations) and, in the
// backend, its KV cache.
#pragma once
#include <napi.h>

#include <memory>

#include "core/executor/conversations.h"

namespace redrafter::addon {

class Engine;

class Session : public Napi::ObjectWrap<Session> {
 public:
  static Napi::Function Define(Napi::Env env);
  static Napi::Object create(Napi::Env env, Napi::Object engine, executor::SessionId id);
  Session(const Napi::CallbackInfo& info);
  ~Session() override;  // a session collected without release() frees its KV cache; its history goes with it

 private:
  Napi::Value Enqueue(const Napi::CallbackInfo& info);
  Napi::Value Cancel(const Napi::CallbackInfo& info);
  Napi::Value Release(const Napi::CallbackInfo& info);
  Napi::Value History(const Napi::CallbackInfo& info);
  Napi::Value HistoryLength(const Napi::CallbackInfo& info);
  Napi::Value LastToken(const Napi::CallbackInfo& info);
  Napi::Value Reset(const Napi::CallbackInfo& info);
  Napi::Value KeepOutput(const Napi::CallbackInfo& info);

  Napi::ObjectReference engineRef_;
  Engine* engine_ = nullptr;
  std::shared_ptr<executor::Conversations> executor_;  // outlives the Engine object at teardown
  executor::SessionId id_ = 0;
  bool released_ = false;
};

}  // namespace redrafter::addon
