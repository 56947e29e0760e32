// JS class Context: one sequence's KV cache. async forward(tokens, {positions, mask, outputs, hidden}),
// commit(acceptedPacked), truncate(n), length, capacity, dispose().
#include "addon/context.h"

#include <string>
#include <vector>

#include "addon/args.h"
#include "addon/class_registry.h"
#include "addon/errors.h"
#include "addon/registry.h"
#include "core/error.h"
#include "core/kv_commit.h"

namespace redrafter::addon {

namespace {

// Throws InvalidArgument "<field>[i...] <message>" (message starts with the index) unless `condition` holds.
inline void requireAt(bool condition, const char* field, const std::string& message) {
  if (!condition) fail(ErrorCode::InvalidArgument, std::string(field) + message);
}

struct ContextInit {
  std::shared_ptr<ModelHandle> model;
  int32_t capacity;
};

}  // namespace

// Context.forward: the inputs are copied on the main thread, the forward runs off it.
class ForwardWorker : public PromiseWorker {
 public:
  ForwardWorker(Napi::Env env, Context* context, Napi::Object self) : PromiseWorker(env), context_(context) {
    self_ = Napi::Persistent(self);  // keeps the Context alive until Resolve
  }
  std::shared_ptr<cpu::Transformer> transformer;
  std::shared_ptr<cpu::KvCache> cache;
  std::vector<int32_t> tokens, positions, outputs;  // [n], [n] or empty, [nOut] or empty
  std::vector<uint8_t> mask;                        // [n, n] or empty
  bool wantHidden = false;

 protected:
  void Run() override {
    const int32_t n = static_cast<int32_t>(tokens.size());
    const int32_t nOut = outputs.empty() ? n : static_cast<int32_t>(outputs.size());
    const auto& c = transformer->config();
    logits_.resize(static_cast<size_t>(nOut) * c.vocabSize);  // [nOut, vocab]
    if (wantHidden) hidden_.resize(static_cast<size_t>(nOut) * c.dim);  // [nOut, dim]
    start_ = cache->length();
    transformer->forward(*cache, tokens.data(), n, positions.empty() ? nullptr : positions.data(),
                         mask.empty() ? nullptr : mask.data(), outputs.empty() ? nullptr : outputs.data(),
                         outputs.empty() ? 0 : nOut, logits_.data(), wantHidden ? hidden_.data() : nullptr);
  }
  Napi::Value Resolve(Napi::Env env) override {  // success only
    context_->lastStart_ = start_;
    context_->lastCount_ = static_cast<int32_t>(tokens.size());
    Napi::Object result = Napi::Object::New(env);
    result.Set("logits", newTypedArray<float>(env, logits_.size(), logits_.data()));
    if (wantHidden) result.Set("hidden", newTypedArray<float>(env, hidden_.size(), hidden_.data()));
    return result;
  }

 public:
  // Runs on the main thread right after the promise settled (success or failure), before any JS continuation:
  // the context is free again, at its new length (unchanged after a failure).
  ~ForwardWorker() override {
    context_->busy_ = false;
    if (cache && context_->cache_ == cache) context_->length_ = cache->length();
  }

