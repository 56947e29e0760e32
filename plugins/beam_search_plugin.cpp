// RedrafterBeamSearch (beam_search_plugin.h): tensors, checks, the variant resolved ahead of enqueue, and enqueue.
#include "beam_search_plugin.h"

#include <cuda_runtime_api.h>

namespace redrafter::trt {

namespace {

const std::vector<FieldOrigin> kOrigins = {{"batch", "logits dimension 0"},
                                           {"width", "logits dimension 1"},
                                           {"vocab", "logits dimension 2"},
                                           {"topK", "the attribute topK"}};

// No kernel variant serves these shapes on the current device (beamSearchResolveVariant gave kAuto).
std::string noVariantMessage(cuda::BeamSearchParams const& p) {
  return withOrigin("BeamSearchParams.vocab (" + std::to_string(p.vocab) + ") with topK " + std::to_string(p.topK) +
                        " and width " + std::to_string(p.width) +
                        " has no beam-search kernel on this device (the cluster kernels need sm_90 and vocab <= 131072; "
                        "the chunked one ceil(vocab / 4096) * topK <= 4096)",
                    kOrigins);
}

}  // namespace

BeamSearchPlugin::BeamSearchPlugin() {
  attrs_.addInt("topK", 50, 1, cuda::kBeamSearchMaxTopK, "(kBeamSearchMaxTopK)");
  attrs_.addInt("firstStep", 0, 0, 1);
}

IPluginV3* BeamSearchPlugin::clone() noexcept { return cloneAs<BeamSearchPlugin>(); }

std::vector<TensorSpec> const& BeamSearchPlugin::inputSpecs() const {
  static const std::vector<TensorSpec> kSpecs = {{"logits", 3, "[batch, width, vocab]"}, {"scores", 2, "[batch, width]"}};
  return kSpecs;
}

cuda::BeamSearchParams BeamSearchPlugin::shapeParams(Dims const& logits) const {
  cuda::BeamSearchParams p;
  p.batch = static_cast<int>(logits.d[0]);
  p.width = static_cast<int>(logits.d[1]);
  p.vocab = static_cast<int>(logits.d[2]);
  p.topK = attrs_.getInt("topK");
  p.firstStep = attrs_.getInt("firstStep") != 0;
  return p;
}

std::string BeamSearchPlugin::shapeError(Dims const* in, DataType const*) const {
  for (int j = 0; j < 2; ++j)
    if (in[1].d[j] != in[0].d[j])
      return "scores (input 1) dimension " + std::to_string(j) + " (" + std::to_string(in[1].d[j]) +
             ") must equal logits dimension " + std::to_string(j) + ", " + (j == 0 ? "batch" : "width") + " (" +
             std::to_string(in[0].d[j]) + ")";
  return withOrigin(cuda::beamSearchShapeError(shapeParams(in[0])), kOrigins);
}

std::string BeamSearchPlugin::boundError(Dims const* in) const {
  const cuda::BeamSearchParams p = shapeParams(in[0]);
  return cuda::beamSearchResolveVariant(p) == cuda::BeamSearchVariant::kAuto ? noVariantMessage(p) : std::string();
}

std::string BeamSearchPlugin::prepare(Dims const* in) {
  // the automatic choice queries cluster occupancy (cached per device): here, not in a captured enqueue
  const cuda::BeamSearchParams p = shapeParams(in[0]);
  variant_ = cuda::beamSearchResolveVariant(p);
  for (int j = 0; j < 3; ++j) variantDims_[j] = variant_ == cuda::BeamSearchVariant::kAuto ? -1 : in[0].d[j];
  return variant_ == cuda::BeamSearchVariant::kAuto ? noVariantMessage(p) : std::string();
}

cuda::BeamSearchVariant BeamSearchPlugin::variantFor(Dims const& logits) const {
  for (int j = 0; j < 3; ++j)
    if (logits.nbDims != 3 || logits.d[j] != variantDims_[j]) return cuda::BeamSearchVariant::kAuto;
  return variant_;
}

int32_t BeamSearchPlugin::getOutputDataTypes(DataType* out, int32_t nbOutputs, DataType const*, int32_t) const noexcept {
  if (nbOutputs != 3) {
    logError("getOutputDataTypes: expects 3 outputs, got " + std::to_string(nbOutputs));
    return -1;
  }
  out[0] = DataType::kFLOAT;
  out[1] = DataType::kINT32;
  out[2] = DataType::kINT32;
  return 0;
}

int32_t BeamSearchPlugin::getOutputShapes(DimsExprs const* in, int32_t nbInputs, DimsExprs const*, int32_t,
                                          DimsExprs* out, int32_t nbOutputs, IExprBuilder&) noexcept {
  if (!checkExprs("getOutputShapes", in, nbInputs, nbOutputs)) return -1;
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

size_t BeamSearchPlugin::getWorkspaceSize(DynamicPluginTensorDesc const* in, int32_t nbInputs,
                                          DynamicPluginTensorDesc const*, int32_t) const noexcept {
  if (nbInputs != 2 || in[0].max.nbDims != 3) return 0;  // configurePlugin said why
  Dims const& m = in[0].max;
  return cuda::beamSearchWorkspaceBytes(static_cast<int>(m.d[0]), static_cast<int>(m.d[1]), static_cast<int>(m.d[2]),
                                        attrs_.getInt("topK"));
}

int32_t BeamSearchPlugin::enqueue(PluginTensorDesc const* inDesc, PluginTensorDesc const*, void const* const* inputs,
                                  void* const* outputs, void* workspace, cudaStream_t stream) noexcept {
  try {
    // every check before the first CUDA call
    const Dims dims[2] = {inDesc[0].dims, inDesc[1].dims};
    const DataType types[2] = {inDesc[0].type, inDesc[1].type};
    if (std::string why = inputsError(dims, 2, types); !why.empty()) {
      logError("enqueue: " + why);
      return -1;
    }
    cuda::BeamSearchParams p = shapeParams(dims[0]);
    p.logits = static_cast<float const*>(inputs[0]);
    p.scores = static_cast<float const*>(inputs[1]);
    p.outScores = static_cast<float*>(outputs[0]);
    p.outParent = static_cast<int32_t*>(outputs[1]);
    p.outToken = static_cast<int32_t*>(outputs[2]);
    p.variant = variantFor(dims[0]);  // resolved in onShapeChange: no occupancy query here
    if (!workspace) {
      logError("enqueue: workspace is null (getWorkspaceSize asked for " +
               std::to_string(cuda::beamSearchWorkspaceBytes(p.batch, p.width, p.vocab, p.topK)) + " bytes)");
      return -1;
    }
    // TensorRT's workspace is scratch: clear the kernel's completion counters each time
    const cudaError_t err = cudaMemsetAsync(workspace, 0, cuda::beamSearchCounterBytes(p.batch, p.width), stream);
    if (err != cudaSuccess) {
      logError(std::string("enqueue: cudaMemsetAsync of the workspace counters failed: ") + cudaGetErrorName(err) +
               " (" + cudaGetErrorString(err) + ")");
      return -1;
    }
    const size_t bytes = cuda::beamSearchWorkspaceBytes(p.batch, p.width, p.vocab, p.topK);
    return launched(cuda::launchBeamSearchStep(p, workspace, bytes, stream));
  } catch (...) {
    logException("enqueue");
    return -1;
  }
}

}  // namespace redrafter::trt
