// The TensorRT plugins' error reporting, run on the host with no GPU and no TensorRT library (only its public
// headers): the creators from getCreators(), a logger installed through setLoggerFinder(), and every refusal a user
// can meet before a kernel runs — bad attributes at createPlugin, bad shapes at configurePlugin / onShapeChange /
// enqueue — must return failure with a message naming the field. Nothing here launches a kernel: each enqueue is
// refused before its launch (the launchers check before any CUDA call), and the two that would reach the device only
// run where there is none. Built and run by `RUN=1 scripts/check-trt-plugins.sh` (not by CMake: CI has no TensorRT
// headers), linked with the plugin objects and nvcc's objects of native/cuda.
#include <doctest/doctest.h>
#include <NvInferRuntime.h>
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "cuda/testing/random_beams.h"
#include "beam_search_plugin.h"
#include "cuda/beam_search.h"
#include "cuda/build_tree.h"
#include "cuda/tree_attention.h"

using namespace nvinfer1;
namespace rc = redrafter::cuda;

extern "C" void setLoggerFinder(ILoggerFinder* finder);
extern "C" IPluginCreatorInterface* const* getCreators(int32_t& nbCreators);

namespace {

// ---- a real logger, as an application gives TensorRT, found through a real ILoggerFinder

class RecordingLogger : public ILogger {
 public:
  void log(Severity severity, AsciiChar const* msg) noexcept override {
    std::lock_guard<std::mutex> lock(mutex_);
    entries_.push_back({severity, msg});
  }
  std::vector<std::pair<Severity, std::string>> take() {
    std::lock_guard<std::mutex> lock(mutex_);
    return std::move(entries_);
  }

 private:
  std::mutex mutex_;
  std::vector<std::pair<Severity, std::string>> entries_;
};

class Finder : public ILoggerFinder {
 public:
  explicit Finder(ILogger* logger) : logger_(logger) {}
  ILogger* findLogger() override { return logger_; }

