#include "model/drafter_file.h"

#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <sstream>

#include "core/error.h"
#include "model/half.h"
#include "model/mapped_file.h"

namespace redrafter::model {

namespace {

// A JSON value: what config.json and a safetensors header hold.
struct Json {
  enum Kind { Null, Bool, Number, String, Array, Object } kind = Null;
  bool boolean = false;
  double number = 0;
  std::string string;
  std::vector<Json> array;
  std::map<std::string, Json> object;
  std::vector<std::string> keys;  // object keys in file order

  bool isInteger() const { return kind == Number && std::floor(number) == number && std::fabs(number) <= 9007199254740992.0; }
  const Json* get(const std::string& key) const {
    auto it = object.find(key);
    return it == object.end() ? nullptr : &it->second;
  }
};

// A value as an error message shows it (JSON, shortened).
std::string show(const Json* v) {
  if (!v) return "nothing";
  switch (v->kind) {
    case Json::Null: return "null";
    case Json::Bool: return v->boolean ? "true" : "false";
    case Json::Number: {
      char buf[32];
      std::snprintf(buf, sizeof buf, "%.17g", v->number);
      return buf;
    }
    case Json::String: return "\"" + (v->string.size() > 40 ? v->string.substr(0, 40) + "..." : v->string) + "\"";
    case Json::Array: return "an array";
    case Json::Object: return "an object";
  }
  return "?";
}

// A strict JSON parser (RFC 8259) with a nesting limit, for small documents.
class JsonParser {
 public:
  JsonParser(const char* data, size_t size, const std::string& file) : s_(data), n_(size), file_(file) {}
  Json parseDocument() {
    Json v = value(0);
    space();
    if (i_ != n_) bad("trailing characters");
    return v;
  }

