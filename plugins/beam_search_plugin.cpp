// RedrafterBeamSearch: the drafter's fused beam-search step (Apple's logit processing + top-width over
// width*vocab). Inputs: logits [batch, width, vocab] float32, scores [batch, width] float32.
// Outputs: scores [batch, width] float32, parent beam [batch, width] int32, token [batch, width] int32.
// Attributes: topK (int32, default 50), firstStep (int32 0/1: only beam 0 is expanded).
#include "beam_search_plugin.h"

#include <cuda_runtime_api.h>

#include "cuda/beam_search.h"

namespace redrafter::trt {

BeamSearchPlugin::BeamSearchPlugin() {
  attrs_.addInt("topK", 50);
  attrs_.addInt("firstStep", 0);
}

IPluginV3* BeamSearchPlugin::clone() noexcept {
  auto* p = new (std::nothrow) BeamSearchPlugin(*this);
  return p;
}

int32_t BeamSearchPlugin::getOutputDataTypes(DataType* out, int32_t nbOutputs, DataType const*, int32_t) const noexcept {
  if (nbOutputs != 3) return -1;
  out[0] = DataType::kFLOAT;
  out[1] = DataType::kINT32;
  out[2] = DataType::kINT32;
  return 0;
}

int32_t BeamSearchPlugin::getOutputShapes(DimsExprs const* in, int32_t nbInputs, DimsExprs const*, int32_t,
                                          DimsExprs* out, int32_t nbOutputs, IExprBuilder&) noexcept {
  if (nbInputs != 2 || nbOutputs != 3 || in[0].nbDims != 3) return -1;
  for (int i = 0; i < 3; ++i) {
    out[i].nbDims = 2;
    out[i].d[0] = in[0].d[0];  // batch
    out[i].d[1] = in[0].d[1];  // width
  }
  return 0;
}

bool BeamSearchPlugin::supportsFormatCombination(int32_t pos, DynamicPluginTensorDesc const* inOut, int32_t,
                                                 int32_t) noexcept {
  PluginTensorDesc const& d = inOut[pos].desc;
  if (!isLinear(d)) return false;
  return pos <= 2 ? d.type == DataType::kFLOAT : d.type == DataType::kINT32;
}

size_t BeamSearchPlugin::getWorkspaceSize(DynamicPluginTensorDesc const* in, int32_t, DynamicPluginTensorDesc const*,
                                          int32_t) const noexcept {
  Dims const& m = in[0].max;
  return cuda::beamSearchWorkspaceBytes(static_cast<int>(m.d[0]), static_cast<int>(m.d[1]), static_cast<int>(m.d[2]),
                                        attrs_.getInt("topK"));
}

int32_t BeamSearchPlugin::enqueue(PluginTensorDesc const* inDesc, PluginTensorDesc const*, void const* const* inputs,
                                  void* const* outputs, void* workspace, cudaStream_t stream) noexcept {
  Dims const& d = inDesc[0].dims;
  cuda::BeamSearchParams p;
  p.logits = static_cast<float const*>(inputs[0]);
  p.scores = static_cast<float const*>(inputs[1]);
  p.batch = static_cast<int>(d.d[0]);
  p.width = static_cast<int>(d.d[1]);
  p.vocab = static_cast<int>(d.d[2]);
  p.topK = attrs_.getInt("topK");
  p.firstStep = attrs_.getInt("firstStep") != 0;
  p.outScores = static_cast<float*>(outputs[0]);
  p.outParent = static_cast<int32_t*>(outputs[1]);
  p.outToken = static_cast<int32_t*>(outputs[2]);
  // TensorRT's workspace is scratch: clear the kernel's completion counters each time
  if (cudaMemsetAsync(workspace, 0, cuda::beamSearchCounterBytes(p.batch, p.width), stream) != cudaSuccess) return -1;
  const size_t bytes = cuda::beamSearchWorkspaceBytes(p.batch, p.width, p.vocab, p.topK);
  return cuda::launchBeamSearchStep(p, workspace, bytes, stream) == cudaSuccess ? 0 : -1;
}

}  // namespace redrafter::trt