 private:
  ILogger* logger_;
};

RecordingLogger gLogger;
Finder gFinder(&gLogger);

// The one error the last call logged (fails the test unless exactly one error was logged).
std::string loggedError() {
  auto entries = gLogger.take();
  REQUIRE(entries.size() == 1);
  CHECK(entries[0].first == ILogger::Severity::kERROR);
  return entries[0].second;
}

void expectContains(std::string const& text, std::string const& part) {
  CAPTURE(text);
  CAPTURE(part);
  CHECK(text.find(part) != std::string::npos);
}

// ---- creators and plugins

IPluginCreatorV3One* creator(char const* name) {
  setLoggerFinder(&gFinder);
  int32_t n = 0;
  IPluginCreatorInterface* const* all = getCreators(n);
  for (int32_t i = 0; i < n; ++i) {
    auto* c = dynamic_cast<IPluginCreatorV3One*>(all[i]);
    if (c && std::strcmp(c->getPluginName(), name) == 0) {
      CHECK(std::string(c->getPluginNamespace()) == "redrafter");
      CHECK(std::string(c->getPluginVersion()) == "1");
      return c;
    }
  }
  FAIL("no creator named " << name);
  return nullptr;
}

struct Field {
  std::string name;
  PluginFieldType type;
  int32_t i = 0;
  float f = 0.f;
  int32_t length = 1;
};
Field intField(char const* name, int32_t v) { return {name, PluginFieldType::kINT32, v, 0.f}; }
Field floatField(char const* name, float v) { return {name, PluginFieldType::kFLOAT32, 0, v}; }

std::unique_ptr<IPluginV3> create(char const* plugin, std::vector<Field> const& fields,
                                  TensorRTPhase phase = TensorRTPhase::kBUILD, char const* layer = "layer0") {
  std::vector<PluginField> pf;
  int32_t twoInts[2] = {0, 0};
  for (auto& f : fields) {
    void const* data = f.type == PluginFieldType::kINT32 ? static_cast<void const*>(&f.i) : static_cast<void const*>(&f.f);
    if (f.length == 2) twoInts[0] = twoInts[1] = f.i, data = twoInts;
    pf.emplace_back(f.name.c_str(), data, f.type, f.length);
  }
  PluginFieldCollection fc;
  fc.nbFields = static_cast<int32_t>(pf.size());
  fc.fields = pf.data();
  return std::unique_ptr<IPluginV3>(creator(plugin)->createPlugin(layer, &fc, phase));
}

IPluginV3OneBuild* build(IPluginV3* p) {
  return static_cast<IPluginV3OneBuild*>(p->getCapabilityInterface(PluginCapabilityType::kBUILD));
}
IPluginV3OneRuntime* runtime(IPluginV3* p) {
  return static_cast<IPluginV3OneRuntime*>(p->getCapabilityInterface(PluginCapabilityType::kRUNTIME));
}

// The plugin's serialised attributes as name -> "i:<int>" / "f:<float>".
std::vector<std::string> serialized(IPluginV3* p) {
  PluginFieldCollection const* fc = runtime(p)->getFieldsToSerialize();
  std::vector<std::string> out;
  for (int32_t k = 0; k < fc->nbFields; ++k) {
    PluginField const& f = fc->fields[k];
    REQUIRE(f.length == 1);
    out.push_back(std::string(f.name) + "=" +
                  (f.type == PluginFieldType::kINT32 ? "i:" + std::to_string(*static_cast<int32_t const*>(f.data))
                                                     : "f:" + std::to_string(*static_cast<float const*>(f.data))));
  }
  return out;
}

// ---- tensors

Dims dims(std::initializer_list<int64_t> d) {
  Dims r{};
  r.nbDims = static_cast<int32_t>(d.size());
  int i = 0;
  for (int64_t v : d) r.d[i++] = v;
  return r;
}

PluginTensorDesc tensor(Dims d, DataType type) {
  PluginTensorDesc t{};
  t.dims = d;
  t.type = type;
  t.format = TensorFormat::kLINEAR;
  t.scale = 1.f;
  return t;
}

// A profile bound per input: min and max shapes (opt = max, dims = max).
struct Bound {
  Dims min, max;
  DataType type;
};
DynamicPluginTensorDesc dynamic(Bound const& b) {
  DynamicPluginTensorDesc t{};
  t.desc = tensor(b.max, b.type);
  t.min = b.min;
  t.max = b.max;
  t.opt = b.max;
  return t;
}
Bound fixed(Dims d, DataType type) { return {d, d, type}; }

// configurePlugin over these bounds (outputs: `nbOutputs` placeholder descs).
int32_t configure(IPluginV3* p, std::vector<Bound> const& in, int32_t nbOutputs) {
  std::vector<DynamicPluginTensorDesc> ins, outs(static_cast<size_t>(nbOutputs));
  for (auto& b : in) ins.push_back(dynamic(b));
  for (auto& o : outs) o = dynamic(fixed(dims({1}), DataType::kINT32));
  return build(p)->configurePlugin(ins.data(), static_cast<int32_t>(ins.size()), outs.data(), nbOutputs);
}

// Stands in for device buffers: every enqueue below is refused before a pointer is used.
alignas(256) char gDummy[256];

int32_t enqueue(IPluginV3* p, std::vector<PluginTensorDesc> const& in, int nbOutputs, void* workspace = gDummy,
                int nullOutput = -1) {
  std::vector<void const*> inputs(in.size(), gDummy);
  std::vector<void*> outputs(static_cast<size_t>(nbOutputs), gDummy);
  if (nullOutput >= 0) outputs[static_cast<size_t>(nullOutput)] = nullptr;
  std::vector<PluginTensorDesc> outDesc(static_cast<size_t>(nbOutputs), tensor(dims({1}), DataType::kINT32));
  return runtime(p)->enqueue(in.data(), outDesc.data(), inputs.data(), outputs.data(), workspace, nullptr);
}

bool haveDevice() {
  int n = 0;
  const bool ok = cudaGetDeviceCount(&n) == cudaSuccess && n > 0;
  cudaGetLastError();
  return ok;
}

// Tree attention's inputs: fp16 q [batch, T, Hq, D]; contiguous k, v [batch, Hkv, cap, D]; lengths; mask.
std::vector<Dims> attentionDims(int64_t batch, int64_t T, int64_t hq, int64_t d, int64_t hkv, int64_t cap) {
  return {dims({batch, T, hq, d}), dims({batch, hkv, cap, d}), dims({batch, hkv, cap, d}), dims({batch}),
          dims({batch}),           dims({batch, T, (T + 31) / 32})};
}
std::vector<Bound> fixedAll(std::vector<Dims> const& ds, DataType first) {
  std::vector<Bound> b;
  for (size_t i = 0; i < ds.size(); ++i) b.push_back(fixed(ds[i], i < 3 ? first : DataType::kINT32));
  return b;
}
std::vector<PluginTensorDesc> tensors(std::vector<Dims> const& ds, DataType first) {
  std::vector<PluginTensorDesc> t;
  for (size_t i = 0; i < ds.size(); ++i) t.push_back(tensor(ds[i], i < 3 ? first : DataType::kINT32));
  return t;
}

}  // namespace

TEST_CASE("plugins: good attributes create each plugin; the defaults serialise") {
  setLoggerFinder(&gFinder);
  gLogger.take();
  auto beam = create("RedrafterBeamSearch", {intField("topK", 8), intField("firstStep", 1)});
  REQUIRE(beam);
  CHECK(serialized(beam.get()) == std::vector<std::string>{"topK=i:8", "firstStep=i:1"});
  auto attention = create("RedrafterTreeAttention", {intField("paged", 1), floatField("scale", 0.125f)});
  REQUIRE(attention);
  CHECK(serialized(attention.get()) == std::vector<std::string>{"paged=i:1", "scale=f:0.125000"});
  auto tree = create("RedrafterBuildTree", {});
  REQUIRE(tree);
  CHECK(serialized(tree.get()).empty());
  std::unique_ptr<IPluginV3> defaults(creator("RedrafterBeamSearch")->createPlugin("d", nullptr, TensorRTPhase::kBUILD));
  REQUIRE(defaults);
  CHECK(serialized(defaults.get()) == std::vector<std::string>{"topK=i:50", "firstStep=i:0"});
  CHECK(gLogger.take().empty());  // nothing to report
}

