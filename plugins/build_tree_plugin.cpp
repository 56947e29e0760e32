#include "build_tree_plugin.h"

#include "cuda/build_tree.h"

namespace redrafter::trt {

IPluginV3* BuildTreePlugin::clone() noexcept { return new (std::nothrow) BuildTreePlugin(*this); }

int32_t BuildTreePlugin::getOutputDataTypes(DataType* out, int32_t nbOutputs, DataType const*, int32_t) const noexcept {
  if (nbOutputs != 7) return -1;
  for (int i = 0; i < 7; ++i) out[i] = DataType::kINT32;
  return 0;
}

int32_t BuildTreePlugin::getOutputShapes(DimsExprs const* in, int32_t nbInputs, DimsExprs const*, int32_t,
                                         DimsExprs* out, int32_t nbOutputs, IExprBuilder& expr) noexcept {
  if (nbInputs != 1 || nbOutputs != 7 || in[0].nbDims != 3) return -1;
  IDimensionExpr const* batch = in[0].d[0];
  IDimensionExpr const* capacity = expr.operation(DimensionOperation::kPROD, *in[0].d[1], *in[0].d[2]);
  IDimensionExpr const* words = expr.operation(DimensionOperation::kCEIL_DIV, *capacity, *expr.constant(32));
  out[0].nbDims = 1;
  out[0].d[0] = batch;
  for (int i = 1; i <= 4; ++i) {
    out[i].nbDims = 2;
    out[i].d[0] = batch;
    out[i].d[1] = capacity;
  }
  out[5] = in[0];
  out[6].nbDims = 3;
  out[6].d[0] = batch;
  out[6].d[1] = capacity;
  out[6].d[2] = words;
  return 0;
}

bool BuildTreePlugin::supportsFormatCombination(int32_t pos, DynamicPluginTensorDesc const* inOut, int32_t,
                                                int32_t) noexcept {
  return isLinear(inOut[pos].desc) && inOut[pos].desc.type == DataType::kINT32;
}

int32_t BuildTreePlugin::enqueue(PluginTensorDesc const* inDesc, PluginTensorDesc const*, void const* const* inputs,
                                 void* const* outputs, void*, cudaStream_t stream) noexcept {
  Dims const& d = inDesc[0].dims;
  cuda::BuildTreeParams p;
  p.beams = static_cast<int32_t const*>(inputs[0]);
  p.batch = static_cast<int>(d.d[0]);
  p.width = static_cast<int>(d.d[1]);
  p.length = static_cast<int>(d.d[2]);
  p.capacity = p.width * p.length;
  p.lengths = static_cast<int32_t*>(outputs[0]);
  p.tokens = static_cast<int32_t*>(outputs[1]);
  p.beamTokenIndex = static_cast<int32_t*>(outputs[2]);
  p.positionOffsets = static_cast<int32_t*>(outputs[3]);
  p.parents = static_cast<int32_t*>(outputs[4]);
  p.unpacker = static_cast<int32_t*>(outputs[5]);
  p.packedMask = static_cast<int32_t*>(outputs[6]);
  return cuda::launchBuildTree(p, stream) == cudaSuccess ? 0 : -1;
}

}  // namespace redrafter::trt
