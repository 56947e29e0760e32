// RedrafterBuildTree (build_tree_plugin.h): tensors, checks and enqueue.
#include "build_tree_plugin.h"

#include <climits>

#include "cuda/build_tree.h"

namespace redrafter::trt {

namespace {

cuda::BuildTreeParams shapeParams(Dims const& beams) {
  cuda::BuildTreeParams p;
  p.batch = static_cast<int>(beams.d[0]);
  p.width = static_cast<int>(beams.d[1]);
  p.length = static_cast<int>(beams.d[2]);
  p.capacity = p.width * p.length;
  return p;
}

const std::vector<FieldOrigin> kOrigins = {{"batch", "beams dimension 0"},
                                           {"width", "beams dimension 1"},
                                           {"length", "beams dimension 2"},
                                           {"width * length", "beams dimension 1 times dimension 2"},
                                           {"capacity", "beams dimension 1 times dimension 2"}};

}  // namespace

IPluginV3* BuildTreePlugin::clone() noexcept { return cloneAs<BuildTreePlugin>(); }

std::string BuildTreePlugin::shapeError(Dims const* in, DataType const*) const {
  // capacity = width * length must fit an int before the launcher's checks see it
  if (in[0].d[1] * in[0].d[2] > INT32_MAX)
    return "BuildTreeParams.width * length (" + std::to_string(in[0].d[1] * in[0].d[2]) + ") must be at most " +
           std::to_string(cuda::kBuildTreeMaxTokens) + " [width * length is beams dimension 1 times dimension 2]";
  return withOrigin(cuda::buildTreeShapeError(shapeParams(in[0])), kOrigins);
}

int32_t BuildTreePlugin::getOutputDataTypes(DataType* out, int32_t nbOutputs, DataType const*, int32_t) const noexcept {
  if (nbOutputs != 7) {
    logError("getOutputDataTypes: expects 7 outputs, got " + std::to_string(nbOutputs));
    return -1;
  }
  for (int i = 0; i < 7; ++i) out[i] = DataType::kINT32;
  return 0;
}

int32_t BuildTreePlugin::getOutputShapes(DimsExprs const* in, int32_t nbInputs, DimsExprs const*, int32_t,
                                         DimsExprs* out, int32_t nbOutputs, IExprBuilder& expr) noexcept {
  if (!checkExprs("getOutputShapes", in, nbInputs, nbOutputs)) return -1;
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
  try {
    const DataType type = inDesc[0].type;
    if (std::string why = inputsError(&inDesc[0].dims, 1, &type); !why.empty()) {
      logError("enqueue: " + why);
      return -1;
    }
    cuda::BuildTreeParams p = shapeParams(inDesc[0].dims);
    p.beams = static_cast<int32_t const*>(inputs[0]);
    p.lengths = static_cast<int32_t*>(outputs[0]);
    p.tokens = static_cast<int32_t*>(outputs[1]);
    p.beamTokenIndex = static_cast<int32_t*>(outputs[2]);
    p.positionOffsets = static_cast<int32_t*>(outputs[3]);
    p.parents = static_cast<int32_t*>(outputs[4]);
    p.unpacker = static_cast<int32_t*>(outputs[5]);
    p.packedMask = static_cast<int32_t*>(outputs[6]);
    return launched(cuda::launchBuildTree(p, stream));
  } catch (...) {
    logException("enqueue");
    return -1;
  }
}

}  // namespace redrafter::trt
