#include "engine/drafter_file.h"

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <vector>

#include "core/error.h"

namespace redrafter::cuda::engine {

namespace {

// A JSON value: just what config.json and a safetensors header hold.
struct Json {
  enum Kind { Null, Bool, Number, String, Array, Object } kind = Null;
  bool boolean = false;
  double number = 0;
  std::string string;
  std::vector<Json> array;
  std::map<std::string, Json> object;
};

// Untrusted text: nesting is bounded (no recursion past kMaxDepth), numbers must parse whole and be finite, escapes
// must be well-formed; every problem is InvalidModel naming the file and the byte.
class JsonParser {
 public:
  static constexpr int kMaxDepth = 64;
  JsonParser(const std::string& text, const std::string& file) : s_(text), file_(file) {}
  Json parseDocument() {
    Json v = value();
    space();
    if (i_ != s_.size()) bad("trailing characters");
    return v;
  }

 private:
  [[noreturn]] void bad(const std::string& why) {
    fail(ErrorCode::InvalidModel, file_ + ": invalid JSON at byte " + std::to_string(i_) + ": " + why);
  }
  void space() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\n' || s_[i_] == '\r' || s_[i_] == '\t')) ++i_;
  }
  bool eat(char c) {
    space();
    if (i_ < s_.size() && s_[i_] == c) {
      ++i_;
      return true;
    }
    return false;
  }
  void expect(char c) {
    if (!eat(c)) bad(std::string("expected '") + c + "'");
  }
  std::string str() {
    expect('"');
    std::string out;
    while (i_ < s_.size() && s_[i_] != '"') {
      char c = s_[i_++];
      if (c == '\\') {
        if (i_ >= s_.size()) bad("unterminated escape");
        char e = s_[i_++];
        switch (e) {
          case 'n': out += '\n'; break;
          case 't': out += '\t'; break;
          case 'r': out += '\r'; break;
          case 'b': out += '\b'; break;
          case 'f': out += '\f'; break;
          case 'u': {  // names here are ASCII; keep the escape's code unit as '?' when it is not
            if (i_ + 4 > s_.size()) bad("short \\u escape");
            int unit = 0;
            for (int k = 0; k < 4; ++k) {
              const char h = s_[i_ + k];
              const int digit = h >= '0' && h <= '9' ? h - '0' : h >= 'a' && h <= 'f' ? h - 'a' + 10 : h >= 'A' && h <= 'F' ? h - 'A' + 10 : -1;
              if (digit < 0) bad("invalid \\u escape");
              unit = unit * 16 + digit;
            }
            out += unit < 128 ? char(unit) : '?';
            i_ += 4;
            break;
          }
          default: out += e;
        }
      } else {
        out += c;
      }
    }
    if (i_ >= s_.size()) bad("unterminated string");
    ++i_;
    return out;
  }
  Json value(int depth = 0) {
    space();
    if (i_ >= s_.size()) bad("unexpected end");
    Json v;
    const char c = s_[i_];
    if ((c == '{' || c == '[') && depth >= kMaxDepth) bad("nested more than " + std::to_string(kMaxDepth) + " deep");
    if (c == '{') {
      ++i_;
      v.kind = Json::Object;
      if (eat('}')) return v;
      do {
        space();
        std::string key = str();
        expect(':');
        v.object[key] = value(depth + 1);
      } while (eat(','));
      expect('}');
    } else if (c == '[') {
      ++i_;
      v.kind = Json::Array;
      if (eat(']')) return v;
      do v.array.push_back(value(depth + 1));
      while (eat(','));
      expect(']');
    } else if (c == '"') {
      v.kind = Json::String;
      v.string = str();
    } else if (s_.compare(i_, 4, "true") == 0) {
      v.kind = Json::Bool, v.boolean = true, i_ += 4;
    } else if (s_.compare(i_, 5, "false") == 0) {
      v.kind = Json::Bool, i_ += 5;
    } else if (s_.compare(i_, 4, "null") == 0) {
      i_ += 4;
    } else {
      size_t end = i_;
      while (end < s_.size() && std::strchr("+-0123456789.eE", s_[end])) ++end;
      if (end == i_) bad("unexpected character");
      v.kind = Json::Number;
      const std::string token = s_.substr(i_, end - i_);
      char* parsed = nullptr;
      v.number = std::strtod(token.c_str(), &parsed);
      if (parsed != token.c_str() + token.size() || !std::isfinite(v.number)) bad("invalid number " + token);
      i_ = end;
    }
    return v;
  }
  const std::string& s_;
  std::string file_;
  size_t i_ = 0;
};

std::string readFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) fail(ErrorCode::Io, path + ": cannot be opened");
  std::ostringstream ss;
  ss << f.rdbuf();
  if (!f.good() && !f.eof()) fail(ErrorCode::Io, path + ": read failed");
  return ss.str();
}

int32_t intKey(const Json& o, const char* key, int32_t min, const std::string& file) {
  auto it = o.object.find(key);
  if (it == o.object.end()) fail(ErrorCode::InvalidModel, file + ": " + key + " is missing");
  const double v = it->second.number;
  if (it->second.kind != Json::Number || !(v >= min && v <= (1 << 24)) || v != std::floor(v))
    fail(ErrorCode::InvalidModel, file + ": " + key + " must be an integer >= " + std::to_string(min));
  return int32_t(v);
}