 private:
  [[noreturn]] void bad(const std::string& why) {
    fail(ErrorCode::InvalidModel, file_ + ": not valid JSON (at byte " + std::to_string(i_) + ": " + why + ")");
  }
  void space() {
    while (i_ < n_ && (s_[i_] == ' ' || s_[i_] == '\n' || s_[i_] == '\r' || s_[i_] == '\t')) ++i_;
  }
  bool eat(char c) {
    space();
    if (i_ < n_ && s_[i_] == c) {
      ++i_;
      return true;
    }
    return false;
  }
  void expect(char c) {
    if (!eat(c)) bad(std::string("expected '") + c + "'");
  }
  uint32_t hex4() {
    if (i_ + 4 > n_) bad("short \\u escape");
    uint32_t v = 0;
    for (int k = 0; k < 4; ++k) {
      const char c = s_[i_++];
      v <<= 4;
      if (c >= '0' && c <= '9') v |= uint32_t(c - '0');
      else if (c >= 'a' && c <= 'f') v |= uint32_t(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F') v |= uint32_t(c - 'A' + 10);
      else bad("bad \\u escape");
    }
    return v;
  }
  static void utf8(std::string& out, uint32_t cp) {
    if (cp < 0x80) {
      out += char(cp);
    } else if (cp < 0x800) {
      out += char(0xc0 | (cp >> 6));
      out += char(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
      out += char(0xe0 | (cp >> 12));
      out += char(0x80 | ((cp >> 6) & 0x3f));
      out += char(0x80 | (cp & 0x3f));
    } else {
      out += char(0xf0 | (cp >> 18));
      out += char(0x80 | ((cp >> 12) & 0x3f));
      out += char(0x80 | ((cp >> 6) & 0x3f));
      out += char(0x80 | (cp & 0x3f));
    }
  }
  std::string str() {
    expect('"');
    std::string out;
    for (;;) {
      if (i_ >= n_) bad("unterminated string");
      const char c = s_[i_++];
      if (c == '"') return out;
      if (uint8_t(c) < 0x20) bad("control character in a string");
      if (c != '\\') {
        out += c;
        continue;
      }
      if (i_ >= n_) bad("unterminated escape");
      const char e = s_[i_++];
      switch (e) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'n': out += '\n'; break;
        case 't': out += '\t'; break;
        case 'r': out += '\r'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'u': {
          uint32_t cp = hex4();
          if (cp >= 0xd800 && cp < 0xdc00 && i_ + 6 <= n_ && s_[i_] == '\\' && s_[i_ + 1] == 'u') {
            i_ += 2;
            const uint32_t low = hex4();
            if (low < 0xdc00 || low >= 0xe000) bad("bad surrogate pair");
            cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
          }
          utf8(out, cp);
          break;
        }
        default: bad("bad escape");
      }
    }
  }
  void digits() {
    if (i_ >= n_ || s_[i_] < '0' || s_[i_] > '9') bad("expected a digit");
    while (i_ < n_ && s_[i_] >= '0' && s_[i_] <= '9') ++i_;
  }
  Json value(int depth) {
    if (depth > 64) bad("nested too deeply");
    space();
    if (i_ >= n_) bad("unexpected end");
    Json v;
    const char c = s_[i_];
    if (c == '{') {
      ++i_;
      v.kind = Json::Object;
      if (eat('}')) return v;
      do {
        space();
        std::string key = str();
        expect(':');
        Json item = value(depth + 1);
        if (v.object.count(key)) bad("duplicate key \"" + key + "\"");
        v.keys.push_back(key);
        v.object.emplace(std::move(key), std::move(item));
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
    } else if (n_ - i_ >= 4 && std::memcmp(s_ + i_, "true", 4) == 0) {
      v.kind = Json::Bool, v.boolean = true, i_ += 4;
    } else if (n_ - i_ >= 5 && std::memcmp(s_ + i_, "false", 5) == 0) {
      v.kind = Json::Bool, i_ += 5;
    } else if (n_ - i_ >= 4 && std::memcmp(s_ + i_, "null", 4) == 0) {
      i_ += 4;
    } else if (c == '-' || (c >= '0' && c <= '9')) {
      const size_t start = i_;
      if (s_[i_] == '-') ++i_;
      if (i_ < n_ && s_[i_] == '0') ++i_;
      else digits();
      if (i_ < n_ && s_[i_] == '.') ++i_, digits();
      if (i_ < n_ && (s_[i_] == 'e' || s_[i_] == 'E')) {
        ++i_;
        if (i_ < n_ && (s_[i_] == '+' || s_[i_] == '-')) ++i_;
        digits();
      }
      v.kind = Json::Number;
      v.number = std::strtod(std::string(s_ + start, i_ - start).c_str(), nullptr);
    } else {
      bad("unexpected character");
    }
    return v;
  }

  const char* s_;
  size_t n_;
  std::string file_;
  size_t i_ = 0;
};

std::string readText(const std::string& path, const char* what) {
  std::ifstream f(path, std::ios::binary);
  if (!f) fail(ErrorCode::Io, path + ": cannot read the " + what + ": " + std::strerror(errno));
  std::ostringstream ss;
  ss << f.rdbuf();
  if (f.bad()) fail(ErrorCode::Io, path + ": cannot read the " + what);
  return ss.str();
}

// config.json's fields, before they are bounded (num_draft_layers is checked against the weights file first).
struct ConfigFields {
  int64_t vocabSize = 0, hiddenSize = 0, exitDim = 0, numDraftLayers = 0;
  bool rnn = false;
};

ConfigFields parseConfig(const std::string& file) {
  const std::string text = readText(file, "drafter config");
  const Json json = JsonParser(text.data(), text.size(), file).parseDocument();
  if (json.kind != Json::Object) fail(ErrorCode::InvalidModel, file + ": not a JSON object");
  const Json* type = json.get("model_type");
  if (!type || type->kind != Json::String || type->string != kDrafterModelType)
    fail(ErrorCode::InvalidModel,
         file + ": model_type must be \"" + kDrafterModelType + "\", got " + show(type));
  auto integer = [&](const char* key, int64_t min) {
    const Json* v = json.get(key);
    if (!v || !v->isInteger() || v->number < double(min))
      fail(ErrorCode::InvalidModel,
           file + ": " + key + " must be an integer >= " + std::to_string(min) + ", got " + show(v));
    return int64_t(v->number);
  };
  ConfigFields c;
  c.vocabSize = integer("vocab_size", 1);
  c.hiddenSize = integer("hidden_size", 1);
  c.exitDim = integer("exit_dim", 1);
  c.numDraftLayers = integer("num_draft_layers", 0);
  if (const Json* rnn = json.get("rnn")) {
    if (rnn->kind != Json::Bool) fail(ErrorCode::InvalidModel, file + ": rnn must be a boolean, got " + show(rnn));
    c.rnn = rnn->boolean;
  }
  return c;
}

// The fields as a DrafterConfig, bounded by validateDrafterConfig (naming `source`).
DrafterConfig bounded(const ConfigFields& f, const std::string& source) {
  auto narrow = [](int64_t v) { return int32_t(std::min<int64_t>(v, INT32_MAX)); };
  DrafterConfig c;
  c.vocabSize = narrow(f.vocabSize);
  c.hiddenSize = narrow(f.hiddenSize);
  c.exitDim = narrow(f.exitDim);
  c.numDraftLayers = narrow(f.numDraftLayers);
  c.rnn = f.rnn;
  validateDrafterConfig(c, source);
  return c;
}

std::string shapeText(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

std::vector<int64_t> specShape(const DrafterTensorSpec& s) {
  return s.rank == 2 ? std::vector<int64_t>{s.rows, s.cols} : std::vector<int64_t>{s.cols};
}

std::string configText(const DrafterConfig& c) {
  return "exit_dim " + std::to_string(c.exitDim) + ", hidden_size " + std::to_string(c.hiddenSize) +
         ", num_draft_layers " + std::to_string(c.numDraftLayers) + ", rnn " + (c.rnn ? "true" : "false");
}

std::string jsonString(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (uint8_t(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", unsigned(uint8_t(c)));
          out += buf;
        } else {
          out += c;
        }
    }
  }
  return out + "\"";
}

std::string tempName(const std::string& dir, const std::string& name) {
  std::random_device rd;
  const uint64_t r = (uint64_t(rd()) << 32) ^ uint64_t(rd()) ^
                     uint64_t(std::chrono::steady_clock::now().time_since_epoch().count());
  char buf[20];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(r));
  return dir + "/." + name + "." + buf + ".tmp";
}

// Writes `path` through a temporary file renamed into place; `write` fills the stream.
void writeAtomically(const std::string& dir, const std::string& name, const std::function<void(std::ofstream&)>& write) {
  const std::string path = dir + "/" + name, temp = tempName(dir, name);
  try {
    {
      std::ofstream f(temp, std::ios::binary | std::ios::trunc);
      if (!f) fail(ErrorCode::Io, path + ": cannot create a temporary file to write: " + std::strerror(errno));
      write(f);
      f.flush();
      if (!f) fail(ErrorCode::Io, path + ": cannot write: " + std::strerror(errno));
    }
    std::error_code ec;
    std::filesystem::rename(temp, path, ec);
    if (ec) fail(ErrorCode::Io, path + ": cannot write: " + ec.message());
  } catch (...) {
    std::error_code ignored;
    std::filesystem::remove(temp, ignored);
    throw;
  }
}

}  // namespace

DrafterConfig readDrafterConfig(const std::string& dir) {
  return bounded(parseConfig(dir + "/config.json"), dir);
}

DrafterWeights readDrafterDirectory(const std::string& dir, const std::function<void(const DrafterConfig&)>& checkConfig) {
  const std::string configPath = dir + "/config.json", file = dir + "/model.safetensors";
  const ConfigFields fields = parseConfig(configPath);

  auto mapped = MappedFile::open(file);
  const uint8_t* bytes = mapped->data();
  const uint64_t size = mapped->size();
  if (size < 8) fail(ErrorCode::InvalidModel, file + ": too short for a safetensors header");
  uint64_t headerBytes = 0;
  for (int i = 7; i >= 0; --i) headerBytes = (headerBytes << 8) | bytes[i];
  if (headerBytes > size - 8)
    fail(ErrorCode::InvalidModel, file + ": header length " + std::to_string(headerBytes) + " exceeds the file");
  const Json header = JsonParser(reinterpret_cast<const char*>(bytes) + 8, size_t(headerBytes), file).parseDocument();
  if (header.kind != Json::Object) fail(ErrorCode::InvalidModel, file + ": the header is not a JSON object");
  const uint8_t* data = bytes + 8 + headerBytes;
  const uint64_t dataBytes = size - 8 - headerBytes;

  // Every residual block has tensors: nothing loops over a count the file cannot back.
  const int64_t tensorsInFile = int64_t(header.object.size()) - (header.get("__metadata__") ? 1 : 0);
  if (fields.numDraftLayers > tensorsInFile)
    fail(ErrorCode::InvalidModel, configPath + ": num_draft_layers " + std::to_string(fields.numDraftLayers) +
                                      " is more residual blocks than " + file + " can hold (it has " +
                                      std::to_string(tensorsInFile) + " tensors)");
  const DrafterConfig config = bounded(fields, dir);
  if (checkConfig) checkConfig(config);
  const std::vector<model::DrafterTensorSpec> specs = drafterTensorSpecs(config);
  std::set<std::string> expected;
  for (const auto& spec : specs) expected.insert(spec.name);
  for (const std::string& name : header.keys)
    if (name != "__metadata__" && !expected.count(name))
      fail(ErrorCode::InvalidModel, file + ": unexpected tensor " + name + " for " + configPath + " (" + configText(config) + ")");
  // Nothing is allocated past what the file can hold: every value takes at least 2 bytes (F16/BF16) in the file.
  const uint64_t values = specs.back().offset + uint64_t(specs.back().elements());
  if (values > dataBytes / 2)
    fail(ErrorCode::InvalidModel, configPath + ": the drafter it declares (" + configText(config) + ", vocab_size " +
                                      std::to_string(config.vocabSize) + ") has " + std::to_string(values) +
                                      " values, more than " + file + " can hold (" + std::to_string(dataBytes) +
                                      " data bytes)");

  DrafterWeights w = DrafterWeights::zeros(config, dir);
  for (const auto& spec : w.specs) {
    const Json* t = header.get(spec.name);
    if (!t)
      fail(ErrorCode::InvalidModel, file + ": tensor " + spec.name + " is missing; " + configPath + " (" +
                                        configText(config) + ") needs it");
    const std::string what = file + ": tensor " + spec.name;
    const Json* dtype = t->get("dtype");
    const Json* shape = t->get("shape");
    const Json* offsets = t->get("data_offsets");
    if (t->kind != Json::Object || !dtype || dtype->kind != Json::String || !shape || shape->kind != Json::Array ||
        !offsets || offsets->kind != Json::Array || offsets->array.size() != 2 || !offsets->array[0].isInteger() ||
        !offsets->array[1].isInteger())
      fail(ErrorCode::InvalidModel, what + " needs dtype, shape and data_offsets [begin, end]");
    std::vector<int64_t> dims;
    for (const Json& d : shape->array) {
      if (!d.isInteger() || d.number < 0) fail(ErrorCode::InvalidModel, what + " has a shape that is not a list of sizes");
      dims.push_back(int64_t(d.number));
    }
    if (dims != specShape(spec))
      fail(ErrorCode::InvalidModel, what + " has shape " + shapeText(dims) + ", " + configPath + " needs " +
                                        shapeText(specShape(spec)));
    const size_t elem = dtype->string == "F32" ? 4 : (dtype->string == "F16" || dtype->string == "BF16") ? 2 : 0;
    if (!elem)
      fail(ErrorCode::InvalidModel, what + " has dtype " + dtype->string + "; drafters are F32, F16 or BF16");
    const double begin = offsets->array[0].number, end = offsets->array[1].number;
    const uint64_t count = uint64_t(spec.elements());
    if (begin < 0 || end < begin || end > double(dataBytes) || uint64_t(end - begin) != count * elem)
      fail(ErrorCode::InvalidModel, what + ": data_offsets [" + show(&offsets->array[0]) + ", " +
                                        show(&offsets->array[1]) + "] do not hold its " + std::to_string(count) +
                                        " " + dtype->string + " values inside the file's " +
                                        std::to_string(dataBytes) + " data bytes");
    const uint8_t* src = data + uint64_t(begin);
    float* dst = w.data.data() + spec.offset;
    if (elem == 4) {
      std::memcpy(dst, src, count * 4);
    } else {
      const bool bf16 = dtype->string == "BF16";
      for (uint64_t i = 0; i < count; ++i) {
        uint16_t h;
        std::memcpy(&h, src + 2 * i, 2);
        dst[i] = bf16 ? bf16ToF32(h) : fp16ToF32(h);
      }
    }
  }
  return w;
}

void writeDrafterDirectory(const std::string& dir, const DrafterWeights& w, DType dtype,
                           const std::vector<std::pair<std::string, std::string>>& metadata) {
  RD_REQUIRE(dtype == DType::F32 || dtype == DType::F16 || dtype == DType::BF16, "dtype",
             "must be \"F32\", \"F16\" or \"BF16\"");
  validateDrafterConfig(w.config, dir);
  RD_REQUIRE(!w.specs.empty() && w.data.size() == w.specs.back().offset + size_t(w.specs.back().elements()), "tensors",
             "do not match the config");
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) fail(ErrorCode::Io, dir + ": cannot create the drafter directory: " + ec.message());
  const char* name = dtype == DType::F32 ? "F32" : dtype == DType::F16 ? "F16" : "BF16";
  const size_t elem = dtype == DType::F32 ? 4 : 2;

