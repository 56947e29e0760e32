#pragma once
#include "plugin_base.h"

namespace redrafter::trt {

// RedrafterBuildTree: prefix dedup, packing, positions, parents, unpacker and the packed tree mask.
// Input: beams [batch, width, length] int32. Outputs (int32), with C = width*length:
// lengths [batch], tokens [batch, C], beamTokenIndex [batch, C], positionOffsets [batch, C], parents [batch, C],
// unpacker [batch, width, length], packedMask [batch, C, ceil(C/32)]. No attributes.
class BuildTreePlugin : public PluginBase {
 public:
  BuildTreePlugin() = default;
  AsciiChar const* getPluginName() const noexcept override { return "RedrafterBuildTree"; }
  IPluginV3* clone() noexcept override;
  int32_t getNbOutputs() const noexcept override { return 7; }
  int32_t getOutputDataTypes(DataType* out, int32_t nbOutputs, DataType const* in, int32_t nbInputs) const noexcept override;
  int32_t getOutputShapes(DimsExprs const* in, int32_t nbInputs, DimsExprs const* shapeIn, int32_t nbShapeIn,
                          DimsExprs* out, int32_t nbOutputs, IExprBuilder& expr) noexcept override;
  bool supportsFormatCombination(int32_t pos, DynamicPluginTensorDesc const* inOut, int32_t nbInputs,
                                 int32_t nbOutputs) noexcept override;
  size_t getWorkspaceSize(DynamicPluginTensorDesc const*, int32_t, DynamicPluginTensorDesc const*,
                          int32_t) const noexcept override {
    return 0;
  }
  int32_t enqueue(PluginTensorDesc const* inDesc, PluginTensorDesc const* outDesc, void const* const* inputs,
                  void* const* outputs, void* workspace, cudaStream_t stream) noexcept override;
  std::vector<TensorSpec> const& inputSpecs() const override {
    static const std::vector<TensorSpec> kSpecs = {{"beams", 3, "[batch, width, length]"}};
    return kSpecs;
  }

 protected:
  std::string shapeError(Dims const* in, DataType const* types) const override;
};

}  // namespace redrafter::trt