TEST_CASE("plugins: each bad attribute gives nullptr and an error naming it") {
  setLoggerFinder(&gFinder);
  gLogger.take();
  auto refused = [](char const* plugin, std::vector<Field> fields, std::vector<std::string> parts,
                    TensorRTPhase phase = TensorRTPhase::kBUILD) {
    CAPTURE(plugin);
    CHECK(create(plugin, fields, phase, "drafter/step") == nullptr);
    const std::string message = loggedError();
    expectContains(message, std::string(plugin) + ": layer \"drafter/step\": createPlugin (");
    for (auto& part : parts) expectContains(message, part);
  };
  // ranges
  refused("RedrafterBeamSearch", {intField("topK", 65)}, {"attribute topK (65) must be between 1 and 64"});
  refused("RedrafterBeamSearch", {intField("topK", 0)}, {"attribute topK (0) must be between 1 and 64"});
  refused("RedrafterBeamSearch", {intField("firstStep", 2)}, {"attribute firstStep (2) must be 0 or 1"});
  refused("RedrafterTreeAttention", {intField("paged", -1)}, {"attribute paged (-1) must be 0 or 1"});
  refused("RedrafterTreeAttention", {floatField("scale", -0.5f)}, {"attribute scale (-0.5) must be finite and at least 0"});
  refused("RedrafterTreeAttention", {floatField("scale", std::nanf(""))}, {"attribute scale (nan) must be finite"});
  refused("RedrafterTreeAttention", {floatField("scale", std::numeric_limits<float>::infinity())},
          {"attribute scale (inf) must be finite"});
  // types and lengths
  refused("RedrafterBeamSearch", {floatField("topK", 8.f)}, {"attribute topK has type kFLOAT32; it must be kINT32"});
  refused("RedrafterTreeAttention", {intField("scale", 1)}, {"attribute scale has type kINT32; it must be kFLOAT32"});
  Field two = intField("topK", 8);
  two.length = 2;
  refused("RedrafterBeamSearch", {two}, {"attribute topK has length 2; it must hold exactly one value"});
  refused("RedrafterBeamSearch", {intField("topK", 8), intField("topK", 9)}, {"attribute topK is given twice"});
  // unknown names (TensorRT's own creators skip them; a misspelt attribute silently keeping its default is worse)
  refused("RedrafterBeamSearch", {intField("topk", 8)},
          {"unknown attribute \"topk\"", "this plugin's attributes: topK (int32), firstStep (int32)"});
  refused("RedrafterBuildTree", {intField("width", 8)}, {"unknown attribute \"width\"", "attributes: none"});
  refused("RedrafterTreeAttention", {intField("paged", 0), floatField("softmaxScale", 0.1f)},
          {"unknown attribute \"softmaxScale\""});
  // deserialising an engine goes through the same checks
  refused("RedrafterBeamSearch", {intField("topK", 99)}, {"runtime phase", "attribute topK (99)"}, TensorRTPhase::kRUNTIME);
}

TEST_CASE("plugins: no logger finder, or a finder without a logger: still nullptr, nothing breaks") {
  setLoggerFinder(nullptr);
  PluginField f("topK", nullptr, PluginFieldType::kINT32, 1);
  int32_t bad = 70;
  f.data = &bad;
  PluginFieldCollection fc{1, &f};
  int32_t n = 0;
  IPluginCreatorInterface* const* all = getCreators(n);
  auto* beam = dynamic_cast<IPluginCreatorV3One*>(all[0]);
  REQUIRE(beam);
  CHECK(beam->createPlugin("x", &fc, TensorRTPhase::kBUILD) == nullptr);
  Finder empty(nullptr);
  setLoggerFinder(&empty);
  CHECK(beam->createPlugin("x", &fc, TensorRTPhase::kBUILD) == nullptr);
  setLoggerFinder(&gFinder);
  CHECK(gLogger.take().empty());
  // the finder is asked on the thread that logs
  std::thread([&] { CHECK(beam->createPlugin("x", &fc, TensorRTPhase::kBUILD) == nullptr); }).join();
  expectContains(loggedError(), "attribute topK (70)");
}

TEST_CASE("plugins: clone and the serialised fields keep the attributes") {
  setLoggerFinder(&gFinder);
  gLogger.take();
  for (auto [name, fields] : std::vector<std::pair<char const*, std::vector<Field>>>{
           {"RedrafterBeamSearch", {intField("topK", 12), intField("firstStep", 1)}},
           {"RedrafterTreeAttention", {intField("paged", 1), floatField("scale", 0.0625f)}},
           {"RedrafterBuildTree", {}}}) {
    CAPTURE(name);
    auto p = create(name, fields);
    REQUIRE(p);
    std::unique_ptr<IPluginV3> copy(p->clone());
    REQUIRE(copy);
    CHECK(serialized(copy.get()) == serialized(p.get()));
    // what TensorRT stores in an engine, fed back to the creator as deserialisation does
    PluginFieldCollection const* fc = runtime(copy.get())->getFieldsToSerialize();
    std::unique_ptr<IPluginV3> back(creator(name)->createPlugin("back", fc, TensorRTPhase::kRUNTIME));
    REQUIRE(back);
    CHECK(serialized(back.get()) == serialized(p.get()));
    std::unique_ptr<IPluginV3> attached(runtime(back.get())->attachToContext(nullptr));
    REQUIRE(attached);
    CHECK(serialized(attached.get()) == serialized(p.get()));
  }
  CHECK(gLogger.take().empty());
}