 private:
  Context* context_;
  Napi::ObjectReference self_;
  std::vector<float> logits_, hidden_;
  int32_t start_ = 0;
};

void Context::Init(Napi::Env env, Napi::Object exports) {
  Napi::Function cls = DefineClass(env, "Context",
                                   {
                                       InstanceMethod<&Context::Forward>("forward"),
                                       InstanceMethod<&Context::Commit>("commit"),
                                       InstanceMethod<&Context::Truncate>("truncate"),
                                       InstanceMethod<&Context::Dispose>("dispose"),
                                       InstanceAccessor<&Context::GetLength>("length"),
                                       InstanceAccessor<&Context::GetCapacity>("capacity"),
                                       InstanceAccessor<&Context::GetDisposed>("disposed"),
                                   });
  storeConstructor(env, "Context", cls);
  exports.Set("Context", cls);
}

Context::Context(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Context>(info) {
  guarded(info.Env(), [&] {
    if (info.Length() != 1 || !info[0].IsExternal())
      fail(ErrorCode::InvalidArgument, "Context cannot be constructed directly: use model.createContext(options)");
    auto* init = info[0].As<Napi::External<ContextInit>>().Data();
    auto transformer = init->model->get();
    model_ = init->model;
    cache_ = std::shared_ptr<cpu::KvCache>(transformer->createCache(init->capacity));
    capacity_ = init->capacity;
  });
}

Napi::Object Context::create(Napi::Env env, std::shared_ptr<ModelHandle> handle, int32_t capacity) {
  ContextInit init{std::move(handle), capacity};
  auto external = Napi::External<ContextInit>::New(env, &init);
  return constructorOf(env, "Context").New({external});
}

std::shared_ptr<cpu::KvCache> Context::cacheOf(Napi::Value value, const char* field,
                                               std::shared_ptr<cpu::Transformer>* engine) {
  if (!value.IsObject() || !value.As<Napi::Object>().InstanceOf(constructorOf(value.Env(), "Context")))
    fail(ErrorCode::InvalidArgument, std::string(field) + " must be a Context");
  Context* context = Context::Unwrap(value.As<Napi::Object>());
  context->checkUsable(field);
  if (engine) *engine = context->model_->get();
  return context->cache_;
}

void Context::checkUsable(const char* what) {
  if (!cache_) fail(ErrorCode::Disposed, std::string("context.") + what + ": the context was disposed");
  model_->get();  // throws Disposed once the model is disposed
  if (busy_)
    fail(ErrorCode::InvalidArgument,
         std::string("context.") + what + ": a forward is still running on this context (await it first)");
}

Napi::Value Context::Forward(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&]() -> Napi::Value {
    checkUsable("forward");
    if (info.Length() < 1) fail(ErrorCode::InvalidArgument, "tokens must be an Int32Array");
    auto tokens = typedArray<int32_t>(info[0], "tokens");
    const size_t n = tokens.length;
    require(n >= 1, "tokens", "must hold at least one token");
    auto* worker = new ForwardWorker(info.Env(), this, info.This().As<Napi::Object>());
    std::unique_ptr<ForwardWorker> guard(worker);  // until queued
    worker->transformer = model_->get();
    worker->cache = cache_;
    worker->tokens.assign(tokens.data, tokens.data + n);
    const int32_t vocab = worker->transformer->config().vocabSize;
    for (size_t i = 0; i < n; ++i)
      requireAt(tokens.data[i] >= 0 && tokens.data[i] < vocab, "tokens", "[" + std::to_string(i) + "] = " + std::to_string(tokens.data[i]) + " is outside the vocabulary [0, " +
                  std::to_string(vocab) + ")");
    if (info.Length() >= 2 && !info[1].IsUndefined()) {
      Napi::Object o = objectArg(info, 1, "options");
      Napi::Value positions = o.Get("positions");
      if (!positions.IsUndefined() && !positions.IsNull()) {
        auto p = typedArray<int32_t>(positions, "positions");
        require(p.length == n, "positions", "must have one entry per token (" + std::to_string(n) + "), got " +
                                                std::to_string(p.length));
        worker->positions.assign(p.data, p.data + n);
      }
      Napi::Value mask = o.Get("mask");
      if (!mask.IsUndefined() && !mask.IsNull()) {
        auto m = typedArray<uint8_t>(mask, "mask");
        require(m.length == n * n, "mask", "must hold tokens.length^2 = " + std::to_string(n * n) + " entries, got " +
                                               std::to_string(m.length));
        worker->mask.assign(m.data, m.data + n * n);
      }
      Napi::Value outputs = o.Get("outputs");
      if (!outputs.IsUndefined() && !outputs.IsNull()) {
        auto out = typedArray<int32_t>(outputs, "outputs");
        require(out.length >= 1, "outputs", "must name at least one token");
        worker->outputs.assign(out.data, out.data + out.length);
      }
      worker->wantHidden = boolFieldOr(o, "hidden", false);
    }
    if (static_cast<int64_t>(cache_->length()) + static_cast<int64_t>(n) > capacity_)
      fail(ErrorCode::ContextOverflow, "tokens: " + std::to_string(n) + " new tokens after " +
                                           std::to_string(cache_->length()) + " cached exceed the context capacity " +
                                           std::to_string(capacity_));
    busy_ = true;
    Napi::Promise promise = worker->Promise();
    guard.release();
    worker->Queue();
    return promise;
  });
}

Napi::Value Context::Commit(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&]() -> Napi::Value {
    checkUsable("commit");
    if (info.Length() < 1) fail(ErrorCode::InvalidArgument, "acceptedPacked must be an Int32Array");
    auto accepted = typedArray<int32_t>(info[0], "acceptedPacked");
    require(lastCount_ > 0, "acceptedPacked", "has nothing to commit: no forward since the last commit or truncate");
    for (size_t i = 0; i < accepted.length; ++i)
      requireAt(accepted.data[i] >= 0 && accepted.data[i] < lastCount_, "acceptedPacked", "[" + std::to_string(i) + "] = " + std::to_string(accepted.data[i]) +
                  " is not a token of the last forward [0, " + std::to_string(lastCount_) + ")");
    CommitPlan plan = kvCommitPlan(lastStart_, accepted.data, static_cast<int32_t>(accepted.length));
    cache_->commit(plan);
    length_ = cache_->length();
    lastCount_ = 0;
    return Napi::Number::New(info.Env(), length_);
  });
}

Napi::Value Context::Truncate(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&]() -> Napi::Value {
    checkUsable("truncate");
    if (info.Length() < 1 || !info[0].IsNumber()) fail(ErrorCode::InvalidArgument, "length must be an integer");
    double d = info[0].As<Napi::Number>().DoubleValue();
    require(d == static_cast<double>(static_cast<int64_t>(d)), "length", "must be an integer");
    const int32_t current = cache_->length();
    require(d >= 0 && d <= current, "length",
            "must be in [0, " + std::to_string(current) + "], got " + std::to_string(static_cast<int64_t>(d)));
    cache_->truncate(static_cast<int32_t>(d));
    length_ = cache_->length();
    lastCount_ = 0;
    return Napi::Number::New(info.Env(), length_);
  });
}

Napi::Value Context::Dispose(const Napi::CallbackInfo& info) {
  cache_.reset();  // an in-flight forward keeps its own reference until it resolves
  lastCount_ = 0;
  return info.Env().Undefined();
}

Napi::Value Context::GetLength(const Napi::CallbackInfo& info) {
  // while a forward runs, the length before it; otherwise the cache's (another addon part may have used it)
  return Napi::Number::New(info.Env(), busy_ || !cache_ ? length_ : cache_->length());
}
Napi::Value Context::GetCapacity(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), capacity_); }
Napi::Value Context::GetDisposed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), !cache_); }

static void InitContext(Napi::Env env, Napi::Object exports) { Context::Init(env, exports); }

}  // namespace redrafter::addon

REDRAFTER_ADDON_PART(context, redrafter::addon::InitContext)
