// Writing GGUF v3 files: metadata key/values and tensors whose bytes are produced on demand, streamed into a
// temporary file beside the output that is renamed over it only when everything was written (a failure leaves
// no partial output).
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "model/gguf_reader.h"

namespace redrafter::model {

class GgufWriter {
 public:
  using Producer = std::function<void(std::vector<uint8_t>& bytes)>;  // fills exactly the tensor's bytes

  void setString(const std::string& key, const std::string& value);
  void setU32(const std::string& key, uint32_t value);
  void setF32(const std::string& key, float value);
  void setBool(const std::string& key, bool value);
  void setStringArray(const std::string& key, const std::vector<std::string>& values);
  void setF32Array(const std::string& key, const std::vector<float>& values);
  void setI32Array(const std::string& key, const std::vector<int32_t>& values);

  // ne[0] is the contiguous (column) dimension, as GGUF stores it.
  void addTensor(const std::string& name, GgmlType type, std::vector<uint64_t> ne, Producer producer);

  size_t tensorCount() const { return tensors_.size(); }

  // Writes everything to `path` (through `path`.tmp-*, renamed at the end). Throws Io naming the file.
  // `progress`, when set, is called after each tensor with (tensors written, tensors in all).
  void write(const std::string& path, uint32_t alignment = 32,
             const std::function<void(int32_t, int32_t)>& progress = nullptr) const;

 private:
  struct Tensor {
    std::string name;
    GgmlType type;
    std::vector<uint64_t> ne;
    uint64_t bytes;
    Producer producer;
  };
  std::vector<uint8_t> meta_;  // serialised key/values
  uint64_t kvCount_ = 0;
  std::vector<Tensor> tensors_;
};

}  // namespace redrafter::model
