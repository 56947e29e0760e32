#include "model/gguf_reader.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/error.h"
#include "model/byte_reader.h"

namespace redrafter::model {

namespace {

constexpr uint64_t kMaxTensors = 1 << 20;
constexpr uint64_t kMaxKeyLength = 1 << 16;
constexpr int kMaxArrayDepth = 4;

const GgmlTypeTraits kTraits[] = {
    {"f32", 1, 4},        {"f16", 1, 2},       {"q4_0", 32, 18},   {"q4_1", 32, 20},  {nullptr, 0, 0},
    {nullptr, 0, 0},      {"q5_0", 32, 22},    {"q5_1", 32, 24},   {"q8_0", 32, 34},  {"q8_1", 32, 36},
    {"q2_k", 256, 84},    {"q3_k", 256, 110},  {"q4_k", 256, 144}, {"q5_k", 256, 176}, {"q6_k", 256, 210},
    {"q8_k", 256, 292},   {nullptr, 0, 0},     {nullptr, 0, 0},    {nullptr, 0, 0},   {nullptr, 0, 0},
    {nullptr, 0, 0},      {nullptr, 0, 0},     {nullptr, 0, 0},    {nullptr, 0, 0},   {"i8", 1, 1},
    {"i16", 1, 2},        {"i32", 1, 4},       {"i64", 1, 8},      {"f64", 1, 8},     {nullptr, 0, 0},
    {"bf16", 1, 2},
};

uint64_t scalarSize(GgufType t) {
  switch (t) {
    case GgufType::U8: case GgufType::I8: case GgufType::Bool: return 1;
    case GgufType::U16: case GgufType::I16: return 2;
    case GgufType::U32: case GgufType::I32: case GgufType::F32: return 4;
    case GgufType::U64: case GgufType::I64: case GgufType::F64: return 8;
    default: return 0;
  }
}

std::string_view readString(ByteReader& r, const char* field, uint64_t maxLength) {
  uint64_t length = r.read<uint64_t>(field);
  if (length > maxLength || length > r.remaining())
    r.invalid(std::string(field) + " has length " + std::to_string(length) + " at offset " +
              std::to_string(r.offset() - 8) + ", beyond the file (" + std::to_string(r.size()) + " bytes)");
  const uint8_t* p = r.take(length, field);
  return std::string_view(reinterpret_cast<const char*>(p), length);
}

GgufType readType(ByteReader& r, const std::string& key) {
  uint32_t t = r.read<uint32_t>("value type");
  if (t > uint32_t(GgufType::F64)) r.invalid("metadata '" + key + "' has unknown value type " + std::to_string(t));
  return GgufType(t);
}

void readValue(ByteReader& r, GgufValue& v, GgufType type, const std::string& key, int depth) {
  v.type = type;
  switch (type) {
    case GgufType::U8: v.u = r.read<uint8_t>("value"); break;
    case GgufType::I8: v.i = r.read<int8_t>("value"); break;
    case GgufType::U16: v.u = r.read<uint16_t>("value"); break;
    case GgufType::I16: v.i = r.read<int16_t>("value"); break;
    case GgufType::U32: v.u = r.read<uint32_t>("value"); break;
    case GgufType::I32: v.i = r.read<int32_t>("value"); break;
    case GgufType::U64: v.u = r.read<uint64_t>("value"); break;
    case GgufType::I64: v.i = r.read<int64_t>("value"); break;
    case GgufType::F32: v.f = r.read<float>("value"); break;
    case GgufType::F64: v.f = r.read<double>("value"); break;
    case GgufType::Bool: {
      uint8_t b = r.read<uint8_t>("value");
      if (b > 1) r.invalid("metadata '" + key + "' is a bool of value " + std::to_string(b));
      v.u = b;
      break;
    }
    case GgufType::String: v.str = readString(r, ("metadata '" + key + "' string").c_str(), r.size()); break;
    case GgufType::Array: {
      if (depth >= kMaxArrayDepth) r.invalid("metadata '" + key + "' nests arrays too deeply");
      v.arrayType = readType(r, key);
      v.arrayCount = r.read<uint64_t>("array length");
      if (v.arrayType == GgufType::String) {
        if (v.arrayCount > r.remaining() / 8)  // each string needs at least its 8-byte length
          r.invalid("metadata '" + key + "' claims " + std::to_string(v.arrayCount) +
                    " strings, more than the file can hold");
        v.strings.reserve(std::min<uint64_t>(v.arrayCount, 4096));  // grows only with strings actually read
        for (uint64_t k = 0; k < v.arrayCount; ++k)
          v.strings.push_back(readString(r, ("metadata '" + key + "' string").c_str(), r.size()));
      } else if (v.arrayType == GgufType::Array) {
        if (v.arrayCount > r.remaining() / 12)
          r.invalid("metadata '" + key + "' claims " + std::to_string(v.arrayCount) +
                    " arrays, more than the file can hold");
        for (uint64_t k = 0; k < v.arrayCount; ++k) {
          GgufValue inner;
          readValue(r, inner, readType(r, key), key, depth + 1);
        }
      } else {
        uint64_t size = scalarSize(v.arrayType);
        if (v.arrayCount > r.remaining() / size)
          r.invalid("metadata '" + key + "' claims " + std::to_string(v.arrayCount) + " elements of " +
                    ggufTypeName(v.arrayType) + ", more than the file can hold");
        v.arrayData = r.take(v.arrayCount * size, "array");
      }
      break;
    }
  }
}

}  // namespace

const char* ggufTypeName(GgufType type) {
  switch (type) {
    case GgufType::U8: return "u8";
    case GgufType::I8: return "i8";
    case GgufType::U16: return "u16";
    case GgufType::I16: return "i16";
    case GgufType::U32: return "u32";
    case GgufType::I32: return "i32";
    case GgufType::F32: return "f32";
    case GgufType::Bool: return "bool";
    case GgufType::String: return "string";
    case GgufType::Array: return "array";
    case GgufType::U64: return "u64";
    case GgufType::I64: return "i64";
    case GgufType::F64: return "f64";
  }
  return "unknown";
}

const GgmlTypeTraits* ggmlTypeTraits(uint32_t type) {
  if (type >= sizeof(kTraits) / sizeof(kTraits[0]) || !kTraits[type].name) return nullptr;
  return &kTraits[type];
}

void GgufFile::invalid(const std::string& problem) const { fail(ErrorCode::InvalidModel, path() + ": " + problem); }

std::shared_ptr<const GgufFile> GgufFile::open(const std::string& path) { return parse(MappedFile::open(path)); }

std::shared_ptr<const GgufFile> GgufFile::parse(const std::shared_ptr<MappedFile>& file) {
  auto g = std::shared_ptr<GgufFile>(new GgufFile());
  g->file_ = file;
  ByteReader r(file->data(), file->size(), file->path());
  r.need(4, "the GGUF magic");
  if (std::memcmp(file->data(), "GGUF", 4) != 0) r.invalid("not a GGUF file (wrong magic)");
  r.take(4, "magic");
  g->version_ = r.read<uint32_t>("version");
  if (g->version_ != 2 && g->version_ != 3)
    fail(ErrorCode::Unsupported, file->path() + ": GGUF version " + std::to_string(g->version_) +
                                     " is not supported (supported: 2, 3)");
  uint64_t tensorCount = r.read<uint64_t>("tensor_count");
  uint64_t kvCount = r.read<uint64_t>("metadata_kv_count");
  // A key/value needs at least 8 (key length) + 4 (type) + 1 bytes; a tensor info at least 8 + 4 + 8 + 4 + 8.
  if (kvCount > r.remaining() / 13)
    r.invalid("metadata_kv_count " + std::to_string(kvCount) + " is more than the file can hold");
  if (tensorCount > kMaxTensors || tensorCount > r.remaining() / 32)
    r.invalid("tensor_count " + std::to_string(tensorCount) + " is more than the file can hold");
  // The vectors grow with the entries actually read: a count in the header reserves little (a 4096-entry reservation
  // was half a megabyte from a header of a few bytes).
  g->kv_.reserve(std::min<uint64_t>(kvCount, 256));
  for (uint64_t k = 0; k < kvCount; ++k) {
    std::string key(readString(r, "metadata key", kMaxKeyLength));
    if (key.empty()) r.invalid("metadata key " + std::to_string(k) + " is empty");
    GgufValue v;
    readValue(r, v, readType(r, key), key, 0);
    if (!g->kvIndex_.emplace(key, g->kv_.size()).second) r.invalid("metadata key '" + key + "' appears twice");
    g->kv_.emplace_back(std::move(key), std::move(v));
  }
  g->alignment_ = g->getUint("general.alignment", 32, false, 1u << 30);
  if (g->alignment_ == 0 || (g->alignment_ & (g->alignment_ - 1)) != 0)
    r.invalid("general.alignment " + std::to_string(g->alignment_) + " is not a power of two");
  g->tensors_.reserve(std::min<uint64_t>(tensorCount, 256));
  for (uint64_t t = 0; t < tensorCount; ++t) {
    GgufTensorInfo info;
    info.name = std::string(readString(r, "tensor name", kMaxKeyLength));
    info.nDims = r.read<uint32_t>("tensor n_dims");
    if (info.nDims < 1 || info.nDims > 4)
      r.invalid("tensor '" + info.name + "' has " + std::to_string(info.nDims) + " dimensions (must be 1..4)");
    uint64_t elements = 1;
    for (uint32_t d = 0; d < info.nDims; ++d) {
      info.ne[d] = r.read<uint64_t>("tensor dimension");
      if (info.ne[d] == 0 || info.ne[d] > (uint64_t(1) << 40) || elements > (uint64_t(1) << 50) / info.ne[d])
        r.invalid("tensor '" + info.name + "' has an invalid or absurd dimension " + std::to_string(info.ne[d]));
      elements *= info.ne[d];
    }
    info.type = r.read<uint32_t>("tensor type");
    const GgmlTypeTraits* traits = ggmlTypeTraits(info.type);
    if (!traits) r.invalid("tensor '" + info.name + "' has unknown type " + std::to_string(info.type));
    if (info.ne[0] % traits->blockSize != 0)
      r.invalid("tensor '" + info.name + "' has " + std::to_string(info.ne[0]) + " columns, not a multiple of " +
                traits->name + "'s block of " + std::to_string(traits->blockSize));
    info.bytes = elements / traits->blockSize * traits->blockBytes;
    info.offset = r.read<uint64_t>("tensor offset");
    if (info.offset % g->alignment_ != 0)
      r.invalid("tensor '" + info.name + "' offset " + std::to_string(info.offset) + " is not aligned to " +
                std::to_string(g->alignment_));
    if (!g->tensorIndex_.emplace(info.name, g->tensors_.size()).second)
      r.invalid("tensor '" + info.name + "' appears twice");
    g->tensors_.push_back(std::move(info));
  }
  uint64_t end = r.offset();
  g->dataOffset_ = (end + g->alignment_ - 1) / g->alignment_ * g->alignment_;
  if (tensorCount > 0 && g->dataOffset_ > file->size())
    r.invalid("the tensor data section starts at " + std::to_string(g->dataOffset_) + ", past the end of the file");
  uint64_t dataBytes = file->size() > g->dataOffset_ ? file->size() - g->dataOffset_ : 0;
  for (auto& info : g->tensors_) {
    if (info.offset > dataBytes || info.bytes > dataBytes - info.offset)
      r.invalid("tensor '" + info.name + "' (" + std::to_string(info.bytes) + " bytes at data offset " +
                std::to_string(info.offset) + ") lies outside the file (" + std::to_string(dataBytes) +
                " bytes of tensor data)");
    info.data = file->data() + g->dataOffset_ + info.offset;
  }
  return g;
}

const GgufValue* GgufFile::find(const std::string& key) const {
  auto it = kvIndex_.find(key);
  return it == kvIndex_.end() ? nullptr : &kv_[it->second].second;
}

const GgufTensorInfo* GgufFile::findTensor(const std::string& name) const {
  auto it = tensorIndex_.find(name);
  return it == tensorIndex_.end() ? nullptr : &tensors_[it->second];
}

uint64_t GgufFile::getUint(const std::string& key, uint64_t fallback, bool required, uint64_t max) const {
  const GgufValue* v = find(key);
  if (!v) {
    if (required) invalid("metadata '" + key + "' is missing");
    return fallback;
  }
  uint64_t value = 0;
  switch (v->type) {
    case GgufType::U8: case GgufType::U16: case GgufType::U32: case GgufType::U64: value = v->u; break;
    case GgufType::I8: case GgufType::I16: case GgufType::I32: case GgufType::I64:
      if (v->i < 0) invalid("metadata '" + key + "' is negative (" + std::to_string(v->i) + ")");
      value = uint64_t(v->i);
      break;
    default: invalid("metadata '" + key + "' is a " + ggufTypeName(v->type) + ", not an integer");
  }
  if (value > max) invalid("metadata '" + key + "' is " + std::to_string(value) + " (at most " + std::to_string(max) + ")");
  return value;
}

double GgufFile::getFloat(const std::string& key, double fallback, bool required) const {
  const GgufValue* v = find(key);
  if (!v) {
    if (required) invalid("metadata '" + key + "' is missing");
    return fallback;
  }
  if (v->type != GgufType::F32 && v->type != GgufType::F64)
    invalid("metadata '" + key + "' is a " + ggufTypeName(v->type) + ", not a float");
  if (!std::isfinite(v->f)) invalid("metadata '" + key + "' is not finite");
  return v->f;
}

std::string GgufFile::getString(const std::string& key, const std::string& fallback, bool required) const {
  const GgufValue* v = find(key);
  if (!v) {
    if (required) invalid("metadata '" + key + "' is missing");
    return fallback;
  }
  if (v->type != GgufType::String) invalid("metadata '" + key + "' is a " + ggufTypeName(v->type) + ", not a string");
  return std::string(v->str);
}

bool GgufFile::getBool(const std::string& key, bool fallback) const {
  const GgufValue* v = find(key);
  if (!v) return fallback;
  if (v->type != GgufType::Bool) invalid("metadata '" + key + "' is a " + ggufTypeName(v->type) + ", not a bool");
  return v->u != 0;
}

}  // namespace redrafter::model
