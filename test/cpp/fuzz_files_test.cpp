// Mutation fuzzer over the model and tokenizer readers: llama2.c .bin (v0 float32, v2 int8 groups), llama2.c
// tokenizer.bin, and GGUF models and vocabularies (f32, f16, bf16, q8_0; alignments 32 and 1). Each round mutates
// one of these files (seeded, reproducible) and loads it; the load must either succeed (and then every view it
// made is read end to end, so a view outside the mapping crashes here) or throw a redrafter::Error whose code is
// INVALID_MODEL or UNSUPPORTED and whose message names the file. Mutations: truncations, bytes flipped anywhere and
// in the header, header fields (dimensions, counts, dtype tags, tensor offsets, string lengths) set to huge,
// negative, zero or off-by-one values, NaN/Inf in float fields and in the weights, garbage appended.
//
// Also measured per load (malloc and its family replaced in this binary, on glibc without ASan): the heap a load
// holds at its peak and its largest single request. Sizes come from what the file holds, never from what its header
// declares: a rejected load holds at most the file's size (plus kSlackBytes of bookkeeping), a successful one twice
// that, and no single request exceeds the file's size (plus kSlackBytes).
// A watchdog ends the process, naming the round, when one load runs past its time limit (a hang).
//
// Rounds per file: REDRAFTER_FUZZ_ROUNDS (default kDefaultRounds, 13 files); seed: REDRAFTER_FUZZ_SEED (default 1);
// per-load limit in ms: REDRAFTER_FUZZ_LOAD_LIMIT_MS (default 5000). bench/fuzz-files.ts runs it for 100k loads and
// more. A failing round prints its file, round and seed; a round's mutation depends only on those.
#include <doctest/doctest.h>

#ifndef _WIN32
#include <sys/resource.h>
#endif
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <new>
#include <random>
#include <thread>

#include "core/error.h"
#include "cpu/engine/weight_packing.h"
#include "model/dequantize.h"
#include "model/weights.h"
#include "tokenizer/tokenizer.h"
#include "tools/convert.h"
#include "fixtures.h"
#include "temp_files.h"

// ---- a counting allocator (this test binary only; glibc, not under AddressSanitizer, which owns malloc) ---------
// malloc and its family are replaced here (operator new allocates through malloc), counting the bytes the process
// holds (live), their peak since the last reset, and the largest single request since the last reset (recorded
// before allocating, so a refused huge request counts too). glibc's own allocator does the work (__libc_*).
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define REDRAFTER_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define REDRAFTER_ASAN 1
#endif
#if defined(__GLIBC__) && !defined(REDRAFTER_ASAN)
#define REDRAFTER_COUNT_HEAP 1
#endif

namespace {
std::atomic<int64_t> gLive{0}, gPeak{0}, gLargestRequest{0};
#ifdef REDRAFTER_COUNT_HEAP
constexpr bool kCountingHeap = true;
void raiseTo(std::atomic<int64_t>& a, int64_t v) {
  int64_t cur = a.load(std::memory_order_relaxed);
  while (v > cur && !a.compare_exchange_weak(cur, v, std::memory_order_relaxed)) {
  }
}
void* counted(void* p, size_t requested) {
  raiseTo(gLargestRequest, int64_t(requested));
  if (p) {
    const int64_t n = int64_t(malloc_usable_size(p));
    raiseTo(gPeak, gLive.fetch_add(n, std::memory_order_relaxed) + n);
  }
  return p;
}
void uncount(void* p) {
  if (p) gLive.fetch_sub(int64_t(malloc_usable_size(p)), std::memory_order_relaxed);
}
#else
constexpr bool kCountingHeap = false;
#endif
}  // namespace

