// Decoding: token pieces (llama2.c's BOS rule), UTF-8 completion, the incremental decoder.
#include <cstdio>

#include "core/error.h"
#include "tokenizer/tokenizer.h"

namespace redrafter::tokenizer {

namespace {
const char* kReplacement = "\xef\xbf\xbd";  // U+FFFD

// Length of the UTF-8 sequence led by `lead` (0: not a valid lead byte) and the valid range of its 2nd byte.
int sequenceLength(unsigned char lead, unsigned char& lo, unsigned char& hi) {
  lo = 0x80;
  hi = 0xbf;
  if (lead < 0x80) return 1;
  if (lead >= 0xc2 && lead <= 0xdf) return 2;
  if (lead >= 0xe0 && lead <= 0xef) {
    if (lead == 0xe0) lo = 0xa0;  // no overlongs
    if (lead == 0xed) hi = 0x9f;  // no surrogates
    return 3;
  }
  if (lead >= 0xf0 && lead <= 0xf4) {
    if (lead == 0xf0) lo = 0x90;
    if (lead == 0xf4) hi = 0x8f;  // <= U+10FFFF
    return 4;
  }
  return 0;
}
}  // namespace

size_t appendCompleteUtf8(const std::string& bytes, std::string& out, bool final) {
  size_t i = 0;
  const size_t n = bytes.size();
  while (i < n) {
    unsigned char lo, hi;
    unsigned char lead = static_cast<unsigned char>(bytes[i]);
    int length = sequenceLength(lead, lo, hi);
    if (length == 0) {
      out += kReplacement;
      ++i;
      continue;
    }
    // How many of the following bytes continue the sequence validly.
    int valid = 1;
    while (valid < length && i + valid < n) {
      unsigned char c = static_cast<unsigned char>(bytes[i + valid]);
      bool ok = valid == 1 ? (c >= lo && c <= hi) : (c >= 0x80 && c <= 0xbf);
      if (!ok) break;
      ++valid;
    }
    if (valid == length) {
      out.append(bytes, i, length);
      i += length;
    } else if (i + valid == n && !final) {
      return n - i;  // a valid start of a character that the next bytes may complete
    } else {
      out += kReplacement;  // a broken sequence: one replacement for its valid prefix
      i += valid;
    }
  }
  return 0;
}

std::string Tokenizer::piece(int32_t token, int32_t previous) const {
  if (token < 0 || token >= vocab_.size())
    fail(ErrorCode::InvalidArgument, "token " + std::to_string(token) + " is outside the vocabulary (0.." +
                                         std::to_string(vocab_.size() - 1) + ")");
  const VocabToken& t = vocab_.tokens[token];
  switch (t.type) {
    case TokenType::Byte: {
      int b = parseByteToken(t.text);
      return b >= 0 ? std::string(1, char(b)) : std::string();
    }
    case TokenType::UserDefined:
      return t.text;  // verbatim, as llama.cpp
    case TokenType::Normal: {
      if (vocab_.model == VocabModel::Bpe) {  // GPT-2's printable code points back to bytes
        std::string out;
        for (uint32_t cp : utf8ToCodepoints(t.text)) {
          int b = unicodeToByte(cp);
          if (b >= 0) {
            out += char(b);
          } else {  // not a byte's code point: written as llama.cpp's llama_decode_text does
            std::string utf8;
            appendUtf8(cp, utf8);
            out += "[UNK_BYTE_0x";
            for (char c : utf8) {
              char hex[3];
              std::snprintf(hex, sizeof hex, "%02x", unsigned(static_cast<unsigned char>(c)));
              out += hex;
            }
            out += t.text + "]";
          }
        }
        return out;
      }
      std::string out;
      out.reserve(t.text.size());
      for (size_t i = 0; i < t.text.size(); ++i) {
        if (t.text.compare(i, 3, "\xe2\x96\x81") == 0) {
          out += ' ';
          i += 2;
        } else {
          out += t.text[i];
        }
      }
      if (previous == vocab_.bos && !out.empty() && out[0] == ' ') out.erase(0, 1);  // llama2.c
      return out;
    }
    default:
      return std::string();  // control, unknown, unused: no text
  }
}

std::string Tokenizer::decode(const std::vector<int32_t>& tokens, int32_t previous) const {
  std::string bytes;
  for (int32_t token : tokens) {
    bytes += piece(token, previous);
    previous = token;
  }
  std::string out;
  appendCompleteUtf8(bytes, out, true);
  return out;
}

std::string IncrementalDecoder::push(int32_t token) {
  buffer_ += tokenizer_->piece(token, previous_);
  previous_ = token;
  std::string out;
  size_t held = appendCompleteUtf8(buffer_, out, false);
  buffer_.erase(0, buffer_.size() - held);
  return out;
}

std::string IncrementalDecoder::flush() {
  std::string out;
  appendCompleteUtf8(buffer_, out, true);
  buffer_.clear();
  return out;
}

}  // namespace redrafter::tokenizer