TEST_CASE("plugins: RedrafterBeamSearch configurePlugin checks counts, ranks and the profile's min and max shapes") {
  setLoggerFinder(&gFinder);
  gLogger.take();
  auto p = create("RedrafterBeamSearch", {intField("topK", 50)});
  REQUIRE(p);
  auto both = [](Dims logitsMin, Dims logitsMax) {
    return std::vector<Bound>{{logitsMin, logitsMax, DataType::kFLOAT},
                              {dims({logitsMin.d[0], logitsMin.d[1]}), dims({logitsMax.d[0], logitsMax.d[1]}),
                               DataType::kFLOAT}};
  };
  // good: batch 1..8, width 8, vocab 32000 (resolving a kernel variant here needs no GPU: without one, the chunked)
  CHECK(configure(p.get(), both(dims({1, 8, 32000}), dims({8, 8, 32000})), 3) == 0);
  CHECK(gLogger.take().empty());
  auto refused = [&](std::vector<Bound> const& in, int32_t nbOutputs, std::vector<std::string> parts) {
    CHECK(configure(p.get(), in, nbOutputs) != 0);
    const std::string message = loggedError();
    expectContains(message, "RedrafterBeamSearch: layer \"layer0\": configurePlugin: ");
    for (auto& part : parts) expectContains(message, part);
  };
  refused(both(dims({1, 8, 32000}), dims({8, 64, 32000})), 3,
          {"the profile's max shapes (logits [8, 64, 32000], scores [8, 64])",
           "BeamSearchParams.topK (50) must be between width (64) and 64 [topK is the attribute topK]"});
  refused(both(dims({0, 8, 32000}), dims({8, 8, 32000})), 3,
          {"min shapes", "BeamSearchParams.batch (0) must be positive [batch is logits dimension 0]"});
  refused(both(dims({1, 8, 32000}), dims({8, 8, 400000})), 3,
          {"BeamSearchParams.vocab (400000) must be at most 331776 [vocab is logits dimension 2]"});
  // no kernel serves vocab 300000 with topK 64 (chunked: 74 chunks * 64 > 4096; clusters: vocab <= 131072)
  auto k64 = create("RedrafterBeamSearch", {intField("topK", 64)});
  CHECK(configure(k64.get(), both(dims({1, 8, 300000}), dims({1, 8, 300000})), 3) != 0);
  expectContains(loggedError(), "BeamSearchParams.vocab (300000) with topK 64 and width 8 has no beam-search kernel");
  std::vector<Bound> mismatch = both(dims({1, 8, 32000}), dims({8, 8, 32000}));
  mismatch[1].max = dims({8, 4});
  refused(mismatch, 3, {"scores (input 1) dimension 1 (4) must equal logits dimension 1, width (8)"});
  refused({fixed(dims({8, 8, 32000}), DataType::kFLOAT)}, 3, {"expects 2 inputs (logits, scores), got 1"});
  refused(both(dims({1, 8, 32000}), dims({8, 8, 32000})), 2, {"expects 3 outputs, got 2"});
  refused({fixed(dims({8, 32000}), DataType::kFLOAT), fixed(dims({8, 8}), DataType::kFLOAT)}, 3,
          {"input 0 (logits) must have rank 3 [batch, width, vocab], got rank 2"});
  refused(both(dims({1, 8, 32000}), dims({int64_t(1) << 33, 8, 32000})), 3,
          {"input 0 (logits) dimension 0 (8589934592) must be in 0..2147483647"});
}