#ifdef REDRAFTER_COUNT_HEAP
extern "C" {
void* __libc_malloc(size_t);
void* __libc_calloc(size_t, size_t);
void* __libc_realloc(void*, size_t);
void* __libc_memalign(size_t, size_t);
void __libc_free(void*);

void* malloc(size_t n) { return counted(__libc_malloc(n), n); }
void* calloc(size_t n, size_t size) { return counted(__libc_calloc(n, size), n * size); }
void* realloc(void* p, size_t n) {
  uncount(p);
  void* q = __libc_realloc(p, n);
  if (!q && p && n) {  // failed: p is still held
    counted(p, n);
    return nullptr;
  }
  return counted(q, n);
}
void free(void* p) {
  uncount(p);
  __libc_free(p);
}
void* memalign(size_t alignment, size_t n) { return counted(__libc_memalign(alignment, n), n); }
void* aligned_alloc(size_t alignment, size_t n) { return memalign(alignment, n); }
int posix_memalign(void** out, size_t alignment, size_t n) {
  if (alignment % sizeof(void*) != 0 || (alignment & (alignment - 1)) != 0) return EINVAL;
  void* p = memalign(alignment, n);
  if (!p) return ENOMEM;
  *out = p;
  return 0;
}
}
#endif

using namespace redrafter;
using namespace redrafter::model;
using namespace redrafter::tokenizer;
using namespace redrafter::tools;

namespace {

constexpr int kDefaultRounds = 400;  // x 13 files: 5200 loads in CI
// Heap a load holds at its peak beyond what was held before it, and its largest single request: a rejected load
// (all it allocated was before validation failed) stays within the file's own size, a successful one (vocabulary
// strings and index, the CPU engine's packed copies) within twice that; plus a fixed allowance for bookkeeping
// (a GGUF's key/value and tensor tables reserve up to 256 entries at once).
constexpr int64_t kRejectedFactor = 1, kLoadedFactor = 2, kSlackBytes = 256 << 10;

int64_t envInt(const char* name, int64_t fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::strtoll(v, nullptr, 10) : fallback;
}

void limitAddressSpace() {
#if !defined(_WIN32) && !defined(REDRAFTER_ASAN)  // ASan reserves terabytes of address space for its shadow
  struct rlimit limit;
  limit.rlim_cur = limit.rlim_max = rlim_t(3) << 30;  // 3 GiB: far above what these small files need
  setrlimit(RLIMIT_AS, &limit);
#endif
}

// Ends the process (naming what ran) when one load runs past the limit: a hang must fail the test, not stall CI.
class Watchdog {
 public:
  explicit Watchdog(std::chrono::milliseconds limit) : limit_(limit), thread_([this] { run(); }) {}
  ~Watchdog() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  void start(const std::string& what) {
    std::lock_guard<std::mutex> lock(mutex_);
    what_ = what;
    deadline_ = std::chrono::steady_clock::now() + limit_;
    armed_ = true;
    cv_.notify_all();
  }
  void stop() {
    std::lock_guard<std::mutex> lock(mutex_);
    armed_ = false;
  }