// A safetensors shape dimension or data offset: an integer in [0, 2^53] (beyond it doubles skip integers).
uint64_t sizeValue(const Json& j, const std::string& what, const std::string& file) {
  if (j.kind != Json::Number || !(j.number >= 0 && j.number <= 9007199254740992.0) || j.number != std::floor(j.number))
    fail(ErrorCode::InvalidModel, file + ": " + what + " must be a non-negative integer");
  return uint64_t(j.number);
}

float halfToFloat(uint16_t h, bool bf16) { return bf16 ? bf16ToF32(h) : fp16ToF32(h); }

}  // namespace

DrafterWeights readDrafterDirectory(const std::string& dir) {
  const std::string configPath = dir + "/config.json", tensorsPath = dir + "/model.safetensors";
  const Json config = JsonParser(readFile(configPath), configPath).parseDocument();
  if (config.kind != Json::Object) fail(ErrorCode::InvalidModel, configPath + ": must hold a JSON object");
  DrafterConfig c;
  c.vocabSize = intKey(config, "vocab_size", 1, configPath);
  c.hiddenSize = intKey(config, "hidden_size", 1, configPath);
  c.exitDim = intKey(config, "exit_dim", 1, configPath);
  c.numDraftLayers = intKey(config, "num_draft_layers", 0, configPath);
  auto rnn = config.object.find("rnn");
  if (rnn != config.object.end()) {
    if (rnn->second.kind != Json::Bool) fail(ErrorCode::InvalidModel, configPath + ": rnn must be a boolean");
    c.rnn = rnn->second.boolean;
  } else {
    c.rnn = false;  // Apple's DrafterConfig default
  }
  DrafterWeights w = DrafterWeights::zeros(c, dir);

  const std::string file = readFile(tensorsPath);
  if (file.size() < 8) fail(ErrorCode::InvalidModel, tensorsPath + ": too short for a safetensors header");
  uint64_t headerBytes = 0;
  for (int i = 7; i >= 0; --i) headerBytes = (headerBytes << 8) | uint8_t(file[size_t(i)]);
  if (headerBytes > file.size() - 8)
    fail(ErrorCode::InvalidModel, tensorsPath + ": header length " + std::to_string(headerBytes) + " exceeds the file");
  const Json header = JsonParser(file.substr(8, size_t(headerBytes)), tensorsPath).parseDocument();
  if (header.kind != Json::Object) fail(ErrorCode::InvalidModel, tensorsPath + ": header must be a JSON object");
  const size_t dataStart = 8 + size_t(headerBytes), dataBytes = file.size() - dataStart;
  std::set<std::string> expected;
  for (const auto& spec : w.specs) {
    expected.insert(spec.name);
    auto it = header.object.find(spec.name);
    if (it == header.object.end())
      fail(ErrorCode::InvalidModel, tensorsPath + ": tensor " + spec.name + " is missing");
    const Json& t = it->second;
    auto field = [&](const char* key) -> const Json& {
      auto f = t.object.find(key);
      if (f == t.object.end()) fail(ErrorCode::InvalidModel, tensorsPath + ": tensor " + spec.name + " has no " + key);
      return f->second;
    };
    const std::string dtype = field("dtype").string;
    const size_t elem = dtype == "F32" ? 4 : (dtype == "F16" || dtype == "BF16") ? 2 : 0;
    if (!elem)
      fail(ErrorCode::InvalidModel, tensorsPath + ": tensor " + spec.name + " has dtype " + dtype +
                                        " (F32, F16 or BF16 expected)");
    int64_t count = 1;
    for (const Json& d : field("shape").array) {
      const uint64_t n = sizeValue(d, "tensor " + spec.name + " shape", tensorsPath);
      if (n > 0 && uint64_t(count) > (uint64_t(1) << 40) / n)
        fail(ErrorCode::InvalidModel, tensorsPath + ": tensor " + spec.name + " has an absurd shape");
      count *= int64_t(n);
    }
    const Json& offsets = field("data_offsets");
    if (offsets.array.size() != 2) fail(ErrorCode::InvalidModel, tensorsPath + ": tensor " + spec.name + " data_offsets");
    const uint64_t begin = sizeValue(offsets.array[0], "tensor " + spec.name + " data_offsets", tensorsPath);
    const uint64_t end = sizeValue(offsets.array[1], "tensor " + spec.name + " data_offsets", tensorsPath);
    if (count != spec.elements() || end < begin || end > dataBytes || end - begin != uint64_t(count) * elem)
      fail(ErrorCode::InvalidModel, tensorsPath + ": tensor " + spec.name + " has " + std::to_string(count) +
                                        " values, the config needs " + std::to_string(spec.elements()));
    const char* src = file.data() + dataStart + begin;
    float* dst = w.data.data() + spec.offset;
    if (elem == 4) {
      std::memcpy(dst, src, size_t(count) * 4);
    } else {
      for (int64_t i = 0; i < count; ++i) {
        uint16_t h;
        std::memcpy(&h, src + 2 * i, 2);
        dst[i] = halfToFloat(h, dtype == "BF16");
      }
    }
  }
  for (const auto& [name, t] : header.object)
    if (name != "__metadata__" && !expected.count(name))
      fail(ErrorCode::InvalidModel, tensorsPath + ": unexpected tensor " + name + " for this config");
  requireFiniteWeights(w, tensorsPath);
  return w;
}

}  // namespace redrafter::cuda::engine
