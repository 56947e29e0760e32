#include "addon/tokenizer.h"

#include <cmath>
#include <string>

#include "addon/args.h"
#include "addon/class_registry.h"
#include "addon/errors.h"
#include "addon/registry.h"
#include "core/error.h"

namespace redrafter::addon {

namespace {

using TokenizerPtr = std::shared_ptr<const tokenizer::Tokenizer>;

// Tokenizer.load: reads and validates the file off the event loop.
class LoadTokenizerWorker : public PromiseWorker {
 public:
  LoadTokenizerWorker(Napi::Env env, std::string path) : PromiseWorker(env), path_(std::move(path)) {}

 protected:
  void Run() override { tokenizer_ = tokenizer::Tokenizer::load(path_); }
  Napi::Value Resolve(Napi::Env env) override { return newTokenizer(env, tokenizer_); }

 private:
  std::string path_;
  TokenizerPtr tokenizer_;
};

// Tokenizer.encodeAsync: encodes a long text off the event loop.
class EncodeWorker : public PromiseWorker {
 public:
  EncodeWorker(Napi::Env env, TokenizerPtr tokenizer, std::string text, bool bos, bool special)
      : PromiseWorker(env), tokenizer_(std::move(tokenizer)), text_(std::move(text)), bos_(bos), special_(special) {}

 protected:
  void Run() override { ids_ = tokenizer_->encode(text_, bos_, special_); }
  Napi::Value Resolve(Napi::Env env) override { return newTypedArray<int32_t>(env, ids_.size(), ids_.data()); }

 private:
  TokenizerPtr tokenizer_;
  std::string text_;
  bool bos_, special_;
  std::vector<int32_t> ids_;
};

int32_t tokenArg(const Napi::Value& v, const char* field, int32_t vocab, bool allowNone) {
  if (allowNone && (v.IsUndefined() || v.IsNull())) return -1;
  if (!v.IsNumber()) fail(ErrorCode::InvalidArgument, std::string(field) + " must be a token id");
  double d = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d) || std::floor(d) != d || d < (allowNone ? -1 : 0) || d >= vocab)
    fail(ErrorCode::InvalidArgument, std::string(field) + " must be a token id in [0, " + std::to_string(vocab) +
                                         ")" + (allowNone ? " or -1" : ""));
  return int32_t(d);
}

}  // namespace

void Tokenizer::Init(Napi::Env env, Napi::Object exports) {
  Napi::Function cls = DefineClass(env, "Tokenizer",
                                   {
                                       StaticMethod<&Tokenizer::Load>("load"),
                                       InstanceAccessor<&Tokenizer::GetInfo>("info"),
                                       InstanceMethod<&Tokenizer::Encode>("encode"),
                                       InstanceMethod<&Tokenizer::EncodeAsync>("encodeAsync"),
                                       InstanceMethod<&Tokenizer::Decode>("decode"),
                                       InstanceMethod<&Tokenizer::Token>("token"),
                                       InstanceMethod<&Tokenizer::CreateDecoder>("createDecoder"),
                                   });
  storeConstructor(env, "Tokenizer", cls);
  exports.Set("Tokenizer", cls);
}

Tokenizer::Tokenizer(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Tokenizer>(info) {
  guarded(info.Env(), [&] {
    if (info.Length() != 1 || !info[0].IsExternal())
      fail(ErrorCode::InvalidArgument, "Tokenizer cannot be constructed directly: use Tokenizer.load(path)");
    tokenizer_ = *info[0].As<Napi::External<TokenizerPtr>>().Data();
  });
}

Napi::Object newTokenizer(Napi::Env env, TokenizerPtr tokenizer) {
  auto external = Napi::External<TokenizerPtr>::New(env, &tokenizer);
  return constructorOf(env, "Tokenizer").New({external});
}

TokenizerPtr Tokenizer::tokenizerOf(Napi::Value value, const char* field) {
  if (!value.IsObject() || !value.As<Napi::Object>().InstanceOf(constructorOf(value.Env(), "Tokenizer")))
    fail(ErrorCode::InvalidArgument, std::string(field) + " must be a Tokenizer");
  return Tokenizer::Unwrap(value.As<Napi::Object>())->tokenizer_;
}

Napi::Value Tokenizer::Load(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&]() -> Napi::Value {
    if (info.Length() < 1 || !info[0].IsString()) fail(ErrorCode::InvalidArgument, "path must be a string");
    auto* worker = new LoadTokenizerWorker(info.Env(), info[0].As<Napi::String>().Utf8Value());
    Napi::Promise promise = worker->Promise();
    worker->Queue();
    return promise;
  });
}

Napi::Value Tokenizer::GetInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const tokenizer::Vocab& v = tokenizer_->vocab();
  Napi::Object o = Napi::Object::New(env);
  o.Set("path", tokenizer_->path());
  o.Set("format", tokenizer_->format());
  o.Set("vocabSize", v.size());
  o.Set("bos", v.bos);
  o.Set("eos", v.eos);
  o.Set("unk", v.unk);
  o.Set("addBos", v.addBos);
  o.Set("addSpacePrefix", v.addSpacePrefix);
  o.Set("maxTokenLength", v.maxTokenLength);
  o.Set("model", tokenizer::vocabModelName(v.model));
  if (!v.pre.empty()) o.Set("pre", v.pre);
  Napi::Array eog = Napi::Array::New(env, v.eog.size());
  for (size_t i = 0; i < v.eog.size(); ++i) eog.Set(uint32_t(i), v.eog[i]);
  o.Set("eogTokens", eog);
  if (!tokenizer_->chatTemplate().empty()) o.Set("chatTemplate", tokenizer_->chatTemplate());
  return o;
}

