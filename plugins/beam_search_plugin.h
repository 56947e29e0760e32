#pragma once
#include "cuda/beam_search.h"
#include "plugin_base.h"

namespace redrafter::trt {

// RedrafterBeamSearch: the drafter's fused beam-search step (Apple's logit processing + top-width over
// width*vocab). Inputs: logits [batch, width, vocab] float32, scores [batch, width] float32.
// Outputs: scores [batch, width] float32, parent beam [batch, width] int32, token [batch, width] int32.
// Attributes: topK (int32 1..64, default 50; at least width), firstStep (int32 0/1: only beam 0 is expanded).
// The kernel variant is resolved in onShapeChange (its automatic choice queries cluster occupancy once per device),
// so enqueue makes no occupancy query and can be captured in a CUDA graph.
class BeamSearchPlugin : public PluginBase {
 public:
  BeamSearchPlugin();
  AsciiChar const* getPluginName() const noexcept override { return "RedrafterBeamSearch"; }
  IPluginV3* clone() noexcept override;
  int32_t getNbOutputs() const noexcept override { return 3; }
  int32_t getOutputDataTypes(DataType* out, int32_t nbOutputs, DataType const* in, int32_t nbInputs) const noexcept override;
  int32_t getOutputShapes(DimsExprs const* in, int32_t nbInputs, DimsExprs const* shapeIn, int32_t nbShapeIn,
                          DimsExprs* out, int32_t nbOutputs, IExprBuilder& expr) noexcept override;
  bool supportsFormatCombination(int32_t pos, DynamicPluginTensorDesc const* inOut, int32_t nbInputs,
                                 int32_t nbOutputs) noexcept override;
  size_t getWorkspaceSize(DynamicPluginTensorDesc const* in, int32_t nbInputs, DynamicPluginTensorDesc const* out,
                          int32_t nbOutputs) const noexcept override;
  int32_t enqueue(PluginTensorDesc const* inDesc, PluginTensorDesc const* outDesc, void const* const* inputs,
                  void* const* outputs, void* workspace, cudaStream_t stream) noexcept override;
  std::vector<TensorSpec> const& inputSpecs() const override;

  // The variant enqueue runs for these logits dims (kAuto: none resolved for them yet, the launcher resolves).
  cuda::BeamSearchVariant variantFor(Dims const& logits) const;

 protected:
  std::string shapeError(Dims const* in, DataType const* types) const override;
  std::string boundError(Dims const* in) const override;
  std::string prepare(Dims const* in) override;

 private:
  cuda::BeamSearchParams shapeParams(Dims const& logits) const;
  cuda::BeamSearchVariant variant_ = cuda::BeamSearchVariant::kAuto;
  int64_t variantDims_[3] = {-1, -1, -1};  // the logits dims variant_ was resolved for
};

}  // namespace redrafter::trt
