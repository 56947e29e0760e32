// RedrafterTreeAttention (tree_attention_plugin.h): tensors, checks, workspace and enqueue.
#include "tree_attention_plugin.h"

#include <cuda_runtime_api.h>

#include <algorithm>
#include <cmath>

#include "cuda/tree_attention.h"

namespace redrafter::trt {

namespace {

// The current device's multiprocessor count (the split plan depends on it), or 0 with `why` saying what failed.
int smCount(std::string* why) {
  int dev = 0, n = 0;
  cudaError_t err = cudaGetDevice(&dev);
  if (err == cudaSuccess) err = cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, dev);
  if (err != cudaSuccess) {
    cudaGetLastError();  // not sticky: leave no error for the next launch check
    *why = std::string("no usable CUDA device to plan the attention splits on (") + cudaGetErrorName(err) + ": " +
           cudaGetErrorString(err) + ")";
    return 0;
  }
  if (n <= 0) *why = "the CUDA device reports " + std::to_string(n) + " multiprocessors";
  return n;
}

// The split plan's block count grows with the device's multiprocessors, and so does the workspace: it is sized
// for this many (more than any GPU so far: H100 SXM 132, B200 148), so that an engine built on one GPU also runs on
// a bigger one; enqueue plans for min(the device's count, this). Costs at most the splits' partial results of the
// bigger plan (batch * kvHeads * splits * rows * (headDim + 2) floats).
constexpr int kWorkspaceSmBound = 256;

cuda::DType dtypeOf(DataType type) { return type == DataType::kBF16 ? cuda::DType::BF16 : cuda::DType::F16; }

// Launch parameters from the tensor shapes (pointers left null). in: q, k, v, ..., blockTable (paged).
cuda::TreeAttentionParams shapeParams(Dims const* in, bool paged, DataType type, float scale) {
  Dims const& q = in[0];
  Dims const& k = in[1];
  cuda::TreeAttentionParams p;
  p.dtype = dtypeOf(type);
  p.batch = static_cast<int>(q.d[0]);
  p.treeTokens = static_cast<int>(q.d[1]);
  p.qHeads = static_cast<int>(q.d[2]);
  p.cache.headDim = static_cast<int>(q.d[3]);
  p.cache.kvHeads = static_cast<int>(k.d[1]);
  p.scale = scale > 0.f ? scale : 1.f / std::sqrt(static_cast<float>(std::max(1, p.cache.headDim)));
  if (paged) {
    p.cache.layout = cuda::KvLayout::kPaged;
    p.cache.numBlocks = static_cast<int>(k.d[0]);
    p.cache.blockSize = static_cast<int>(k.d[2]);
    p.cache.maxBlocksPerSeq = static_cast<int>(in[6].d[1]);
    p.maxPastLength = static_cast<int>(
        std::max<int64_t>(0, static_cast<int64_t>(p.cache.maxBlocksPerSeq) * p.cache.blockSize - p.treeTokens));
  } else {
    p.cache.layout = cuda::KvLayout::kContiguous;
    p.cache.capacity = static_cast<int>(k.d[2]);
    p.maxPastLength = std::max(0, p.cache.capacity - p.treeTokens);
  }
  return p;
}

std::string mustEqual(char const* what, int64_t value, char const* other, int64_t expected) {
  return std::string(what) + " (" + std::to_string(value) + ") must equal " + other + " (" + std::to_string(expected) + ")";
}

}  // namespace

TreeAttentionPlugin::TreeAttentionPlugin() {
  attrs_.addInt("paged", 0, 0, 1);
  attrs_.addFloat("scale", 0.f, 0.f, "(0 means 1/sqrt(headDim))");
}

IPluginV3* TreeAttentionPlugin::clone() noexcept { return cloneAs<TreeAttentionPlugin>(); }

