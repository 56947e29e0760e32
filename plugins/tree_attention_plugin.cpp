#include "tree_attention_plugin.h"

#include <cuda_runtime_api.h>

#include <algorithm>
#include <cmath>

#include "cuda/tree_attention.h"

namespace redrafter::trt {

namespace {

int smCount() {
  int dev = 0, n = 0;
  if (cudaGetDevice(&dev) != cudaSuccess || cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, dev) != cudaSuccess)
    return 0;
  return n;
}

// Launch parameters from the tensor shapes (pointers left null).
cuda::TreeAttentionParams shapeParams(Dims const& q, Dims const& k, Dims const* table, bool paged, DataType type,
                                      float scale) {
  cuda::TreeAttentionParams p;
  p.dtype = type == DataType::kBF16 ? cuda::DType::kBFloat16 : cuda::DType::kHalf;
  p.batch = static_cast<int>(q.d[0]);
  p.treeTokens = static_cast<int>(q.d[1]);
  p.qHeads = static_cast<int>(q.d[2]);
  p.cache.headDim = static_cast<int>(q.d[3]);
  p.cache.kvHeads = static_cast<int>(k.d[1]);
  p.scale = scale > 0.f ? scale : 1.f / std::sqrt(static_cast<float>(p.cache.headDim));
  if (paged) {
    p.cache.layout = cuda::KvLayout::kPaged;
    p.cache.numBlocks = static_cast<int>(k.d[0]);
    p.cache.blockSize = static_cast<int>(k.d[2]);
    p.cache.maxBlocksPerSeq = table ? static_cast<int>(table->d[1]) : 0;
    p.maxPastLength = std::max(0, p.cache.maxBlocksPerSeq * p.cache.blockSize - p.treeTokens);
  } else {
    p.cache.layout = cuda::KvLayout::kContiguous;
    p.cache.capacity = static_cast<int>(k.d[2]);
    p.maxPastLength = std::max(0, p.cache.capacity - p.treeTokens);
  }
  return p;
}

}  // namespace

TreeAttentionPlugin::TreeAttentionPlugin() {
  attrs_.addInt("paged", 0);
  attrs_.addFloat("scale", 0.f);
}

IPluginV3* TreeAttentionPlugin::clone() noexcept { return new (std::nothrow) TreeAttentionPlugin(*this); }

int32_t TreeAttentionPlugin::getOutputDataTypes(DataType* out, int32_t nbOutputs, DataType const* in,
                                                int32_t nbIn) const noexcept {
  if (nbOutputs != 1 || nbIn != nbInputs()) return -1;
  out[0] = in[0];
  return 0;
}

int32_t TreeAttentionPlugin::getOutputShapes(DimsExprs const* in, int32_t nbIn, DimsExprs const*, int32_t,
                                             DimsExprs* out, int32_t nbOutputs, IExprBuilder&) noexcept {
  if (nbIn != nbInputs() || nbOutputs != 1 || in[0].nbDims != 4) return -1;
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
  const bool paged = attrs_.getInt("paged") != 0;
  const int sms = smCount();
  if (sms <= 0 || nbIn != nbInputs()) return 0;
  // the split plan depends on the batch: take the largest workspace over the batch sizes the profile allows
  Dims q = in[0].max, k = in[1].max;
  Dims const* table = paged ? &in[6].max : nullptr;
  size_t most = 0;
  const int64_t lo = std::max<int64_t>(1, in[0].min.d[0]), hi = std::max<int64_t>(lo, q.d[0]);
  for (int64_t b = lo; b <= hi; ++b) {
    q.d[0] = b;
    cuda::TreeAttentionParams p = shapeParams(q, k, table, paged, in[0].desc.type, attrs_.getFloat("scale"));
    // non-null placeholders: only the shapes matter for the size
    static const char kDummy[16] = {};
    p.q = p.cache.k = p.cache.v = p.out = const_cast<char*>(kDummy);
    p.pastLengths = p.treeLengths = p.packedMask = p.cache.blockTable = reinterpret_cast<int32_t const*>(kDummy);
    most = std::max(most, cuda::treeAttentionWorkspaceBytes(p, sms));
  }
  return most;
}

int32_t TreeAttentionPlugin::enqueue(PluginTensorDesc const* inDesc, PluginTensorDesc const*, void const* const* inputs,
                                     void* const* outputs, void* workspace, cudaStream_t stream) noexcept {
  const bool paged = attrs_.getInt("paged") != 0;
  cuda::TreeAttentionParams p = shapeParams(inDesc[0].dims, inDesc[1].dims, paged ? &inDesc[6].dims : nullptr, paged,
                                            inDesc[0].type, attrs_.getFloat("scale"));
  p.q = inputs[0];
  p.cache.k = const_cast<void*>(inputs[1]);
  p.cache.v = const_cast<void*>(inputs[2]);
  p.pastLengths = static_cast<int32_t const*>(inputs[3]);
  p.treeLengths = static_cast<int32_t const*>(inputs[4]);
  p.packedMask = static_cast<int32_t const*>(inputs[5]);
  if (paged) p.cache.blockTable = static_cast<int32_t const*>(inputs[6]);
  p.out = outputs[0];
  const int sms = smCount();
  const size_t bytes = cuda::treeAttentionWorkspaceBytes(p, sms);
  return cuda::launchTreeAttention(p, sms, workspace, bytes, stream) == cudaSuccess ? 0 : -1;
}

}  // namespace redrafter::trt
