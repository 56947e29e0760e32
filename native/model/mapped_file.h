// A read-only, memory-mapped file (RAII). The mapping lives as long as the MappedFile; share it through a
// shared_ptr to keep tensor views into it valid. Empty files are allowed (size() == 0, data() == nullptr).
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace redrafter::model {

class MappedFile {
 public:
  // Maps `path` read-only. Throws redrafter::Error(Io) naming the file when it cannot be opened or mapped.
  static std::shared_ptr<MappedFile> open(const std::string& path);

  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const uint8_t* data() const { return data_; }
  uint64_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  MappedFile() = default;
  std::string path_;
  const uint8_t* data_ = nullptr;
  uint64_t size_ = 0;
#ifdef _WIN32
  void* file_ = nullptr;
  void* mapping_ = nullptr;
#endif
};

}  // namespace redrafter::model
