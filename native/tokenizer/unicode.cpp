#include "tokenizer/unicode.h"

#include <algorithm>
#include <array>

namespace redrafter::tokenizer {

namespace {

using Class = CodepointFlags::Class;
constexpr Class kUndefined = CodepointFlags::kUndefined, kNumber = CodepointFlags::kNumber,
                kLetter = CodepointFlags::kLetter, kSeparator = CodepointFlags::kSeparator,
                kMark = CodepointFlags::kMark, kPunctuation = CodepointFlags::kPunctuation,
                kSymbol = CodepointFlags::kSymbol, kControl = CodepointFlags::kControl;

struct Range {
  uint32_t first;
  Class cls;
};
const Range kRanges[] = {
#include "tokenizer/unicode_flags.inc"
};

// Unicode White_Space (what \s matches in the tokenizers' regexes).
bool isWhitespace(uint32_t cp) {
  switch (cp) {
    case 0x09: case 0x0A: case 0x0B: case 0x0C: case 0x0D: case 0x20: case 0x85: case 0xA0: case 0x1680:
    case 0x2028: case 0x2029: case 0x202F: case 0x205F: case 0x3000:
      return true;
    default:
      return cp >= 0x2000 && cp <= 0x200A;
  }
}

}  // namespace

CodepointFlags codepointFlags(uint32_t cp) {
  CodepointFlags f;
  if (cp > 0x10FFFF) {
    f.cls = kUndefined;
    return f;
  }
  const Range* end = kRanges + sizeof(kRanges) / sizeof(kRanges[0]);
  const Range* r = std::upper_bound(kRanges, end, cp, [](uint32_t c, const Range& x) { return c < x.first; }) - 1;
  f.cls = r->cls;
  f.whitespace = isWhitespace(cp);
  return f;
}

std::vector<uint32_t> utf8ToCodepoints(const std::string& s) {
  std::vector<uint32_t> out;
  out.reserve(s.size());
  const size_t n = s.size();
  auto cont = [&](size_t i) { return i < n && (static_cast<unsigned char>(s[i]) & 0xC0) == 0x80; };
  for (size_t i = 0; i < n;) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    auto b = [&](size_t k) { return uint32_t(static_cast<unsigned char>(s[i + k]) & 0x3F); };
    if (c < 0x80) {
      out.push_back(c);
      i += 1;
    } else if ((c & 0xE0) == 0xC0 && cont(i + 1)) {
      out.push_back((uint32_t(c & 0x1F) << 6) | b(1));
      i += 2;
    } else if ((c & 0xF0) == 0xE0 && cont(i + 1) && cont(i + 2)) {
      out.push_back((uint32_t(c & 0x0F) << 12) | (b(1) << 6) | b(2));
      i += 3;
    } else if ((c & 0xF8) == 0xF0 && cont(i + 1) && cont(i + 2) && cont(i + 3)) {
      out.push_back((uint32_t(c & 0x07) << 18) | (b(1) << 12) | (b(2) << 6) | b(3));
      i += 4;
    } else {
      out.push_back(0xFFFD);  // as llama.cpp's unicode_cpts_from_utf8: skip one byte
      i += 1;
    }
  }
  return out;
}