TEST_CASE("plugins: RedrafterBuildTree and RedrafterTreeAttention configurePlugin name the field and tensor") {
  setLoggerFinder(&gFinder);
  gLogger.take();
  auto tree = create("RedrafterBuildTree", {});
  REQUIRE(tree);
  CHECK(configure(tree.get(), {{dims({1, 8, 5}), dims({64, 8, 5}), DataType::kINT32}}, 7) == 0);
  CHECK(configure(tree.get(), {{dims({1, 8, 5}), dims({64, 41, 25}), DataType::kINT32}}, 7) != 0);
  expectContains(loggedError(), "BuildTreeParams.width * length (1025) must be at most 1024 [width * length is beams "
                                "dimension 1 times dimension 2]");
  CHECK(configure(tree.get(), {{dims({1, 0, 5}), dims({64, 8, 5}), DataType::kINT32}}, 7) != 0);
  expectContains(loggedError(), "min shapes (beams [1, 0, 5]): BuildTreeParams.width (0) must be positive");

  auto attention = create("RedrafterTreeAttention", {});
  REQUIRE(attention);
  auto good = attentionDims(8, 33, 32, 128, 8, 4096 + 33);
  CHECK(configure(attention.get(), fixedAll(good, DataType::kHALF), 1) == 0);
  CHECK(gLogger.take().empty());
  auto refused = [&](std::vector<Dims> const& ds, std::string const& part, DataType type = DataType::kHALF) {
    CHECK(configure(attention.get(), fixedAll(ds, type), 1) != 0);
    const std::string message = loggedError();
    expectContains(message, "RedrafterTreeAttention: layer \"layer0\": configurePlugin: the profile's min shapes (q [");
    expectContains(message, part);
  };
  refused(attentionDims(8, 33, 32, 96, 8, 4129), "TreeAttentionParams.cache.headDim (96) must be 64 or 128 [cache.headDim is q dimension 3]");
  refused(attentionDims(8, 33, 30, 128, 8, 4129),
          "TreeAttentionParams.qHeads (30) must be a multiple of cache.kvHeads (8) [qHeads is q dimension 2]");
  refused(attentionDims(8, 33, 32, 128, 8, 20),
          "TreeAttentionParams.cache.capacity (20) must be at least maxPastLength + treeTokens (33) [cache.capacity is k dimension 2]");
  auto badMask = good;
  badMask[5] = dims({8, 33, 1});
  refused(badMask, "packedMask (input 5) dimension 2 (1) must equal ceil(T / 32) (2)");
  auto badV = good;
  badV[2] = dims({8, 4, 4129, 128});
  refused(badV, "v (input 2) dimension 1 (4) must equal k dimension 1 (8)");
  refused(good, "q (input 0) has DataType", DataType::kFLOAT);
  // paged = 1 needs the block table
  auto paged = create("RedrafterTreeAttention", {intField("paged", 1)});
  CHECK(configure(paged.get(), fixedAll(good, DataType::kHALF), 1) != 0);
  expectContains(loggedError(), "expects 7 inputs (q, k, v, pastLengths, treeLengths, packedMask, blockTable), got 6");
  auto pagedDims = attentionDims(8, 33, 32, 128, 8, 16);  // k, v: [numBlocks 8, Hkv 8, blockSize 16, D]
  pagedDims[1] = pagedDims[2] = dims({256, 8, 16, 128});
  pagedDims.push_back(dims({8, 2}));  // 2 blocks of 16 cannot hold T = 33
  CHECK(configure(paged.get(), fixedAll(pagedDims, DataType::kHALF), 1) != 0);
  expectContains(loggedError(), "blockTable (input 6) dimension 1 (2 blocks) times k dimension 2 (16 slots per block) "
                                "must hold at least q dimension 1, T (33)");
  pagedDims[6] = dims({8, 300});
  CHECK(configure(paged.get(), fixedAll(pagedDims, DataType::kHALF), 1) == 0);
}

TEST_CASE("plugins: enqueue refuses bad shapes with the launcher's message, before any CUDA call") {
  setLoggerFinder(&gFinder);
  gLogger.take();
  // beam search: topK 50 < width 64 (the check runs before the workspace counters are cleared)
  auto beam = create("RedrafterBeamSearch", {intField("topK", 50)});
  rc::BeamSearchParams bp;
  bp.batch = 2, bp.width = 64, bp.vocab = 32000, bp.topK = 50;
  CHECK(enqueue(beam.get(), {tensor(dims({2, 64, 32000}), DataType::kFLOAT), tensor(dims({2, 64}), DataType::kFLOAT)},
                3) != 0);
  std::string message = loggedError();
  expectContains(message, "RedrafterBeamSearch: layer \"layer0\": enqueue: ");
  expectContains(message, rc::beamSearchShapeError(bp));  // the launcher's own words
  // a null workspace is refused before cudaMemsetAsync
  CHECK(enqueue(beam.get(), {tensor(dims({2, 8, 32000}), DataType::kFLOAT), tensor(dims({2, 8}), DataType::kFLOAT)}, 3,
                nullptr) != 0);
  expectContains(loggedError(), "enqueue: workspace is null");

  // build tree: the shape check, then the launcher's pointer check (both before any CUDA call)
  auto tree = create("RedrafterBuildTree", {});
  rc::BuildTreeParams tp;
  tp.batch = 4, tp.width = 41, tp.length = 25, tp.capacity = 1025;
  CHECK(enqueue(tree.get(), {tensor(dims({4, 41, 25}), DataType::kINT32)}, 7) != 0);
  expectContains(loggedError(), "enqueue: " + rc::buildTreeShapeError(tp));
  CHECK(enqueue(tree.get(), {tensor(dims({4, 8, 5}), DataType::kINT32)}, 7, gDummy, 1) != 0);
  CHECK(loggedError() == "RedrafterBuildTree: layer \"layer0\": enqueue: BuildTreeParams.tokens is null");

  // tree attention: the shapes are checked before the device is asked for its multiprocessors
  auto attention = create("RedrafterTreeAttention", {});
  CHECK(enqueue(attention.get(), tensors(attentionDims(8, 33, 32, 96, 8, 4129), DataType::kHALF), 1) != 0);
  expectContains(loggedError(), "enqueue: TreeAttentionParams.cache.headDim (96) must be 64 or 128");
  // good shapes, null mask pointer: with no device the message says so (not "smCount (0) must be positive"); with
  // one the launcher refuses the null pointer before launching
  std::vector<PluginTensorDesc> good = tensors(attentionDims(8, 33, 32, 128, 8, 4129), DataType::kHALF);
  std::vector<void const*> inputs(good.size(), gDummy);
  inputs[5] = nullptr;
  void* outputs[1] = {gDummy};
  PluginTensorDesc outDesc = good[0];
  CHECK(runtime(attention.get())->enqueue(good.data(), &outDesc, inputs.data(), outputs, gDummy, nullptr) != 0);
  message = loggedError();
  CHECK(message.find("smCount") == std::string::npos);
  if (haveDevice())
    expectContains(message, "enqueue: TreeAttentionParams.packedMask is null");
  else
    expectContains(message, "enqueue: no usable CUDA device to plan the attention splits on (cuda");
}

