// Bounds-checked little-endian reads from a memory-mapped file. Every failure is a redrafter::Error(InvalidModel)
// naming the file, the field being read and the offset, so a truncated or corrupt file never reads out of bounds.
#pragma once
#include <cstdint>
#include <cstring>
#include <string>

#include "core/error.h"

namespace redrafter::model {

class ByteReader {
 public:
  ByteReader(const uint8_t* data, uint64_t size, std::string path) : data_(data), size_(size), path_(std::move(path)) {}

  const std::string& path() const { return path_; }
  uint64_t size() const { return size_; }
  uint64_t offset() const { return offset_; }
  uint64_t remaining() const { return size_ - offset_; }
  const uint8_t* data() const { return data_; }

  [[noreturn]] void invalid(const std::string& problem) const {
    fail(ErrorCode::InvalidModel, path_ + ": " + problem);
  }

  // Ensures `bytes` more bytes can be read for `field`.
  void need(uint64_t bytes, const char* field) const {
    if (bytes > remaining())
      invalid(std::string("truncated: ") + field + " needs " + std::to_string(bytes) + " bytes at offset " +
              std::to_string(offset_) + " but the file has " + std::to_string(size_) + " bytes");
  }

  template <class T>
  T read(const char* field) {
    need(sizeof(T), field);
    T value;
    std::memcpy(&value, data_ + offset_, sizeof(T));
    offset_ += sizeof(T);
    return value;  // the formats are little-endian, as is every host this builds for
  }

  // Returns a pointer to `bytes` bytes at the current offset and advances past them.
  const uint8_t* take(uint64_t bytes, const char* field) {
    need(bytes, field);
    const uint8_t* p = data_ + offset_;
    offset_ += bytes;
    return p;
  }

  void seek(uint64_t offset, const char* field) {
    if (offset > size_)
      invalid(std::string(field) + " offset " + std::to_string(offset) + " is past the end of the file (" +
              std::to_string(size_) + " bytes)");
    offset_ = offset;
  }

 private:
  const uint8_t* data_;
  uint64_t size_;
  std::string path_;
  uint64_t offset_ = 0;
};

}  // namespace redrafter::model