 private:
  void run() {
    std::unique_lock<std::mutex> lock(mutex_);
    while (!stop_) {
      if (!armed_) {
        cv_.wait(lock);
        continue;
      }
      if (cv_.wait_until(lock, deadline_) == std::cv_status::timeout && armed_ &&
          std::chrono::steady_clock::now() >= deadline_) {
        std::fprintf(stderr, "fuzz_files_test: HANG: %s ran longer than %lld ms\n", what_.c_str(),
                     static_cast<long long>(limit_.count()));
        std::fflush(stderr);
        std::_Exit(3);
      }
    }
  }
  std::chrono::milliseconds limit_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::string what_;
  std::chrono::steady_clock::time_point deadline_;
  bool armed_ = false, stop_ = false;
  std::thread thread_;
};

// ---- where the fields of each format are --------------------------------------------------------------------
enum class Kind { Dim, Count, Tag, Offset, Float, Flag };
struct Field {
  size_t at;
  int width;  // bytes
  Kind kind;
};
struct FileLayout {
  std::vector<Field> fields;
  size_t headerBytes = 0;  // the header (everything before the first weight)
  size_t dataBegin = 0;    // where float32-aligned weights start (for NaNs); 0: none
};

uint64_t readLe(const std::vector<uint8_t>& d, size_t at, int width) {
  uint64_t v = 0;
  for (int i = 0; i < width && at + i < d.size(); ++i) v |= uint64_t(d[at + i]) << (8 * i);
  return v;
}

FileLayout llama2cLayout(const std::vector<uint8_t>& d) {
  FileLayout l;
  bool ak42 = readLe(d, 0, 4) == 0x616b3432;
  size_t at = 0;
  if (ak42) {
    l.fields.push_back({0, 4, Kind::Tag});  // magic
    l.fields.push_back({4, 4, Kind::Tag});  // version
    at = 8;
  }
  for (int i = 0; i < 7; ++i) l.fields.push_back({at + 4 * size_t(i), 4, Kind::Dim});
  if (ak42) {
    l.fields.push_back({36, 1, Kind::Flag});  // shared_classifier
    l.fields.push_back({37, 4, Kind::Dim});   // group_size (v2)
  }
  l.headerBytes = ak42 ? 256 : 28;
  l.dataBegin = l.headerBytes;
  return l;
}

FileLayout tokenizerBinLayout(const std::vector<uint8_t>& d) {
  FileLayout l;
  l.fields.push_back({0, 4, Kind::Dim});  // max_token_length
  size_t at = 4;
  while (at + 8 <= d.size()) {
    l.fields.push_back({at, 4, Kind::Float});      // score
    l.fields.push_back({at + 4, 4, Kind::Count});  // length
    at += 8 + readLe(d, at + 4, 4);
  }
  l.headerBytes = d.size();
  return l;
}

// GGUF v3: magic, version, tensor_count, kv_count; key/values; tensor infos; aligned data.
FileLayout ggufLayout(const std::vector<uint8_t>& d) {
  FileLayout l;
  l.fields = {{4, 4, Kind::Tag}, {8, 8, Kind::Count}, {16, 8, Kind::Count}};
  uint64_t tensors = readLe(d, 8, 8), kvs = readLe(d, 16, 8);
  size_t at = 24;
  auto str = [&] {
    l.fields.push_back({at, 8, Kind::Count});
    at += 8 + readLe(d, at, 8);
  };
  auto scalarWidth = [](uint64_t t) -> int {
    static const int widths[] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
    return t < 13 ? widths[t] : 0;
  };
  for (uint64_t k = 0; k < kvs && at < d.size(); ++k) {
    str();
    uint64_t type = readLe(d, at, 4);
    l.fields.push_back({at, 4, Kind::Tag});
    at += 4;
    if (type == 8) {
      str();
    } else if (type == 9) {
      uint64_t elementType = readLe(d, at, 4);
      l.fields.push_back({at, 4, Kind::Tag});
      uint64_t n = readLe(d, at + 4, 8);
      l.fields.push_back({at + 4, 8, Kind::Count});
      at += 12;
      for (uint64_t i = 0; i < n && at < d.size(); ++i) {
        if (elementType == 8) {
          str();
        } else {
          int w = scalarWidth(elementType);
          if (i < 64 || i % 64 == 0) l.fields.push_back({at, w, elementType == 6 ? Kind::Float : Kind::Tag});
          at += size_t(w);
        }
      }
    } else {
      int w = scalarWidth(type);
      l.fields.push_back({at, w, type == 6 || type == 12 ? Kind::Float : type == 7 ? Kind::Flag : Kind::Dim});
      at += size_t(w);
    }
  }
  for (uint64_t t = 0; t < tensors && at < d.size(); ++t) {
    str();
    uint64_t dims = readLe(d, at, 4);
    l.fields.push_back({at, 4, Kind::Count});
    at += 4;
    for (uint64_t i = 0; i < dims && i < 4; ++i, at += 8) l.fields.push_back({at, 8, Kind::Dim});
    l.fields.push_back({at, 4, Kind::Tag});
    l.fields.push_back({at + 4, 8, Kind::Offset});
    at += 12;
  }
  l.headerBytes = at;
  l.dataBegin = (at + 31) / 32 * 32;  // the fuzzed files use alignment 32 or 1: either way past the header
  return l;
}

// ---- mutations -----------------------------------------------------------------------------------------------
struct Mutator {
  std::mt19937_64 rng;
  size_t pick(size_t n) { return size_t(rng() % (n ? n : 1)); }