TEST_CASE("plugins: RedrafterBeamSearch resolves its kernel in onShapeChange, not in enqueue") {
  setLoggerFinder(&gFinder);
  gLogger.take();
  auto p = create("RedrafterBeamSearch", {intField("topK", 50)});
  auto* beam = dynamic_cast<redrafter::trt::BeamSearchPlugin*>(p.get());
  REQUIRE(beam);
  const Dims logits = dims({4, 8, 32000});
  CHECK(beam->variantFor(logits) == rc::BeamSearchVariant::kAuto);  // nothing resolved yet
  PluginTensorDesc in[2] = {tensor(logits, DataType::kFLOAT), tensor(dims({4, 8}), DataType::kFLOAT)};
  PluginTensorDesc out[3] = {tensor(dims({4, 8}), DataType::kFLOAT), tensor(dims({4, 8}), DataType::kINT32),
                             tensor(dims({4, 8}), DataType::kINT32)};
  REQUIRE(runtime(p.get())->onShapeChange(in, 2, out, 3) == 0);
  CHECK(gLogger.take().empty());
  // enqueue passes this variant explicitly: the launcher then makes no occupancy query
  rc::BeamSearchParams bp;
  bp.batch = 4, bp.width = 8, bp.vocab = 32000, bp.topK = 50;
  const rc::BeamSearchVariant resolved = rc::beamSearchResolveVariant(bp);
  CHECK(resolved != rc::BeamSearchVariant::kAuto);
  CHECK(beam->variantFor(logits) == resolved);
  CHECK(beam->variantFor(dims({5, 8, 32000})) == rc::BeamSearchVariant::kAuto);  // other shapes: not this one
  // a shape no kernel serves is refused here, by name
  auto k64 = create("RedrafterBeamSearch", {intField("topK", 64)});
  PluginTensorDesc big[2] = {tensor(dims({1, 8, 300000}), DataType::kFLOAT), tensor(dims({1, 8}), DataType::kFLOAT)};
  CHECK(runtime(k64.get())->onShapeChange(big, 2, out, 3) != 0);
  expectContains(loggedError(), "onShapeChange: BeamSearchParams.vocab (300000) with topK 64 and width 8 has no beam-search kernel");
  PluginTensorDesc bad[2] = {tensor(dims({4, 8, 32000}), DataType::kFLOAT), tensor(dims({3, 8}), DataType::kFLOAT)};
  CHECK(runtime(p.get())->onShapeChange(bad, 2, out, 3) != 0);
  expectContains(loggedError(), "onShapeChange: scores (input 1) dimension 0 (3) must equal logits dimension 0, batch (4)");
}

TEST_CASE("plugins: with no device, a valid beam-search enqueue fails with the CUDA error, not a crash") {
  if (haveDevice()) {
    MESSAGE("a CUDA device is present: skipped (this case would launch)");
    return;
  }
  setLoggerFinder(&gFinder);
  gLogger.take();
  auto p = create("RedrafterBeamSearch", {intField("topK", 50)});
  CHECK(enqueue(p.get(), {tensor(dims({2, 8, 32000}), DataType::kFLOAT), tensor(dims({2, 8}), DataType::kFLOAT)}, 3) != 0);
  expectContains(loggedError(), "enqueue: cudaMemsetAsync of the workspace counters failed: cuda");
}

TEST_CASE("plugins: RedrafterTreeAttention sizes its workspace without a device, for any GPU up to 256 SMs") {
  setLoggerFinder(&gFinder);
  gLogger.take();
  auto attention = create("RedrafterTreeAttention", {});
  REQUIRE(attention);
  // the profile: batch 1..8, the 4k-context W8 L5 tree of the GPU check
  auto good = attentionDims(8, 33, 32, 128, 8, 4096 + 33);
  std::vector<Bound> bounds = fixedAll(good, DataType::kHALF);
  for (auto& b : bounds) b.min.d[0] = 1;
  std::vector<DynamicPluginTensorDesc> ins;
  for (auto& b : bounds) ins.push_back(dynamic(b));
  DynamicPluginTensorDesc out = dynamic(fixed(good[0], DataType::kHALF));
  REQUIRE(build(attention.get())->configurePlugin(ins.data(), 6, &out, 1) == 0);
  const size_t bytes = build(attention.get())->getWorkspaceSize(ins.data(), 6, &out, 1);
  CHECK(gLogger.take().empty());  // no device here, and none needed
  // every batch size of the profile, planned for an H100 SXM (132 SMs), a B200 (148) or 256, fits it
  for (int batch = 1; batch <= 8; ++batch)
    for (int sms : {114, 132, 148, 256}) {
      CAPTURE(batch);
      CAPTURE(sms);
      rc::TreeAttentionParams p;
      p.batch = batch, p.treeTokens = 33, p.qHeads = 32, p.maxPastLength = 4096;
      p.cache.kvHeads = 8, p.cache.headDim = 128, p.cache.capacity = 4096 + 33;
      const size_t need = rc::treeAttentionWorkspaceBytes(p, sms);
      CHECK(need > 0);
      CHECK(need <= bytes);
    }
}

