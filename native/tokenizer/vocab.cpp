#include "tokenizer/vocab.h"

#include <algorithm>

namespace redrafter::tokenizer {

const char* tokenTypeName(TokenType type) {
  switch (type) {
    case TokenType::Undefined: return "undefined";
    case TokenType::Normal: return "normal";
    case TokenType::Unknown: return "unknown";
    case TokenType::Control: return "control";
    case TokenType::UserDefined: return "user-defined";
    case TokenType::Unused: return "unused";
    case TokenType::Byte: return "byte";
  }
  return "undefined";
}

const char* vocabModelName(VocabModel model) { return model == VocabModel::Bpe ? "gpt2" : "llama"; }

int parseByteToken(const std::string& t) {
  if (t.size() != 6 || t[0] != '<' || t[1] != '0' || t[2] != 'x' || t[5] != '>') return -1;
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  int hi = hex(t[3]), lo = hex(t[4]);
  return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}

void Vocab::finish() {
  index.clear();
  index.reserve(tokens.size() * 2);
  std::fill(byteTokens, byteTokens + 256, -1);
  maxTokenLength = std::max<int32_t>(maxTokenLength, 0);
  for (int32_t id = 0; id < int32_t(tokens.size()); ++id) {
    const VocabToken& t = tokens[id];
    index[t.text] = id;
    maxTokenLength = std::max<int32_t>(maxTokenLength, int32_t(t.text.size()));
  }
  if (model == VocabModel::Bpe) {
    std::fill(byteTokens, byteTokens + 256, -1);  // byte-level BPE has no <0xXX> tokens
    return;
  }
  // llama.cpp's byte_to_token: the "<0xXX>" text looked up among all tokens (whatever their type).
  static const char* hexDigits = "0123456789ABCDEF";
  for (int b = 0; b < 256; ++b) {
    std::string text = {'<', '0', 'x', hexDigits[b >> 4], hexDigits[b & 15], '>'};
    byteTokens[b] = find(text);
    if (byteTokens[b] < 0) byteTokens[b] = find(std::string(1, char(b)));  // llama.cpp's fallback: the byte itself
  }
}

}  // namespace redrafter::tokenizer