  static void write(std::vector<uint8_t>& d, size_t at, int width, uint64_t v) {
    for (int i = 0; i < width && at + i < d.size(); ++i) d[at + i] = uint8_t(v >> (8 * i));
  }

  uint64_t valueFor(const Field& f, const std::vector<uint8_t>& d, uint64_t fileSize) {
    uint64_t orig = readLe(d, f.at, f.width);
    switch (f.kind) {
      case Kind::Dim:
      case Kind::Count: {
        // the loaders' limits (model/loaders.h: 4096 layers, 2^16 dims, 2^20 hidden, 2^24 vocabulary and context)
        // and just past them
        const uint64_t values[] = {0, 1, 2, 3, orig + 1, orig - 1, orig * 2, orig / 2, orig << 16, 4096, 4097, 1u << 16,
                                   (1u << 16) + 1, 1u << 20, 1u << 24, (1u << 24) + 1, 0x7fffffff, 0x80000000,
                                   0xffffffff, uint64_t(1) << 32, uint64_t(1) << 40, uint64_t(1) << 62,
                                   ~uint64_t(0), fileSize, fileSize / 4};
        return values[pick(sizeof(values) / sizeof(values[0]))];
      }
      case Kind::Tag: {
        const uint64_t values[] = {orig + 1, orig - 1, 0, 1, 2, 7, 8, 9, 10, 12, 13, 16, 24, 28, 30, 31, 39, 255,
                                   0xffffffff, rng() % 64};
        return values[pick(sizeof(values) / sizeof(values[0]))];
      }
      case Kind::Offset: {
        const uint64_t values[] = {0, orig + 1, orig + 32, orig - 32, orig * 2, fileSize, fileSize - 32,
                                   fileSize + 32, uint64_t(1) << 40, ~uint64_t(0) - 31, ~uint64_t(0)};
        return values[pick(sizeof(values) / sizeof(values[0]))];
      }
      case Kind::Float: {
        const uint32_t f32[] = {0x7fc00000, 0xffc00000, 0x7f800000, 0xff800000, 0x80000000, 0x00000001, 0x7f7fffff};
        const uint64_t f64[] = {0x7ff8000000000000, 0x7ff0000000000000, 0xfff0000000000000, 1};
        return f.width == 8 ? f64[pick(4)] : f32[pick(7)];
      }
      case Kind::Flag: return pick(4);
    }
    return 0;
  }