  // safetensors: the header (padded with spaces to align the data to 8 bytes, as the reference writer does), then
  // the tensors in the canonical order.
  std::vector<std::pair<std::string, std::string>> meta{{"format", "pt"}};
  for (const auto& [key, value] : metadata) {
    bool replaced = false;
    for (auto& m : meta)
      if (m.first == key) m.second = value, replaced = true;
    if (!replaced) meta.emplace_back(key, value);
  }
  std::string header = "{\"__metadata__\":{";
  for (size_t i = 0; i < meta.size(); ++i)
    header += (i ? "," : "") + jsonString(meta[i].first) + ":" + jsonString(meta[i].second);
  header += "}";
  uint64_t offset = 0;
  for (const auto& spec : w.specs) {
    const uint64_t bytes = uint64_t(spec.elements()) * elem;
    std::string shape;
    for (int64_t d : specShape(spec)) shape += (shape.empty() ? "" : ",") + std::to_string(d);
    header += "," + jsonString(spec.name) + ":{\"dtype\":\"" + name + "\",\"shape\":[" + shape +
              "],\"data_offsets\":[" + std::to_string(offset) + "," + std::to_string(offset + bytes) + "]}";
    offset += bytes;
  }
  header += "}";
  header.append((8 - (8 + header.size()) % 8) % 8, ' ');
  writeAtomically(dir, "model.safetensors", [&](std::ofstream& f) {
    uint8_t prefix[8];
    for (int i = 0; i < 8; ++i) prefix[i] = uint8_t(uint64_t(header.size()) >> (8 * i));
    f.write(reinterpret_cast<const char*>(prefix), 8);
    f.write(header.data(), std::streamsize(header.size()));
    if (dtype == DType::F32) {
      f.write(reinterpret_cast<const char*>(w.data.data()), std::streamsize(w.data.size() * 4));
      return;
    }
    std::vector<uint16_t> chunk(1 << 16);
    for (size_t i = 0; i < w.data.size(); i += chunk.size()) {
      const size_t n = std::min(chunk.size(), w.data.size() - i);
      for (size_t k = 0; k < n; ++k) chunk[k] = dtype == DType::F16 ? f32ToFp16(w.data[i + k]) : f32ToBf16(w.data[i + k]);
      f.write(reinterpret_cast<const char*>(chunk.data()), std::streamsize(n * 2));
    }
  });

  // config.json as Apple's code (transformers' PretrainedConfig) writes it.
  const DrafterConfig& c = w.config;
  const char* torchDtype = dtype == DType::F32 ? "float32" : dtype == DType::F16 ? "float16" : "bfloat16";
  std::ostringstream json;
  json << "{\n  \"architectures\": [\n    \"Drafter\"\n  ],\n  \"model_type\": \"" << kDrafterModelType << "\",\n"
       << "  \"vocab_size\": " << c.vocabSize << ",\n  \"hidden_size\": " << c.hiddenSize << ",\n"
       << "  \"exit_dim\": " << c.exitDim << ",\n  \"num_draft_layers\": " << c.numDraftLayers << ",\n"
       << "  \"num_lookback_tokens\": -1,\n  \"rnn\": " << (c.rnn ? "true" : "false") << ",\n"
       << "  \"torch_dtype\": \"" << torchDtype << "\"\n}\n";
  const std::string text = json.str();
  writeAtomically(dir, "config.json", [&](std::ofstream& f) { f.write(text.data(), std::streamsize(text.size())); });
}

}  // namespace redrafter::model