Tokenizer::EncodeArgs Tokenizer::encodeArgs(const Napi::CallbackInfo& info) const {
  if (info.Length() < 1 || !info[0].IsString()) fail(ErrorCode::InvalidArgument, "text must be a string");
  EncodeArgs a{info[0].As<Napi::String>().Utf8Value(), tokenizer_->vocab().addBos, false};
  if (info.Length() > 1 && !info[1].IsUndefined()) {
    Napi::Object options = objectArg(info, 1, "options");
    a.bos = boolFieldOr(options, "bos", a.bos);
    a.special = boolFieldOr(options, "special", false);
  }
  return a;
}

Napi::Value Tokenizer::Encode(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&]() -> Napi::Value {
    EncodeArgs a = encodeArgs(info);
    std::vector<int32_t> ids = tokenizer_->encode(a.text, a.bos, a.special);
    return newTypedArray<int32_t>(info.Env(), ids.size(), ids.data());
  });
}

Napi::Value Tokenizer::EncodeAsync(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&]() -> Napi::Value {
    EncodeArgs a = encodeArgs(info);
    auto* worker = new EncodeWorker(info.Env(), tokenizer_, std::move(a.text), a.bos, a.special);
    Napi::Promise promise = worker->Promise();
    worker->Queue();
    return promise;
  });
}

Napi::Value Tokenizer::Decode(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&]() -> Napi::Value {
    if (info.Length() < 1) fail(ErrorCode::InvalidArgument, "tokens must be an Int32Array");
    auto tokens = typedArray<int32_t>(info[0], "tokens");
    int32_t previous = info.Length() > 1 ? tokenArg(info[1], "previous", tokenizer_->size(), true) : -1;
    std::vector<int32_t> ids(tokens.data, tokens.data + tokens.length);
    for (size_t i = 0; i < ids.size(); ++i)
      if (ids[i] < 0 || ids[i] >= tokenizer_->size())
        fail(ErrorCode::InvalidArgument, "tokens[" + std::to_string(i) + "] = " + std::to_string(ids[i]) +
                                             " is outside the vocabulary [0, " + std::to_string(tokenizer_->size()) + ")");
    return Napi::String::New(info.Env(), tokenizer_->decode(ids, previous));
  });
}

Napi::Value Tokenizer::Token(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&]() -> Napi::Value {
    int32_t id = tokenArg(info.Length() > 0 ? info[0] : info.Env().Undefined(), "id", tokenizer_->size(), false);
    const tokenizer::VocabToken& t = tokenizer_->vocab().tokens[id];
    Napi::Object o = Napi::Object::New(info.Env());
    std::string text;
    tokenizer::appendCompleteUtf8(t.text, text, true);  // GGUF texts may hold invalid UTF-8
    o.Set("text", text);
    o.Set("score", t.score);
    o.Set("type", tokenizer::tokenTypeName(t.type));
    return o;
  });
}

Napi::Value Tokenizer::CreateDecoder(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&]() -> Napi::Value {
    int32_t previous = info.Length() > 0 ? tokenArg(info[0], "previous", tokenizer_->size(), true) : -1;
    auto external = Napi::External<TokenizerPtr>::New(info.Env(), &tokenizer_);
    return constructorOf(info.Env(), "TokenDecoder").New({external, Napi::Number::New(info.Env(), previous)});
  });
}

void TokenDecoder::Init(Napi::Env env, Napi::Object exports) {
  Napi::Function cls = DefineClass(env, "TokenDecoder",
                                   {
                                       InstanceMethod<&TokenDecoder::Push>("push"),
                                       InstanceMethod<&TokenDecoder::Flush>("flush"),
                                       InstanceAccessor<&TokenDecoder::GetPending>("pending"),
                                   });
  storeConstructor(env, "TokenDecoder", cls);
  exports.Set("TokenDecoder", cls);
}

TokenDecoder::TokenDecoder(const Napi::CallbackInfo& info) : Napi::ObjectWrap<TokenDecoder>(info) {
  guarded(info.Env(), [&] {
    if (info.Length() != 2 || !info[0].IsExternal() || !info[1].IsNumber())
      fail(ErrorCode::InvalidArgument, "TokenDecoder cannot be constructed directly: use tokenizer.createDecoder()");
    TokenizerPtr tokenizer = *info[0].As<Napi::External<TokenizerPtr>>().Data();
    decoder_ = std::make_unique<tokenizer::IncrementalDecoder>(tokenizer, info[1].As<Napi::Number>().Int32Value());
    tokenizer_ = tokenizer;
  });
}

Napi::Value TokenDecoder::Push(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&]() -> Napi::Value {
    int32_t token = tokenArg(info.Length() > 0 ? info[0] : info.Env().Undefined(), "token", tokenizer_->size(), false);
    return Napi::String::New(info.Env(), decoder_->push(token));
  });
}

Napi::Value TokenDecoder::Flush(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), decoder_->flush());
}

Napi::Value TokenDecoder::GetPending(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), decoder_->pending());
}

namespace {
void InitTokenizer(Napi::Env env, Napi::Object exports) {
  Tokenizer::Init(env, exports);
  TokenDecoder::Init(env, exports);
}
}  // namespace

}  // namespace redrafter::addon

REDRAFTER_ADDON_PART(tokenizer, redrafter::addon::InitTokenizer)
