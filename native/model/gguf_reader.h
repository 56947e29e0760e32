// A GGUF (v2/v3) file parsed in place from its memory mapping: header, metadata key/values (every GGUF value
// type, arrays included), tensor infos and the aligned data section. Everything is validated against the file
// size before anything is allocated; problems are redrafter::Error(InvalidModel) naming the file.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "model/mapped_file.h"

namespace redrafter::model {

enum class GgufType : uint32_t {
  U8 = 0, I8 = 1, U16 = 2, I16 = 3, U32 = 4, I32 = 5, F32 = 6, Bool = 7, String = 8, Array = 9, U64 = 10, I64 = 11,
  F64 = 12,
};
const char* ggufTypeName(GgufType type);

// ggml tensor types (the subset of ids with a known block layout; others are rejected as unknown).
enum class GgmlType : uint32_t {
  F32 = 0, F16 = 1, Q4_0 = 2, Q4_1 = 3, Q5_0 = 6, Q5_1 = 7, Q8_0 = 8, Q8_1 = 9, Q2_K = 10, Q3_K = 11, Q4_K = 12,
  Q5_K = 13, Q6_K = 14, Q8_K = 15, I8 = 24, I16 = 25, I32 = 26, I64 = 27, F64 = 28, BF16 = 30,
};
struct GgmlTypeTraits {
  const char* name;
  uint32_t blockSize;  // elements per block
  uint32_t blockBytes;
};
// nullptr for an unknown id.
const GgmlTypeTraits* ggmlTypeTraits(uint32_t type);

struct GgufValue {
  GgufType type = GgufType::U8;
  // scalars (integers of every width are in `u`/`i` as their signedness says; bool in `u`)
  uint64_t u = 0;
  int64_t i = 0;
  double f = 0;
  std::string_view str;  // String: points into the mapping
  // Array: element type and count; elements at `arrayData` in the mapping (not for String/Array elements)
  GgufType arrayType = GgufType::U8;
  uint64_t arrayCount = 0;
  const uint8_t* arrayData = nullptr;
  std::vector<std::string_view> strings;  // Array of String
};

struct GgufTensorInfo {
  std::string name;
  uint32_t nDims = 0;
  uint64_t ne[4] = {1, 1, 1, 1};  // ne[0] is the contiguous (column) dimension
  uint32_t type = 0;
  uint64_t offset = 0;  // relative to the data section
  uint64_t bytes = 0;
  const uint8_t* data = nullptr;
  uint64_t elements() const { return ne[0] * ne[1] * ne[2] * ne[3]; }
};

class GgufFile {
 public:
  // Parses `file` (throws InvalidModel / Unsupported naming it).
  static std::shared_ptr<const GgufFile> parse(const std::shared_ptr<MappedFile>& file);
  static std::shared_ptr<const GgufFile> open(const std::string& path);

  const std::string& path() const { return file_->path(); }
  const std::shared_ptr<MappedFile>& mapping() const { return file_; }
  uint32_t version() const { return version_; }
  uint64_t alignment() const { return alignment_; }
  uint64_t dataOffset() const { return dataOffset_; }

  const std::vector<std::pair<std::string, GgufValue>>& metadata() const { return kv_; }
  const std::vector<GgufTensorInfo>& tensors() const { return tensors_; }

  const GgufValue* find(const std::string& key) const;
  const GgufTensorInfo* findTensor(const std::string& name) const;

  // Typed getters: a missing key returns `fallback` (or throws InvalidModel naming the key when `required`);
  // a present key of the wrong type or out of range throws InvalidModel naming the key.
  uint64_t getUint(const std::string& key, uint64_t fallback, bool required, uint64_t max) const;
  double getFloat(const std::string& key, double fallback, bool required) const;
  std::string getString(const std::string& key, const std::string& fallback, bool required) const;
  bool getBool(const std::string& key, bool fallback) const;
  [[noreturn]] void invalid(const std::string& problem) const;

 private:
  std::shared_ptr<MappedFile> file_;
  uint32_t version_ = 0;
  uint64_t alignment_ = 32;
  uint64_t dataOffset_ = 0;
  std::vector<std::pair<std::string, GgufValue>> kv_;
  std::unordered_map<std::string, size_t> kvIndex_;
  std::vector<GgufTensorInfo> tensors_;
  std::unordered_map<std::string, size_t> tensorIndex_;
};

}  // namespace redrafter::model
