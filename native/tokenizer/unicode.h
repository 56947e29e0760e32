// Unicode for the byte-level BPE tokenizers: code point classes (general categories as llama.cpp's pre-tokenizers
// test them), UTF-8 to code points as llama.cpp reads them, GPT-2's byte <-> printable code point mapping, and the
// pre-tokenizer splits named by GGUF tokenizer.ggml.pre.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace redrafter::tokenizer {

// One general category class per code point (scripts/gen-unicode-flags.mjs writes the table), plus White_Space.
struct CodepointFlags {
  enum Class : uint8_t {
    kNone = 0,  // outside any text (past the end of a fragment)
    kUndefined = 1,
    kNumber = 2,       // \p{N}
    kLetter = 4,       // \p{L}
    kSeparator = 8,    // \p{Z}
    kMark = 16,        // \p{M}
    kPunctuation = 32, // \p{P}
    kSymbol = 64,      // \p{S}
    kControl = 128,    // \p{C} (assigned: Cc, Cf, Cs, Co)
  };
  uint8_t cls = kNone;
  bool whitespace = false;  // \s: Unicode White_Space
  bool isLetter() const { return cls == kLetter; }
  bool isNumber() const { return cls == kNumber; }
  bool any() const { return cls != kNone; }
};
CodepointFlags codepointFlags(uint32_t cp);

// Code points of `utf8`; an invalid or truncated sequence becomes U+FFFD for its lead byte (llama.cpp's rule).
std::vector<uint32_t> utf8ToCodepoints(const std::string& utf8);
void appendUtf8(uint32_t cp, std::string& out);

// GPT-2 byte-level encoding: each byte as a printable code point (bytes_to_unicode), and back (-1: not a byte's).
const std::string& byteToUnicode(uint8_t byte);
int unicodeToByte(uint32_t cp);

// The pre-tokenizers (tokenizer.ggml.pre) this tokenizer implements.
enum class PreTokenizer {
  Llama3,  // "llama-bpe", "llama3", "llama-v3": Llama 3's regex, digits in runs of up to 3
  Qwen2,   // "qwen2", "deepseek-r1-qwen": the same regex with single digits
};
// The PreTokenizer of a tokenizer.ggml.pre value, or false when it is not one of them.
bool parsePreTokenizer(const std::string& name, PreTokenizer& out);

// The words of `text` under `pre`: the regex
//   (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
// (Qwen2: \p{N} instead of \p{N}{1,3}) matched left to right as llama.cpp does (by hand, as its
// unicode_regex_split_custom_llama3/_qwen2). Returns each word's length in code points; they sum to cps.size().
std::vector<size_t> preTokenize(PreTokenizer pre, const std::vector<uint32_t>& cps);

}  // namespace redrafter::tokenizer
