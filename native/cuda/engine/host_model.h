// The one place the CUDA engine names the shared model room (native/model: model weights, half-precision
// conversions, dequantisation, the drafter's weight layout and directory reader) and the tensor vocabulary
// (native/core/tensor.h).
// Nothing of the CPU engine is used by the CUDA engine.
#pragma once

#include "core/tensor.h"
#include "model/dequantize.h"
#include "model/drafter_file.h"
#include "model/drafter_weights.h"
#include "model/half.h"
#include "model/weights.h"

namespace redrafter::cuda::engine {

using model::DrafterConfig;
using model::DrafterWeights;
using model::LayerWeights;
using model::LoadOptions;
using model::ModelConfig;
using model::ModelWeights;
using redrafter::TensorView;
using HostDType = redrafter::DType;
using model::bf16ToF32;
using model::checkDrafterMatchesModel;
using model::drafterTensorSpecs;
using model::validateDrafterConfig;
using model::readDrafterDirectory;
using model::dequantizeRow;
using model::f32ToBf16;
using model::f32ToFp16;
using model::fp16ToF32;
using model::loadModelWeights;

}  // namespace redrafter::cuda::engine
