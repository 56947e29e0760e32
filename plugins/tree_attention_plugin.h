#pragma once
#include "plugin_base.h"

namespace redrafter::trt {

// RedrafterTreeAttention: the packed tree tokens attend to the KV cache plus the packed intra-tree mask.
// Inputs: q [batch, T, Hq, D] fp16|bf16; k, v: contiguous [batch, Hkv, capacity, D] or paged pools
// [numBlocks, Hkv, blockSize, D] (same type as q); pastLengths [batch] int32; treeLengths [batch] int32;
// packedMask [batch, T, ceil(T/32)] int32; paged only: blockTable [batch, maxBlocksPerSeq] int32.
// Output: [batch, T, Hq, D] (type of q). Attributes: paged (int32 0/1), scale (float32, finite, >= 0; 0: 1/sqrt(D)).
class TreeAttentionPlugin : public PluginBase {
 public:
  TreeAttentionPlugin();
  AsciiChar const* getPluginName() const noexcept override { return "RedrafterTreeAttention"; }
  IPluginV3* clone() noexcept override;
  int32_t getNbOutputs() const noexcept override { return 1; }
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

 protected:
  std::string shapeError(Dims const* in, DataType const* types) const override;

 private:
  bool paged() const { return attrs_.getInt("paged") != 0; }
  int nbInputs() const { return paged() ? 7 : 6; }
};

}  // namespace redrafter::trt
