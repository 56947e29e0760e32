// The one place the CUDA engine includes the shared model-reading code (model weights and their tensor vocabulary,
// half-precision conversions, dequantisation, the drafter's weight layout). Those files live under native/cpu today
// and are moving to the shared rooms (native/model, native/core); only this header names their paths. Nothing of the
// CPU engine's forward pass or kernels is used by the CUDA engine.
#pragma once

#include "cpu/drafter/drafter_weights.h"
#include "cpu/model/dequantize.h"
#include "cpu/model/half.h"
#include "cpu/model/weights.h"

namespace redrafter::cuda::engine {

using cpu::DrafterConfig;
using cpu::DrafterWeights;
using cpu::LayerWeights;
using cpu::LoadOptions;
using cpu::ModelConfig;
using cpu::ModelWeights;
using cpu::TensorView;
using HostDType = cpu::DType;
using cpu::bf16ToF32;
using cpu::checkDrafterMatchesModel;
using cpu::drafterTensorSpecs;
using cpu::validateDrafterConfig;
using cpu::dequantizeRow;
using cpu::f32ToBf16;
using cpu::f32ToFp16;
using cpu::fp16ToF32;
using cpu::loadModelWeights;

}  // namespace redrafter::cuda::engine