std::vector<TensorSpec> const& TreeAttentionPlugin::inputSpecs() const {
  static const std::vector<TensorSpec> kContiguous = {{"q", 4, "[batch, T, Hq, D]"},
                                                      {"k", 4, "[batch, Hkv, capacity, D]"},
                                                      {"v", 4, "[batch, Hkv, capacity, D]"},
                                                      {"pastLengths", 1, "[batch]"},
                                                      {"treeLengths", 1, "[batch]"},
                                                      {"packedMask", 3, "[batch, T, ceil(T/32)]"}};
  static const std::vector<TensorSpec> kPaged = {{"q", 4, "[batch, T, Hq, D]"},
                                                 {"k", 4, "[numBlocks, Hkv, blockSize, D]"},
                                                 {"v", 4, "[numBlocks, Hkv, blockSize, D]"},
                                                 {"pastLengths", 1, "[batch]"},
                                                 {"treeLengths", 1, "[batch]"},
                                                 {"packedMask", 3, "[batch, T, ceil(T/32)]"},
                                                 {"blockTable", 2, "[batch, maxBlocksPerSeq]"}};
  return paged() ? kPaged : kContiguous;
}

std::string TreeAttentionPlugin::shapeError(Dims const* in, DataType const* types) const {
  if (types[0] != DataType::kHALF && types[0] != DataType::kBF16)
    return "q (input 0) has DataType " + std::to_string(static_cast<int>(types[0])) + "; it must be kHALF or kBF16";
  Dims const &q = in[0], &k = in[1], &v = in[2];
  const int64_t batch = q.d[0], T = q.d[1], D = q.d[3];
  for (int j = 0; j < 4; ++j)
    if (v.d[j] != k.d[j])
      return mustEqual(("v (input 2) dimension " + std::to_string(j)).c_str(), v.d[j],
                       ("k dimension " + std::to_string(j)).c_str(), k.d[j]);
  if (k.d[3] != D) return mustEqual("k (input 1) dimension 3", k.d[3], "q dimension 3, headDim", D);
  if (!paged() && k.d[0] != batch) return mustEqual("k (input 1) dimension 0", k.d[0], "q dimension 0, batch", batch);
  if (in[3].d[0] != batch) return mustEqual("pastLengths (input 3) dimension 0", in[3].d[0], "q dimension 0, batch", batch);
  if (in[4].d[0] != batch) return mustEqual("treeLengths (input 4) dimension 0", in[4].d[0], "q dimension 0, batch", batch);
  Dims const& mask = in[5];
  if (mask.d[0] != batch) return mustEqual("packedMask (input 5) dimension 0", mask.d[0], "q dimension 0, batch", batch);
  if (mask.d[1] != T) return mustEqual("packedMask (input 5) dimension 1", mask.d[1], "q dimension 1, T", T);
  if (mask.d[2] != (T + 31) / 32) return mustEqual("packedMask (input 5) dimension 2", mask.d[2], "ceil(T / 32)", (T + 31) / 32);
  if (paged()) {
    Dims const& table = in[6];
    if (table.d[0] != batch) return mustEqual("blockTable (input 6) dimension 0", table.d[0], "q dimension 0, batch", batch);
    if (table.d[1] > 0 && k.d[2] > 0 && table.d[1] * k.d[2] < T)
      return "blockTable (input 6) dimension 1 (" + std::to_string(table.d[1]) + " blocks) times k dimension 2 (" +
             std::to_string(k.d[2]) + " slots per block) must hold at least q dimension 1, T (" + std::to_string(T) +
             ")";
  }
  std::string why = cuda::treeAttentionShapeError(shapeParams(in, paged(), types[0], attrs_.getFloat("scale")));
  if (why.empty()) return why;
  const std::vector<FieldOrigin> origins = {
      {"dtype", "q's data type"},
      {"batch", "q dimension 0"},
      {"treeTokens", "q dimension 1"},
      {"qHeads", "q dimension 2"},
      {"cache.headDim", "q dimension 3"},
      {"cache.kvHeads", "k dimension 1"},
      {"cache.capacity", "k dimension 2"},
      {"cache.blockSize", "k dimension 2"},
      {"cache.maxBlocksPerSeq", "blockTable dimension 1"},
      {"maxPastLength", paged() ? "blockTable dimension 1 times k dimension 2, minus T" : "k dimension 2 minus T"}};
  return withOrigin(std::move(why), origins);
}

int32_t TreeAttentionPlugin::getOutputDataTypes(DataType* out, int32_t nbOutputs, DataType const* in,
                                                int32_t nbIn) const noexcept {
  if (nbOutputs != 1 || nbIn != nbInputs()) {
    logError("getOutputDataTypes: expects " + std::to_string(nbInputs()) + " inputs and 1 output, got " +
             std::to_string(nbIn) + " and " + std::to_string(nbOutputs));
    return -1;
  }
  out[0] = in[0];
  return 0;
}

