// JS classes Tokenizer (async Tokenizer.load(path) from a tokenizer.bin or GGUF; encode, decode, token,
// createDecoder) and TokenDecoder (push/flush: incremental decoding that never splits a UTF-8 character).
// Other addon parts reach the C++ tokenizer of a JS Tokenizer through Tokenizer::tokenizerOf.
#pragma once
#include <napi.h>

#include <memory>
#include <string>

#include "tokenizer/tokenizer.h"

namespace redrafter::addon {

class Tokenizer : public Napi::ObjectWrap<Tokenizer> {
 public:
  static void Init(Napi::Env env, Napi::Object exports);
  explicit Tokenizer(const Napi::CallbackInfo& info);  // JS: only through Tokenizer.load

  // The tokenizer of a JS Tokenizer object; throws InvalidArgument naming `field` for anything else.
  static std::shared_ptr<const tokenizer::Tokenizer> tokenizerOf(Napi::Value value, const char* field);

 private:
  static Napi::Value Load(const Napi::CallbackInfo& info);
  Napi::Value GetInfo(const Napi::CallbackInfo& info);
  Napi::Value Encode(const Napi::CallbackInfo& info);
  Napi::Value EncodeAsync(const Napi::CallbackInfo& info);  // the same, off the event loop (long texts)
  Napi::Value Decode(const Napi::CallbackInfo& info);
  Napi::Value Token(const Napi::CallbackInfo& info);
  Napi::Value CreateDecoder(const Napi::CallbackInfo& info);

  struct EncodeArgs {
    std::string text;
    bool bos, special;
  };
  EncodeArgs encodeArgs(const Napi::CallbackInfo& info) const;  // (text, { bos?, special? })

  std::shared_ptr<const tokenizer::Tokenizer> tokenizer_;
};

class TokenDecoder : public Napi::ObjectWrap<TokenDecoder> {
 public:
  static void Init(Napi::Env env, Napi::Object exports);
  explicit TokenDecoder(const Napi::CallbackInfo& info);  // JS: only through Tokenizer#createDecoder

 private:
  Napi::Value Push(const Napi::CallbackInfo& info);
  Napi::Value Flush(const Napi::CallbackInfo& info);
  Napi::Value GetPending(const Napi::CallbackInfo& info);

  std::shared_ptr<const tokenizer::Tokenizer> tokenizer_;
  std::unique_ptr<tokenizer::IncrementalDecoder> decoder_;
};

// Creates a JS Tokenizer around a loaded tokenizer (main thread).
Napi::Object newTokenizer(Napi::Env env, std::shared_ptr<const tokenizer::Tokenizer> tokenizer);

}  // namespace redrafter::addon
