#pragma once
#include "plugin_base.h"

namespace redrafter::trt {

class BeamSearchPlugin : public PluginBase {
 public:
  BeamSearchPlugin();
  bool readAttributes(PluginFieldCollection const* fc) {
    return attrs_.read(fc) && attrs_.getInt("topK") >= 1 && attrs_.getInt("topK") <= 64;
  }
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
};

}  // namespace redrafter::trt