  void once(std::vector<uint8_t>& d, const FileLayout& layout) {
    if (d.empty()) return;
    const size_t header = std::min(layout.headerBytes ? layout.headerBytes : d.size(), d.size());
    switch (rng() % 8) {
      case 0:
      case 1: {  // a header field: dimensions, counts, dtype tags, offsets, lengths, floats
        if (layout.fields.empty()) break;
        const Field& f = layout.fields[pick(layout.fields.size())];
        write(d, f.at, f.width, valueFor(f, d, d.size()));
        break;
      }
      case 2: {  // NaN / Inf / huge values in the weights
        if (layout.dataBegin + 4 >= d.size()) break;
        const uint32_t values[] = {0x7fc00000, 0x7f800000, 0xff800000, 0x7f7fffff, 0x7c00, 0x7e00};
        int n = 1 + int(rng() % 16);
        for (int i = 0; i < n; ++i) {
          size_t at = layout.dataBegin + pick((d.size() - layout.dataBegin) / 4) * 4;
          write(d, at, 4, values[pick(6)]);
        }
        break;
      }
      case 3: {  // a header field at any offset (unaligned) set to an interesting value
        static const int64_t values[] = {0, -1, 1, 2, 3, 7, 31, 32, 64, 255, 0x7fffffff, -0x80000000ll,
                                         0x7fffffffffffffffll, 1ll << 32, 1ll << 40, 1ll << 62};
        write(d, pick(header), rng() % 2 ? 4 : 8, uint64_t(values[pick(sizeof(values) / sizeof(values[0]))]));
        break;
      }
      case 4:  // bits flipped in the header
        for (int i = 0; i < 4; ++i) d[pick(header)] ^= uint8_t(1u << (rng() % 8));
        break;
      case 5: {  // a few random bytes anywhere
        int n = 1 + int(rng() % 8);
        for (int i = 0; i < n; ++i) d[pick(d.size())] = uint8_t(rng());
        break;
      }
      case 6:  // truncation: anywhere, or in the header, or by a few bytes
        d.resize(rng() % 3 == 0 ? pick(header + 1) : rng() % 2 ? pick(d.size()) : d.size() - 1 - pick(std::min<size_t>(d.size(), 64)));
        break;
      default: {  // garbage appended
        size_t n = 1 + pick(300);
        for (size_t i = 0; i < n; ++i) d.push_back(uint8_t(rng()));
        break;
      }
    }
  }
};

// ---- exercising what loaded --------------------------------------------------------------------------------------
// Reads every row of every view, so that a view pointing outside the mapping crashes here.
double touchModel(const ModelWeights& w) {
  double sum = 0;
  std::vector<float> row;
  auto touch = [&](const TensorView& t) {
    row.resize(size_t(t.cols));
    if (t.layout != redrafter::Layout::RowMajor) {  // packed by the CPU engine (F32/F16 panels): read its bytes
      const uint8_t* p = static_cast<const uint8_t*>(t.data);
      int64_t bytes = (t.rows + kPanelRows - 1) / kPanelRows * kPanelRows * t.cols * (t.type == DType::F32 ? 4 : 2);
      for (int64_t i = 0; i < bytes; i += 61) sum += p[i];
      sum += p[bytes - 1];
      return;
    }
    for (int64_t r = 0; r < t.rows; ++r) {
      dequantizeRow(t, r, row.data());
      sum += row[0] + row[size_t(t.cols - 1)];
    }
  };
  touch(w.tokenEmbedding);
  touch(w.output);
  touch(w.finalNorm);
  for (const auto& l : w.layers) {
    for (const TensorView* t : {&l.attnNorm, &l.wq, &l.wk, &l.wv, &l.wo, &l.ffnNorm, &l.w1, &l.w2, &l.w3}) touch(*t);
  }
  std::vector<float> e(size_t(w.config.dim));
  for (int32_t token : {0, w.config.vocabSize - 1}) {
    embeddingRow(w, token, e.data());
    classifierRow(w, token, e.data());
  }
  return sum;
}

void loadModel(const std::string& path) { touchModel(*loadModelWeights(path)); }
void loadPacked(const std::string& path) { touchModel(*cpu::loadPackedModelWeights(path, 1)); }

void loadTokenizer(const std::string& path) {
  auto t = Tokenizer::load(path);
  for (const char* text : {"Once upon a time", "\xf0\x9f\x98\x80 <s> x", "", "\xff\xfe broken \xc3"}) {
    auto ids = t->encode(text, true, true);
    t->decode(ids);
  }
  std::vector<int32_t> all(size_t(t->size()));
  for (int32_t i = 0; i < t->size(); ++i) all[size_t(i)] = i;
  t->decode(all);
}

struct Target {
  std::string name;  // also the temp file's name
  std::string source;
  FileLayout (*layout)(const std::vector<uint8_t>&);
  void (*load)(const std::string&);
};

struct Outcome {
  int loaded = 0, rejected = 0;
  int64_t worstRejected = 0, worstLoaded = 0;  // the most heap a load held at its peak beyond the file's size
};

Outcome fuzz(const Target& target, int rounds, uint64_t seed, Watchdog& watchdog) {
  auto original = test::readFile(target.source);
  REQUIRE(!original.empty());
  const FileLayout layout = target.layout(original);
  test::TempFile f(target.name);
  Outcome out;
  for (int round = 0; round < rounds; ++round) {
    // Each round's mutations depend only on (seed, file, round): a failure is reproduced by its seed alone.
    Mutator m{std::mt19937_64(seed * 0x9e3779b97f4a7c15ull + std::hash<std::string>()(target.name) + uint64_t(round))};
    auto data = original;
    int n = 1 + int(m.rng() % 3);
    for (int i = 0; i < n; ++i) m.once(data, layout);
    test::writeFile(f.path, data);
    const std::string where = target.name + " round " + std::to_string(round) + " (REDRAFTER_FUZZ_SEED=" +
                              std::to_string(seed) + ")";
    const int64_t size = int64_t(data.size());
    watchdog.start(where);
    const int64_t before = gLive.load();
    gPeak.store(before);
    gLargestRequest.store(0);
    bool loaded = false;
    std::string error;  // "" when loaded or coded as it should be
    try {
      target.load(f.path);
      loaded = true;
    } catch (const Error& e) {
      if (e.code() != ErrorCode::InvalidModel && e.code() != ErrorCode::Unsupported)
        error = std::string("the code is ") + errorCodeName(e.code()) + ": " + e.what();
      else if (std::string(e.what()).find(f.path) == std::string::npos)
        error = std::string("the message does not name the file: ") + e.what();
    } catch (const std::exception& e) {
      error = std::string("an uncoded ") + typeid(e).name() + ": " + e.what();
    }
    const int64_t held = gPeak.load() - before, largest = gLargestRequest.load();
    watchdog.stop();
    CHECK_MESSAGE(error.empty(), where << ": " << error);
    CHECK_MESSAGE((!kCountingHeap || largest <= kRejectedFactor * size + kSlackBytes),
                  where << ": asked for " << largest << " bytes at once for a " << size << "-byte file");
    if (loaded) {
      ++out.loaded;
      out.worstLoaded = std::max(out.worstLoaded, held - size);
      CHECK_MESSAGE((!kCountingHeap || held <= kLoadedFactor * size + kSlackBytes),
                    where << ": loaded, holding " << held << " heap bytes at the peak for a " << size << "-byte file");
    } else {
      ++out.rejected;
      out.worstRejected = std::max(out.worstRejected, held - size);
      CHECK_MESSAGE((!kCountingHeap || held <= kRejectedFactor * size + kSlackBytes),
                    where << ": rejected after holding " << held << " heap bytes for a " << size << "-byte file");
    }
  }
  MESSAGE(target.name << ": " << out.loaded << " loaded, " << out.rejected << " rejected; the most heap held beyond "
                      << "the file's size: " << out.worstRejected << " B by a rejected load, " << out.worstLoaded
                      << " B by a successful one");
  CHECK(out.rejected > rounds / 4);  // the mutations do hit the checks
  CHECK(out.loaded > 0);             // and some survive them, so what loads is exercised too
  return out;
}

}  // namespace

