// The Session JS class: enqueue a turn (its new prompt tokens; its responses stream through the Engine's callback),
// cancel it, read or reset the conversation (kept natively by executor::Conversations), release the session's KV
// cache.
#include "addon/session.h"

#include <cmath>
#include <limits>

#include "addon/args.h"
#include "addon/class_registry.h"
#include "addon/engine.h"
#include "addon/errors.h"

namespace redrafter::addon {

Napi::Function Session::Define(Napi::Env env) {
  Napi::Function f = DefineClass(env, "Session",
                                 {InstanceMethod("enqueue", &Session::Enqueue),
                                  InstanceMethod("cancel", &Session::Cancel),
                                  InstanceMethod("release", &Session::Release),
                                  InstanceMethod("history", &Session::History),
                                  InstanceMethod("historyLength", &Session::HistoryLength),
                                  InstanceMethod("lastToken", &Session::LastToken),
                                  InstanceMethod("reset", &Session::Reset),
                                  InstanceMethod("keepOutput", &Session::KeepOutput)});
  storeConstructor(env, "Session", f);
  return f;
}

Napi::Object Session::create(Napi::Env env, Napi::Object engine, executor::SessionId id) {
  Napi::Object object = constructorOf(env, "Session").New({});
  Session* s = Session::Unwrap(object);
  s->engineRef_ = Napi::Persistent(engine);
  s->engine_ = Engine::Unwrap(engine);
  s->id_ = id;
  s->executor_ = s->engine_->sharedExecutor();
  return object;
}

Session::Session(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Session>(info) {}

Session::~Session() {
  if (!executor_) return;
  try {
    if (!released_ && !executor_->isShutdown()) executor_->release(id_);
    executor_->forget(id_);
  } catch (...) {
  }
}

namespace {

std::vector<int32_t> int32Vector(Napi::Object o, const char* key) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined() || v.IsNull()) return {};
  auto view = typedArray<int32_t>(v, key);
  return std::vector<int32_t>(view.data, view.data + view.length);
}

// A turn's parameters; its prompt (the new tokens) is read by Enqueue.
executor::Request readRequest(Napi::Object o) {
  executor::Request r;
  r.maxTokens = int32_t(intField(o, "maxTokens", 1, INT32_MAX));
  // the bound on temperature is lib/generation-options.ts's MAX_TEMPERATURE; here only what a float holds
  r.sampling.temperature = float(numberFieldOr(o, "temperature", 0, 0, std::numeric_limits<float>::max()));
  r.sampling.topK = int32_t(intFieldOr(o, "topK", 0, 0, INT32_MAX));
  // the bounds are executor::validateRequest's (native/core/executor/step_executor.h); here only what a float holds
  r.sampling.topP = float(numberFieldOr(o, "topP", 1, -std::numeric_limits<float>::max(), std::numeric_limits<float>::max()));
  r.sampling.seed = uint64_t(intFieldOr(o, "seed", 0, 0, (int64_t(1) << 53)));
  r.draft.beamWidth = int32_t(intFieldOr(o, "beamWidth", 0, 0, 1 << 16));
  r.draft.beamLength = int32_t(intFieldOr(o, "beamLength", 0, 0, 1 << 16));
  std::string acceptance = stringFieldOr(o, "acceptance", "exact");
  if (acceptance == "apple") r.draft.acceptance = executor::Acceptance::Apple;
  else if (acceptance != "exact") fail(ErrorCode::InvalidArgument, "acceptance must be 'exact' or 'apple'");
  r.draft.adaptive = boolFieldOr(o, "adaptive", false);
  r.endIds = int32Vector(o, "endIds");
  Napi::Value stops = o.Get("stopTokenSequences");
  if (!stops.IsUndefined() && !stops.IsNull()) {
    if (!stops.IsArray()) fail(ErrorCode::InvalidArgument, "stopTokenSequences must be an array of Int32Array");
    Napi::Array a = stops.As<Napi::Array>();
    for (uint32_t i = 0; i < a.Length(); ++i) {
      auto view = typedArray<int32_t>(a.Get(i), "stopTokenSequences[]");
      r.stopTokenSequences.emplace_back(view.data, view.data + view.length);
    }
  }
  r.streaming = boolFieldOr(o, "streaming", true);
  return r;
}

}  // namespace

// enqueue(request {promptTokenIds, ...}) -> requestId: the turn continues the session's history with promptTokenIds.
Napi::Value Session::Enqueue(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&]() -> Napi::Value {
    if (released_) fail(ErrorCode::Disposed, "the session was disposed");
    Napi::Object o = objectArg(info, 0, "request");
    executor::Request r = readRequest(o);
    executor::RequestId id = engine_->executor().enqueue(id_, int32Vector(o, "promptTokenIds"), std::move(r));
    engine_->requestStarted(info.Env());
    return Napi::Number::New(info.Env(), double(id));
  });
}

Napi::Value Session::Cancel(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&]() -> Napi::Value {
    if (info.Length() < 1 || !info[0].IsNumber()) fail(ErrorCode::InvalidArgument, "requestId must be a number");
    if (!engine_->disposed()) engine_->executor().cancelRequest(executor::RequestId(info[0].As<Napi::Number>().DoubleValue()));
    return info.Env().Undefined();
  });
}

Napi::Value Session::Release(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&]() -> Napi::Value {
    if (!released_ && !engine_->disposed()) engine_->executor().release(id_);
    released_ = true;
    return info.Env().Undefined();
  });
}

// The conversation stays readable after release() and the engine's dispose (executor_ outlives both).
Napi::Value Session::History(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&]() -> Napi::Value {
    const std::vector<int32_t> h = executor_->history(id_);
    return newTypedArray<int32_t>(info.Env(), h.size(), h.data());
  });
}

Napi::Value Session::HistoryLength(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), double(executor_->historyLength(id_)));
}

Napi::Value Session::LastToken(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), executor_->lastToken(id_));
}

Napi::Value Session::Reset(const Napi::CallbackInfo& info) {
  executor_->reset(id_);
  return info.Env().Undefined();
}

// keepOutput(requestId, count): of that ended request's tokens the history keeps the first `count`.
Napi::Value Session::KeepOutput(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&]() -> Napi::Value {
    if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsNumber())
      fail(ErrorCode::InvalidArgument, "keepOutput(requestId, count) needs two numbers");
    const double count = info[1].As<Napi::Number>().DoubleValue();
    if (!(count >= 0)) fail(ErrorCode::InvalidArgument, "count must be >= 0");
    executor_->keepOutput(id_, executor::RequestId(info[0].As<Napi::Number>().DoubleValue()), size_t(count));
    return info.Env().Undefined();
  });
}

}  // namespace redrafter::addon
