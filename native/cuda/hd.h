// The per-element logic of the kernels is written once, as functions that both nvcc (device and host) and
// plain g++ (the CPU unit tests) compile. RD_HD marks them; it is empty outside nvcc.
#pragma once

#if defined(__CUDACC__)
#define RD_HD __host__ __device__ __forceinline__
#else
#define RD_HD inline
#endif
