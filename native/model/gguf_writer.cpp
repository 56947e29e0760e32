#include "model/gguf_writer.h"

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <random>

#include "core/error.h"

namespace redrafter::model {

namespace {

template <class T>
void put(std::vector<uint8_t>& out, T value) {
  const uint8_t* p = reinterpret_cast<const uint8_t*>(&value);
  out.insert(out.end(), p, p + sizeof(T));
}

void putString(std::vector<uint8_t>& out, const std::string& s) {
  put<uint64_t>(out, s.size());
  out.insert(out.end(), s.begin(), s.end());
}

void putKey(std::vector<uint8_t>& out, const std::string& key, GgufType type) {
  putString(out, key);
  put<uint32_t>(out, uint32_t(type));
}

class OutFile {
 public:
  OutFile(const std::string& path, const std::string& shownPath) : path_(path), shown_(shownPath) {
    f_ = std::fopen(path.c_str(), "wb");
    if (!f_) fail(ErrorCode::Io, shown_ + ": cannot create the file");
  }
  ~OutFile() {
    if (f_) std::fclose(f_);
  }
  void write(const void* data, size_t n) {
    if (n && std::fwrite(data, 1, n, f_) != n) fail(ErrorCode::Io, shown_ + ": write failed (disk full?)");
    written_ += n;
  }
  void pad(uint64_t alignment) {
    static const uint8_t zeros[64] = {};
    while (written_ % alignment != 0) write(zeros, std::min<uint64_t>(64, alignment - written_ % alignment));
  }
  void close() {
    int rc = std::fclose(f_);
    f_ = nullptr;
    if (rc != 0) fail(ErrorCode::Io, shown_ + ": write failed while closing");
  }
  uint64_t written() const { return written_; }

 private:
  std::FILE* f_ = nullptr;
  std::string path_, shown_;
  uint64_t written_ = 0;
};

}  // namespace

void GgufWriter::setString(const std::string& key, const std::string& value) {
  putKey(meta_, key, GgufType::String);
  putString(meta_, value);
  ++kvCount_;
}
void GgufWriter::setU32(const std::string& key, uint32_t value) {
  putKey(meta_, key, GgufType::U32);
  put<uint32_t>(meta_, value);
  ++kvCount_;
}
void GgufWriter::setF32(const std::string& key, float value) {
  putKey(meta_, key, GgufType::F32);
  put<float>(meta_, value);
  ++kvCount_;
}
void GgufWriter::setBool(const std::string& key, bool value) {
  putKey(meta_, key, GgufType::Bool);
  put<uint8_t>(meta_, value ? 1 : 0);
  ++kvCount_;
}
void GgufWriter::setStringArray(const std::string& key, const std::vector<std::string>& values) {
  putKey(meta_, key, GgufType::Array);
  put<uint32_t>(meta_, uint32_t(GgufType::String));
  put<uint64_t>(meta_, values.size());
  for (const auto& v : values) putString(meta_, v);
  ++kvCount_;
}
void GgufWriter::setF32Array(const std::string& key, const std::vector<float>& values) {
  putKey(meta_, key, GgufType::Array);
  put<uint32_t>(meta_, uint32_t(GgufType::F32));
  put<uint64_t>(meta_, values.size());
  for (float v : values) put<float>(meta_, v);
  ++kvCount_;
}
void GgufWriter::setI32Array(const std::string& key, const std::vector<int32_t>& values) {
  putKey(meta_, key, GgufType::Array);
  put<uint32_t>(meta_, uint32_t(GgufType::I32));
  put<uint64_t>(meta_, values.size());
  for (int32_t v : values) put<int32_t>(meta_, v);
  ++kvCount_;
}

void GgufWriter::addTensor(const std::string& name, GgmlType type, std::vector<uint64_t> ne, Producer producer) {
  const GgmlTypeTraits* traits = ggmlTypeTraits(uint32_t(type));
  if (!traits || ne.empty() || ne.size() > 4 || ne[0] % traits->blockSize != 0)
    fail(ErrorCode::Internal, "GgufWriter: bad tensor " + name);
  uint64_t elements = 1;
  for (uint64_t n : ne) elements *= n;
  tensors_.push_back({name, type, std::move(ne), elements / traits->blockSize * traits->blockBytes, std::move(producer)});
}

void GgufWriter::write(const std::string& path, uint32_t alignment,
                       const std::function<void(int32_t, int32_t)>& progress) const {
  std::random_device rd;
  std::string tmp = path + ".tmp-" + std::to_string(rd());
  try {
    OutFile out(tmp, path);
    std::vector<uint8_t> header;
    header.insert(header.end(), {'G', 'G', 'U', 'F'});
    put<uint32_t>(header, 3);
    put<uint64_t>(header, tensors_.size());
    put<uint64_t>(header, kvCount_);
    header.insert(header.end(), meta_.begin(), meta_.end());
    uint64_t offset = 0;
    for (const auto& t : tensors_) {
      putString(header, t.name);
      put<uint32_t>(header, uint32_t(t.ne.size()));
      for (uint64_t n : t.ne) put<uint64_t>(header, n);
      put<uint32_t>(header, uint32_t(t.type));
      put<uint64_t>(header, offset);
      offset += (t.bytes + alignment - 1) / alignment * alignment;
    }
    out.write(header.data(), header.size());
    out.pad(alignment);
    std::vector<uint8_t> bytes;
    int32_t done = 0;
    for (const auto& t : tensors_) {
      bytes.clear();
      t.producer(bytes);
      if (bytes.size() != t.bytes) fail(ErrorCode::Internal, "GgufWriter: tensor " + t.name + " produced the wrong size");
      out.write(bytes.data(), bytes.size());
      out.pad(alignment);
      if (progress) progress(++done, int32_t(tensors_.size()));
    }
    out.close();
    // std::filesystem::rename replaces an existing file on every platform (std::rename does not on Windows)
    std::error_code ec;
    std::filesystem::rename(tmp, path, ec);
    if (ec) fail(ErrorCode::Io, path + ": cannot move the written file into place (" + ec.message() + ")");
  } catch (...) {
    std::remove(tmp.c_str());
    throw;
  }
}

}  // namespace redrafter::model
