// Internal: the cluster beam-search kernel's launcher (beam_search_cluster.cu), called by launchBeamSearchStep.
#pragma once
#include <cuda_runtime_api.h>

#include "beam_search.h"

namespace redrafter::cuda::detail {

// Whether the cluster kernel serves this shape: the vocabulary fits one cluster (clusterPlan), vocab >= width,
// and for the in-kernel merge at most 1024 (beam, rank) candidates per sequence.
bool clusterVariantFits(const BeamSearchParams& p, bool mergeHere, int minItems);

// The blocks per SM the dense variants' launch bounds ask for (registers <= 65536 / (256 * n), rounded down to 8):
// 16 logits per thread (kClusterDense), 32 (kClusterWideDense). The normal ones: 4 and 2.
constexpr int kClusterDenseMinBlocks16 = 5;
constexpr int kClusterDenseMinBlocks32 = 3;

// How many row clusters can be resident at once (cudaOccupancyMaxActiveClusters; -1 on error) and the blocks per
// row, for the GPU check's report (a step needs batch * beams clusters in one wave); dense: the dense variants'
// kernel instance. The cached form (per device, kernel instance and cluster size) is what kAuto consults.
int clusterMaxActive(const BeamSearchParams& p, int minItems, bool dense, int* blocksPerRow);
int clusterMaxActiveCached(const BeamSearchParams& p, int minItems, bool dense);

// The cluster kernel (sm_90 only); mergeKernel: the sequence merge in a second kernel, pdl: launched as a
// programmatic dependent launch; minItems: logits per thread at least (16: 8 blocks per row at V 32000, 32: 4);
// dense: the instance compiled for more blocks per SM. The workspace is launchBeamSearchStep's (its batch
// counters must be zero).
cudaError_t launchClusterBeamSearch(const BeamSearchParams& p, void* workspace, bool mergeKernel, bool pdl,
                                    int minItems, bool dense, cudaStream_t stream);

}  // namespace redrafter::cuda::detail