// ---- on a GPU (skipped without one): each plugin's tensor plumbing, its enqueue against its launcher called directly
// on the same inputs. The launchers themselves are checked against the CPU references by the GPU check.

namespace {

template <typename T>
struct DeviceBuffer {
  T* p = nullptr;
  size_t n = 0;
  explicit DeviceBuffer(size_t count) : n(count) { REQUIRE(cudaMalloc(reinterpret_cast<void**>(&p), count * sizeof(T)) == cudaSuccess); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  ~DeviceBuffer() { cudaFree(p); }
  void upload(const std::vector<T>& v) {
    REQUIRE(v.size() == n);
    REQUIRE(cudaMemcpy(p, v.data(), n * sizeof(T), cudaMemcpyHostToDevice) == cudaSuccess);
  }
  std::vector<T> download() const {
    std::vector<T> v(n);
    REQUIRE(cudaMemcpy(v.data(), p, n * sizeof(T), cudaMemcpyDeviceToHost) == cudaSuccess);
    return v;
  }
  void poison() { REQUIRE(cudaMemset(p, 0xff, n * sizeof(T)) == cudaSuccess); }
};

uint16_t halfBits(float x) {  // round to nearest fp16 (the inputs are small and normal)
  uint32_t f;
  std::memcpy(&f, &x, 4);
  const uint32_t sign = (f >> 16) & 0x8000u, rest = f & 0x7fffffffu;
  if (rest < 0x38800000u) return static_cast<uint16_t>(sign);  // below fp16's normal range: 0
  const uint32_t mantissa = rest + 0xfffu + ((rest >> 13) & 1u);  // round half to even
  return static_cast<uint16_t>(sign | ((mantissa - 0x38000000u) >> 13));
}

}  // namespace

TEST_CASE("plugins on a GPU: each enqueue writes exactly what its launcher writes for the same inputs") {
  if (!haveDevice()) {
    MESSAGE("no CUDA device: skipped (the GPU run of this check is scripts/test-gpu.sh with TENSORRT_INCLUDE)");
    return;
  }
  setLoggerFinder(&gFinder);
  gLogger.take();
  std::mt19937 rng(7);

  SUBCASE("RedrafterBuildTree") {
    const int B = 4, W = 8, L = 5, C = W * L, words = (C + 31) / 32;
    DeviceBuffer<int32_t> beams(size_t(B) * W * L);
    beams.upload(redrafter::testing::randomBeams(rng, B, W, L, 3));
    const size_t sizes[7] = {size_t(B), size_t(B) * C, size_t(B) * C, size_t(B) * C, size_t(B) * C,
                             size_t(B) * W * L, size_t(B) * C * words};
    std::vector<std::unique_ptr<DeviceBuffer<int32_t>>> viaPlugin, direct;
    for (size_t s : sizes) {
      viaPlugin.push_back(std::make_unique<DeviceBuffer<int32_t>>(s));
      direct.push_back(std::make_unique<DeviceBuffer<int32_t>>(s));
      viaPlugin.back()->poison();
      direct.back()->poison();
    }
    auto plugin = create("RedrafterBuildTree", {});
    PluginTensorDesc in = tensor(dims({B, W, L}), DataType::kINT32);
    std::vector<PluginTensorDesc> outDesc(7, tensor(dims({B}), DataType::kINT32));
    void const* inputs[1] = {beams.p};
    void* outputs[7];
    for (int i = 0; i < 7; ++i) outputs[i] = viaPlugin[size_t(i)]->p;
    REQUIRE(runtime(plugin.get())->enqueue(&in, outDesc.data(), inputs, outputs, nullptr, nullptr) == 0);
    rc::BuildTreeParams p;
    p.batch = B, p.width = W, p.length = L, p.capacity = C, p.beams = beams.p;
    p.lengths = direct[0]->p, p.tokens = direct[1]->p, p.beamTokenIndex = direct[2]->p;
    p.positionOffsets = direct[3]->p, p.parents = direct[4]->p, p.unpacker = direct[5]->p, p.packedMask = direct[6]->p;
    REQUIRE(rc::launchBuildTree(p, nullptr) == cudaSuccess);
    REQUIRE(cudaDeviceSynchronize() == cudaSuccess);
    for (size_t i = 0; i < 7; ++i) {
      CAPTURE(i);
      CHECK(viaPlugin[i]->download() == direct[i]->download());
    }
  }

  SUBCASE("RedrafterBeamSearch") {
    const int B = 2, W = 8, V = 32000, topK = 50;
    std::normal_distribution<float> normal(0.f, 3.f);
    std::vector<float> logits(size_t(B) * W * V), scores(size_t(B) * W);
    for (auto& x : logits) x = normal(rng);
    for (auto& x : scores) x = -std::fabs(normal(rng));
    DeviceBuffer<float> dLogits(logits.size()), dScores(scores.size()), outScores(size_t(B) * W), outScores2(size_t(B) * W);
    DeviceBuffer<int32_t> outParent(size_t(B) * W), outToken(size_t(B) * W), outParent2(size_t(B) * W),
        outToken2(size_t(B) * W);
    dLogits.upload(logits);
    dScores.upload(scores);
    const size_t wsBytes = rc::beamSearchWorkspaceBytes(B, W, V, topK);
    DeviceBuffer<char> ws(wsBytes), ws2(wsBytes);
    REQUIRE(cudaMemset(ws2.p, 0, wsBytes) == cudaSuccess);
    auto plugin = create("RedrafterBeamSearch", {intField("topK", topK)});
    PluginTensorDesc in[2] = {tensor(dims({B, W, V}), DataType::kFLOAT), tensor(dims({B, W}), DataType::kFLOAT)};
    PluginTensorDesc out[3] = {tensor(dims({B, W}), DataType::kFLOAT), tensor(dims({B, W}), DataType::kINT32),
                               tensor(dims({B, W}), DataType::kINT32)};
    REQUIRE(runtime(plugin.get())->onShapeChange(in, 2, out, 3) == 0);
    void const* inputs[2] = {dLogits.p, dScores.p};
    void* outputs[3] = {outScores.p, outParent.p, outToken.p};
    REQUIRE(runtime(plugin.get())->enqueue(in, out, inputs, outputs, ws.p, nullptr) == 0);
    rc::BeamSearchParams p;
    p.batch = B, p.width = W, p.vocab = V, p.topK = topK, p.logits = dLogits.p, p.scores = dScores.p;
    p.outScores = outScores2.p, p.outParent = outParent2.p, p.outToken = outToken2.p;
    REQUIRE(rc::launchBeamSearchStep(p, ws2.p, wsBytes, nullptr) == cudaSuccess);
    REQUIRE(cudaDeviceSynchronize() == cudaSuccess);
    CHECK(outScores.download() == outScores2.download());
    CHECK(outParent.download() == outParent2.download());
    CHECK(outToken.download() == outToken2.download());
  }

  SUBCASE("RedrafterTreeAttention") {
    const int B = 2, T = 33, Hq = 8, Hkv = 2, D = 64, cap = 300, words = (T + 31) / 32;
    std::uniform_real_distribution<float> u(-1.f, 1.f);
    auto halves = [&](size_t n) {
      std::vector<uint16_t> v(n);
      for (auto& x : v) x = halfBits(u(rng));
      return v;
    };
    DeviceBuffer<uint16_t> q(size_t(B) * T * Hq * D), k(size_t(B) * Hkv * cap * D), v(k.n), o(q.n), o2(q.n);
    q.upload(halves(q.n));
    k.upload(halves(k.n));
    v.upload(halves(v.n));
    DeviceBuffer<int32_t> past(B), treeLen(B), mask(size_t(B) * T * words);
    past.upload({200, 17});
    treeLen.upload({T, 20});
    std::vector<int32_t> bits(mask.n);
    for (auto& x : bits) x = static_cast<int32_t>(rng());
    mask.upload(bits);
    o.poison();
    o2.poison();
    auto plugin = create("RedrafterTreeAttention", {});
    std::vector<PluginTensorDesc> in = tensors(attentionDims(B, T, Hq, D, Hkv, cap), DataType::kHALF);
    PluginTensorDesc out = in[0];
    rc::TreeAttentionParams p;
    p.batch = B, p.treeTokens = T, p.qHeads = Hq, p.scale = 1.f / std::sqrt(float(D)), p.maxPastLength = cap - T;
    p.cache.kvHeads = Hkv, p.cache.headDim = D, p.cache.capacity = cap;
    const size_t wsBytes = rc::treeAttentionWorkspaceBytes(p, 256);  // what the plugin's getWorkspaceSize gives
    DeviceBuffer<char> ws(wsBytes), ws2(wsBytes);
    void const* inputs[6] = {q.p, k.p, v.p, past.p, treeLen.p, mask.p};
    void* outputs[1] = {o.p};
    REQUIRE(runtime(plugin.get())->enqueue(in.data(), &out, inputs, outputs, ws.p, nullptr) == 0);
    int dev = 0, sms = 0;
    REQUIRE(cudaGetDevice(&dev) == cudaSuccess);
    REQUIRE(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev) == cudaSuccess);
    p.q = q.p, p.cache.k = k.p, p.cache.v = v.p, p.pastLengths = past.p, p.treeLengths = treeLen.p;
    p.packedMask = mask.p, p.out = o2.p;
    REQUIRE(rc::launchTreeAttention(p, std::min(sms, 256), ws2.p, wsBytes, nullptr) == cudaSuccess);
    REQUIRE(cudaDeviceSynchronize() == cudaSuccess);
    const auto a = o.download(), b = o2.download();
    CHECK(a == b);
    size_t finite = 0;
    for (uint16_t h : a) finite += (h & 0x7c00u) != 0x7c00u;
    CHECK(finite == a.size());  // no poison (0xffff is a NaN) left: every element written
  }
  CHECK(gLogger.take().empty());
}
