// TextTokenizer: TextTokenizer.load(path, expectedVocab) (async), encode(text, addBos), piece(token, previous).
#include "addon/text_tokenizer.h"

#include "addon/args.h"
#include "addon/class_registry.h"
#include "addon/errors.h"

namespace redrafter::addon {

namespace {

class LoadTokenizerWorker : public PromiseWorker {
 public:
  LoadTokenizerWorker(Napi::Env env, std::string path, int32_t expectedVocab)
      : PromiseWorker(env), path_(std::move(path)), expectedVocab_(expectedVocab) {}

 protected:
  void Run() override {
    tokenizer_ = cpu::Tokenizer::load(path_);
    if (expectedVocab_ > 0 && tokenizer_->size() != expectedVocab_)
      fail(ErrorCode::InvalidModel, path_ + ": the tokenizer has " + std::to_string(tokenizer_->size()) +
                                        " tokens but the model's vocabulary has " + std::to_string(expectedVocab_));
  }
  Napi::Value Resolve(Napi::Env env) override { return TextTokenizer::create(env, tokenizer_); }

 private:
  std::string path_;
  int32_t expectedVocab_;
  std::shared_ptr<const cpu::Tokenizer> tokenizer_;
};

}  // namespace

void TextTokenizer::Init(Napi::Env env, Napi::Object ns) {
  Napi::Function cls = DefineClass(env, "TextTokenizer",
                                   {StaticMethod<&TextTokenizer::Load>("load"),
                                    InstanceMethod<&TextTokenizer::Encode>("encode"),
                                    InstanceMethod<&TextTokenizer::Piece>("piece"),
                                    InstanceAccessor<&TextTokenizer::GetBos>("bos"),
                                    InstanceAccessor<&TextTokenizer::GetEos>("eos"),
                                    InstanceAccessor<&TextTokenizer::GetSize>("size")});
  storeConstructor(env, "TextTokenizer", cls);
  ns.Set("TextTokenizer", cls);
}

TextTokenizer::TextTokenizer(const Napi::CallbackInfo& info) : Napi::ObjectWrap<TextTokenizer>(info) {}

Napi::Object TextTokenizer::create(Napi::Env env, std::shared_ptr<const cpu::Tokenizer> tokenizer) {
  Napi::Object o = constructorOf(env, "TextTokenizer").New({});
  TextTokenizer::Unwrap(o)->tokenizer_ = std::move(tokenizer);
  return o;
}

Napi::Value TextTokenizer::Load(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&]() -> Napi::Value {
    if (info.Length() < 1 || !info[0].IsString()) fail(ErrorCode::InvalidArgument, "tokenizer must be a path");
    int32_t expected = info.Length() > 1 && info[1].IsNumber() ? info[1].As<Napi::Number>().Int32Value() : 0;
    auto* worker = new LoadTokenizerWorker(info.Env(), info[0].As<Napi::String>().Utf8Value(), expected);
    worker->Queue();
    return worker->Promise();
  });
}

Napi::Value TextTokenizer::Encode(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&]() -> Napi::Value {
    if (!tokenizer_) fail(ErrorCode::InvalidArgument, "TextTokenizer cannot be constructed directly");
    if (info.Length() < 1 || !info[0].IsString()) fail(ErrorCode::InvalidArgument, "prompt must be a string");
    bool addBos = info.Length() > 1 && info[1].ToBoolean().Value();
    std::vector<int32_t> ids = tokenizer_->encode(info[0].As<Napi::String>().Utf8Value(), addBos);
    return newTypedArray<int32_t>(info.Env(), ids.size(), ids.data());
  });
}

// piece(token, previous) -> Uint8Array: the bytes of `token` after `previous` (-1: none).
Napi::Value TextTokenizer::Piece(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&]() -> Napi::Value {
    if (!tokenizer_) fail(ErrorCode::InvalidArgument, "TextTokenizer cannot be constructed directly");
    if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsNumber())
      fail(ErrorCode::InvalidArgument, "token and previous must be numbers");
    std::string bytes = tokenizer_->piece(info[0].As<Napi::Number>().Int32Value(), info[1].As<Napi::Number>().Int32Value());
    return newTypedArray<uint8_t>(info.Env(), bytes.size(), reinterpret_cast<const uint8_t*>(bytes.data()));
  });
}

Napi::Value TextTokenizer::GetBos(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), tokenizer_ ? tokenizer_->bos() : -1); }
Napi::Value TextTokenizer::GetEos(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), tokenizer_ ? tokenizer_->eos() : -1); }
Napi::Value TextTokenizer::GetSize(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), tokenizer_ ? tokenizer_->size() : 0); }

}  // namespace redrafter::addon
