// A SentencePiece vocabulary in llama.cpp's form: piece texts with spaces as U+2581 ("▁"), a score and a type
// per token. Built from a llama2.c tokenizer.bin (normalised exactly as llama.cpp's convert-llama2c-to-ggml does)
// or from a GGUF's tokenizer.ggml.* metadata.
#pragma once
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

namespace redrafter::tokenizer {

// GGUF tokenizer.ggml.token_type values (llama.cpp's llama_token_type).
enum class TokenType : int32_t { Undefined = 0, Normal = 1, Unknown = 2, Control = 3, UserDefined = 4, Unused = 5, Byte = 6 };
const char* tokenTypeName(TokenType type);

struct VocabToken {
  std::string text;  // as stored in GGUF: "▁" for spaces, "<0x0A>" for byte tokens, "<s>" for BOS
  float score = 0;
  TokenType type = TokenType::Normal;
};

struct Vocab {
  std::vector<VocabToken> tokens;
  std::unordered_map<std::string, int32_t> index;  // text -> id (the last id wins for duplicate texts, as llama.cpp)
  int32_t bos = 1, eos = 2, unk = 0;
  bool addBos = true;          // tokenizer.ggml.add_bos_token
  bool addSpacePrefix = true;  // tokenizer.ggml.add_space_prefix (SentencePiece dummy prefix)
  int32_t byteTokens[256];     // byte value -> id of its <0xXX> token, -1 when absent
  int32_t maxTokenLength = 0;  // longest text in bytes (llama2.c header value when loaded from tokenizer.bin)

  int32_t size() const { return int32_t(tokens.size()); }
  int32_t find(const std::string& text) const {
    auto it = index.find(text);
    return it == index.end() ? -1 : it->second;
  }
  // Builds `index` and `byteTokens` from `tokens`.
  void finish();
};

// The byte value of a "<0xXX>" token text, or -1.
int parseByteToken(const std::string& text);

}  // namespace redrafter::tokenizer