TEST_CASE("mutated model and tokenizer files load or fail with a coded error naming the file, within bounded memory") {
  limitAddressSpace();
  const int rounds = int(envInt("REDRAFTER_FUZZ_ROUNDS", kDefaultRounds));
  const uint64_t seed = uint64_t(envInt("REDRAFTER_FUZZ_SEED", 1));
  Watchdog watchdog(std::chrono::milliseconds(envInt("REDRAFTER_FUZZ_LOAD_LIMIT_MS", 5000)));

  // GGUF files converted from the fixtures: several tensor types, and alignment 1 (unaligned tensors are copied).
  struct Gguf {
    const char* type;
    uint32_t alignment;
    std::unique_ptr<test::TempFile> file;
  };
  std::vector<Gguf> ggufs;
  for (auto [type, alignment] : {std::pair<const char*, uint32_t>{"f32", 32}, {"q8_0", 32}, {"f16", 1}, {"bf16", 32}}) {
    auto file = std::make_unique<test::TempFile>(std::string("fuzz-source-") + type + ".gguf");
    ConvertOptions o;
    o.modelPath = test::fixture("stories260K.bin");
    o.tokenizerPath = test::fixture("tok512.bin");
    o.outPath = file->path;
    o.type = type;
    o.alignment = alignment;
    convertToGguf(o);
    ggufs.push_back({type, alignment, std::move(file)});
  }

  std::vector<Target> targets = {
      {"fuzz-v0.bin", test::fixture("stories260K.bin"), llama2cLayout, loadModel},
      {"fuzz-v0-packed.bin", test::fixture("stories260K.bin"), llama2cLayout, loadPacked},
      {"fuzz-q80.bin", test::fixture("stories260K_q80.bin"), llama2cLayout, loadModel},
      {"fuzz-q80-packed.bin", test::fixture("stories260K_q80.bin"), llama2cLayout, loadPacked},
      {"fuzz-tok.bin", test::fixture("tok512.bin"), tokenizerBinLayout, loadTokenizer},
  };
  for (const auto& g : ggufs) {
    std::string base = std::string("fuzz-") + g.type + "-a" + std::to_string(g.alignment);
    targets.push_back({base + "-model.gguf", g.file->path, ggufLayout, g.alignment == 32 && std::strcmp(g.type, "f32") ? loadPacked : loadModel});
    targets.push_back({base + "-tok.gguf", g.file->path, ggufLayout, loadTokenizer});
  }
  int total = 0;
  for (const auto& t : targets) {
    fuzz(t, rounds, seed, watchdog);
    total += rounds;
  }
  MESSAGE(total << " mutated loads (seed " << seed << ")"
                << std::string(kCountingHeap ? "" : "; the heap is not counted in this build (AddressSanitizer or not glibc)"));
}

