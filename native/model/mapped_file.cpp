#include "model/mapped_file.h"

#include <cerrno>
#include <cstring>

#include "core/error.h"

#ifdef _WIN32
#define WIN32_LEAN_AND_MEAN
#include <windows.h>
#else
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#endif

namespace redrafter::model {

namespace {
[[noreturn]] void ioError(const std::string& path, const std::string& what) {
  fail(ErrorCode::Io, path + ": " + what);
}
}  // namespace

#ifdef _WIN32

std::shared_ptr<MappedFile> MappedFile::open(const std::string& path) {
  std::shared_ptr<MappedFile> file(new MappedFile());
  file->path_ = path;
  HANDLE h = CreateFileA(path.c_str(), GENERIC_READ, FILE_SHARE_READ, nullptr, OPEN_EXISTING, FILE_ATTRIBUTE_NORMAL,
                         nullptr);
  if (h == INVALID_HANDLE_VALUE) ioError(path, "cannot open the file");
  file->file_ = h;
  LARGE_INTEGER size;
  if (!GetFileSizeEx(h, &size)) ioError(path, "cannot read the file size");
  file->size_ = static_cast<uint64_t>(size.QuadPart);
  if (file->size_ == 0) return file;
  HANDLE m = CreateFileMappingA(h, nullptr, PAGE_READONLY, 0, 0, nullptr);
  if (!m) ioError(path, "cannot map the file");
  file->mapping_ = m;
  void* view = MapViewOfFile(m, FILE_MAP_READ, 0, 0, 0);
  if (!view) ioError(path, "cannot map the file");
  file->data_ = static_cast<const uint8_t*>(view);
  return file;
}

MappedFile::~MappedFile() {
  if (data_) UnmapViewOfFile(data_);
  if (mapping_) CloseHandle(mapping_);
  if (file_) CloseHandle(file_);
}

#else

std::shared_ptr<MappedFile> MappedFile::open(const std::string& path) {
  std::shared_ptr<MappedFile> file(new MappedFile());
  file->path_ = path;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) ioError(path, std::string("cannot open the file (") + std::strerror(errno) + ")");
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int e = errno;
    ::close(fd);
    ioError(path, std::string("cannot stat the file (") + std::strerror(e) + ")");
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    ioError(path, "not a regular file");
  }
  file->size_ = static_cast<uint64_t>(st.st_size);
  if (file->size_ > 0) {
    void* p = mmap(nullptr, static_cast<size_t>(file->size_), PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
      int e = errno;
      ::close(fd);
      ioError(path, std::string("cannot map the file (") + std::strerror(e) + ")");
    }
    file->data_ = static_cast<const uint8_t*>(p);
  }
  ::close(fd);
  return file;
}

MappedFile::~MappedFile() {
  if (data_) munmap(const_cast<uint8_t*>(data_), static_cast<size_t>(size_));
}

#endif

}  // namespace redrafter::model