void appendUtf8(uint32_t cp, std::string& out) {
  if (cp < 0x80) {
    out += char(cp);
  } else if (cp < 0x800) {
    out += char(0xC0 | (cp >> 6));
    out += char(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += char(0xE0 | (cp >> 12));
    out += char(0x80 | ((cp >> 6) & 0x3F));
    out += char(0x80 | (cp & 0x3F));
  } else {
    out += char(0xF0 | (cp >> 18));
    out += char(0x80 | ((cp >> 12) & 0x3F));
    out += char(0x80 | ((cp >> 6) & 0x3F));
    out += char(0x80 | (cp & 0x3F));
  }
}

namespace {
// GPT-2's bytes_to_unicode: printable Latin-1 bytes map to themselves, the other 68 to U+0100.. in byte order.
struct ByteMap {
  std::array<std::string, 256> toUnicode;
  std::array<uint32_t, 256> codepoint;
  ByteMap() {
    uint32_t next = 256;
    for (int b = 0; b < 256; ++b) {
      bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      codepoint[b] = printable ? uint32_t(b) : next++;
      appendUtf8(codepoint[b], toUnicode[b]);
    }
  }
};
const ByteMap& byteMap() {
  static const ByteMap map;
  return map;
}
}  // namespace

const std::string& byteToUnicode(uint8_t byte) { return byteMap().toUnicode[byte]; }

int unicodeToByte(uint32_t cp) {
  if (cp < 256) {
    bool printable = (cp >= 0x21 && cp <= 0x7E) || (cp >= 0xA1 && cp <= 0xAC) || (cp >= 0xAE && cp <= 0xFF);
    return printable ? int(cp) : -1;
  }
  if (cp >= 256 && cp < 256 + 68) {
    const auto& map = byteMap();
    for (int b = 0; b < 256; ++b)
      if (map.codepoint[b] == cp) return b;
  }
  return -1;
}

bool parsePreTokenizer(const std::string& name, PreTokenizer& out) {
  if (name == "llama-bpe" || name == "llama3" || name == "llama-v3") {
    out = PreTokenizer::Llama3;
    return true;
  }
  if (name == "qwen2" || name == "deepseek-r1-qwen") {
    out = PreTokenizer::Qwen2;
    return true;
  }
  return false;
}

std::vector<size_t> preTokenize(PreTokenizer pre, const std::vector<uint32_t>& cps) {
  std::vector<size_t> words;
  const size_t end = cps.size();
  const size_t maxDigits = pre == PreTokenizer::Llama3 ? 3 : 1;
  constexpr uint32_t kOut = 0xFFFFFFFF;
  auto cpAt = [&](size_t i) { return i < end ? cps[i] : kOut; };
  auto flagsAt = [&](size_t i) { return i < end ? codepointFlags(cps[i]) : CodepointFlags{}; };
  auto lower = [](uint32_t c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; };
  size_t prevEnd = 0;
  auto add = [&](size_t e) {
    if (e > prevEnd) words.push_back(e - prevEnd);
    prevEnd = e;
  };
  for (size_t pos = 0; pos < end;) {
    const uint32_t cp = cps[pos];
    const CodepointFlags f = flagsAt(pos);
    // (?i:'s|'t|'re|'ve|'m|'ll|'d)
    if (cp == '\'' && pos + 1 < end) {
      const uint32_t n1 = lower(cpAt(pos + 1));
      if (n1 == 's' || n1 == 't' || n1 == 'm' || n1 == 'd') {
        add(pos += 2);
        continue;
      }
      if (pos + 2 < end) {
        const uint32_t n2 = lower(cpAt(pos + 2));
        if ((n1 == 'r' && n2 == 'e') || (n1 == 'v' && n2 == 'e') || (n1 == 'l' && n2 == 'l')) {
          add(pos += 3);
          continue;
        }
      }
    }
    // [^\r\n\p{L}\p{N}]?\p{L}+
    if (!(cp == '\r' || cp == '\n' || f.isNumber())) {
      if (f.isLetter() || flagsAt(pos + 1).isLetter()) {
        ++pos;
        while (flagsAt(pos).isLetter()) ++pos;
        add(pos);
        continue;
      }
    }
    // \p{N}{1,3} (Qwen2: \p{N})
    if (f.isNumber()) {
      size_t start = pos;
      while (flagsAt(pos).isNumber()) {
        if (++pos - start >= maxDigits) {
          add(pos);
          start = pos;
        }
      }
      add(pos);
      continue;
    }
    // <space>?[^\s\p{L}\p{N}]+[\r\n]*
    CodepointFlags f2 = cp == ' ' ? flagsAt(pos + 1) : f;
    if (!(f2.whitespace || f2.isLetter() || f2.isNumber()) && f.any()) {
      pos += cp == ' ' ? 1 : 0;
      while (!(f2.whitespace || f2.isLetter() || f2.isNumber()) && f2.any()) f2 = flagsAt(++pos);
      while (cpAt(pos) == '\r' || cpAt(pos) == '\n') ++pos;
      add(pos);
      continue;
    }
    size_t spaces = 0, lastNewlineEnd = 0;
    while (flagsAt(pos + spaces).whitespace) {
      const uint32_t c = cpAt(pos + spaces);
      if (c == '\r' || c == '\n') lastNewlineEnd = pos + spaces + 1;
      ++spaces;
    }
    if (lastNewlineEnd > 0) {  // \s*[\r\n]+
      add(pos = lastNewlineEnd);
      continue;
    }
    if (spaces > 1 && cpAt(pos + spaces) != kOut) {  // \s+(?!\S)
      add(pos += spaces - 1);
      continue;
    }
    if (spaces > 0) {  // \s+
      add(pos += spaces);
      continue;
    }
    add(++pos);  // no match: one code point
  }
  return words;
}

}  // namespace redrafter::tokenizer