// Regressions (found by the fuzzer above): a header's layer count was trusted before the file's size was checked,
// allocating ~2 MB of layer views (and a list of tensor slots) for a 4096-layer claim from a 300 KB file; a GGUF's
// key/value count reserved up to 4096 entries (half a megabyte) before any was read.
TEST_CASE("a layer or key count the file cannot back is refused before anything is allocated for it") {
  if (!kCountingHeap) return;
  auto check = [](const std::string& name, std::vector<uint8_t> data, const char* expect, auto load) {
    test::TempFile f(name);
    test::writeFile(f.path, data);
    const int64_t before = gLive.load();
    gPeak.store(before);
    std::string message;
    try {
      load(f.path);
    } catch (const Error& e) {
      CHECK(e.code() == ErrorCode::InvalidModel);
      message = e.what();
    }
    const int64_t held = gPeak.load() - before;
    CHECK_MESSAGE(message.find(expect) != std::string::npos, message);
    CHECK_MESSAGE(held < 64 * 1024, name << " held " << held << " heap bytes before failing");
  };
  // llama2.c v2: n_layers (offset 16) 5 -> 4096
  auto q80 = test::readFile(test::fixture("stories260K_q80.bin"));
  Mutator::write(q80, 16, 4, 4096);
  check("layers-q80.bin", q80, "implies", loadModel);
  // GGUF: llama.block_count 5 -> 4096 (a u32 after its key)
  test::TempFile gguf("layers-source.gguf");
  ConvertOptions o;
  o.modelPath = test::fixture("stories260K.bin");
  o.tokenizerPath = test::fixture("tok512.bin");
  o.outPath = gguf.path;
  convertToGguf(o);
  auto bytes = test::readFile(gguf.path);
  const std::string key = "llama.block_count";
  auto at = std::search(bytes.begin(), bytes.end(), key.begin(), key.end());
  REQUIRE(at != bytes.end());
  size_t value = size_t(at - bytes.begin()) + key.size() + 4;
  REQUIRE(readLe(bytes, value - 4, 4) == 4);  // GGUF u32
  Mutator::write(bytes, value, 4, 4096);
  check("layers.gguf", bytes, "llama.block_count 4096 needs at least 36866 tensors, the file has", loadModel);
  // GGUF: metadata_kv_count (offset 16) raised to 4000 in a file cut to 64 KB (it could hold that many)
  auto cut = test::readFile(gguf.path);
  cut.resize(64 * 1024);
  Mutator::write(cut, 16, 8, 4000);
  check("kv-count.gguf", cut, "beyond the file", loadTokenizer);
}
