// Internal: the cluster beam-search kernel's launcher (beam_search_cluster.cu), called by launchBeamSearchStep.
#pragma once
#include <cuda_runtime_api.h>

#include "beam_search.h"

namespace redrafter::cuda::detail {

// Whether the cluster kernel serves this shape: the vocabulary fits one cluster (clusterPlan), vocab >= width,
// and for the in-kernel merge at most 1024 (beam, rank) candidates per sequence.
bool clusterVariantFits(const BeamSearchParams& p, bool mergeHere, int minItems);

// How many row clusters can be resident at once (cudaOccupancyMaxActiveClusters; -1 on error) and the blocks per
// row, for the GPU check's report (a step needs batch * beams clusters in one wave).
int clusterMaxActive(const BeamSearchParams& p, int minItems, int* blocksPerRow);

// The cluster kernel (sm_90 only); mergeKernel: the sequence merge in a second kernel, pdl: launched as a
// programmatic dependent launch; minItems: logits per thread at least (16: 8 blocks per row at V 32000, 32: 4).
// The workspace is launchBeamSearchStep's (its batch counters must be zero).
cudaError_t launchClusterBeamSearch(const BeamSearchParams& p, void* workspace, bool mergeKernel, bool pdl,
                                    int minItems, cudaStream_t stream);

}  // namespace redrafter::cuda::detail