int32_t TreeAttentionPlugin::getOutputShapes(DimsExprs const* in, int32_t nbIn, DimsExprs const*, int32_t,
                                             DimsExprs* out, int32_t nbOutputs, IExprBuilder&) noexcept {
  if (!checkExprs("getOutputShapes", in, nbIn, nbOutputs)) return -1;
  out[0] = in[0];
  return 0;
}

bool TreeAttentionPlugin::supportsFormatCombination(int32_t pos, DynamicPluginTensorDesc const* inOut, int32_t nbIn,
                                                    int32_t) noexcept {
  PluginTensorDesc const& d = inOut[pos].desc;
  if (!isLinear(d)) return false;
  const bool activation = pos == 0 || pos == 1 || pos == 2 || pos == nbIn;  // q, k, v, out
  if (!activation) return d.type == DataType::kINT32;
  if (pos == 0) return d.type == DataType::kHALF || d.type == DataType::kBF16;
  return d.type == inOut[0].desc.type;
}

size_t TreeAttentionPlugin::getWorkspaceSize(DynamicPluginTensorDesc const* in, int32_t nbIn,
                                             DynamicPluginTensorDesc const*, int32_t) const noexcept {
  try {
    if (nbIn != nbInputs()) return 0;  // configurePlugin said why
    Dims dims[kMaxInputs];
    DataType types[kMaxInputs];
    for (int32_t i = 0; i < nbIn; ++i) dims[i] = in[i].max, types[i] = in[i].desc.type;
    if (!inputsError(dims, nbIn, types).empty()) return 0;  // configurePlugin said why
    // the split plan depends on the batch: take the largest workspace over the batch sizes the profile allows (no
    // device needed: the plan is sized for kWorkspaceSmBound multiprocessors)
    size_t most = 0;
    const int64_t lo = std::max<int64_t>(1, in[0].min.d[0]), hi = std::max<int64_t>(lo, dims[0].d[0]);
    for (int64_t b = lo; b <= hi; ++b) {
      dims[0].d[0] = b;
      const cuda::TreeAttentionParams p = shapeParams(dims, paged(), types[0], attrs_.getFloat("scale"));
      most = std::max(most, cuda::treeAttentionWorkspaceBytes(p, kWorkspaceSmBound));
    }
    return most;
  } catch (...) {
    logException("getWorkspaceSize");
    return 0;
  }
}

int32_t TreeAttentionPlugin::enqueue(PluginTensorDesc const* inDesc, PluginTensorDesc const*, void const* const* inputs,
                                     void* const* outputs, void* workspace, cudaStream_t stream) noexcept {
  try {
    // the shapes first (no CUDA call), then the device, then the launch
    const int32_t n = nbInputs();
    Dims dims[kMaxInputs];
    DataType types[kMaxInputs];
    for (int32_t i = 0; i < n; ++i) dims[i] = inDesc[i].dims, types[i] = inDesc[i].type;
    if (std::string why = inputsError(dims, n, types); !why.empty()) {
      logError("enqueue: " + why);
      return -1;
    }
    cuda::TreeAttentionParams p = shapeParams(dims, paged(), types[0], attrs_.getFloat("scale"));
    p.q = inputs[0];
    p.cache.k = const_cast<void*>(inputs[1]);
    p.cache.v = const_cast<void*>(inputs[2]);
    p.pastLengths = static_cast<int32_t const*>(inputs[3]);
    p.treeLengths = static_cast<int32_t const*>(inputs[4]);
    p.packedMask = static_cast<int32_t const*>(inputs[5]);
    if (paged()) p.cache.blockTable = static_cast<int32_t const*>(inputs[6]);
    p.out = outputs[0];
    std::string why;
    const int sms = std::min(smCount(&why), kWorkspaceSmBound);
    if (sms <= 0) {
      logError("enqueue: " + why);
      return -1;
    }
    // what getWorkspaceSize gave this batch size (at least what the plan for this device needs)
    const size_t bytes = cuda::treeAttentionWorkspaceBytes(p, kWorkspaceSmBound);
    return launched(cuda::launchTreeAttention(p, sms, workspace, bytes, stream));
  } catch (...) {
    logException("enqueue");
    return -1;
  }
}

}  // namespace redrafter::trt
