// Compile-time switches for the run-time-selected SIMD kernels: the x86 AVX2/AVX-512 code is compiled with
// per-function target attributes (GCC/Clang), so no global -m flags are needed and the portable code stays baseline.
#pragma once

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#define REDRAFTER_X86_SIMD 1
#define REDRAFTER_TARGET_AVX2 __attribute__((target("avx2,fma,f16c")))
#define REDRAFTER_TARGET_AVX512 __attribute__((target("avx512f,avx2,fma,f16c")))
// AVX-512 with byte/word integer instructions and VNNI (Cascade Lake, Ice Lake, Zen 4 and later; checked at run time)
#define REDRAFTER_TARGET_AVX512VNNI __attribute__((target("avx512f,avx512bw,avx512vnni,avx2,fma,f16c")))
#else
#define REDRAFTER_X86_SIMD 0
#endif

// Unrolls the next loop completely: for a tile's loops over its constant panel and token counts. Without it GCC 12
// left some of them rolled, kept the accumulator array in memory and stored each accumulator back after its FMA
// inside the k loop (the AVX2 8-row tiles 4 x 1, 4 x 2 and 3 x 4: one store per FMA). TinyLlama-shape f16 model,
// AVX2, 2 threads: the forward of 4 tokens went from 1.44-1.51x the one-token forward to 1.05-1.20x
// (bench/RESULTS.md, fifth round).
// REDRAFTER_UNROLL_2 unrolls it twice only: a loop that GCC would unroll completely by itself and then run out of
// registers (the Q8_0 integer tile's 8 column groups: 23 spills and reloads per block, none with 2).
#if defined(__clang__)
#define REDRAFTER_UNROLL _Pragma("unroll")
#define REDRAFTER_UNROLL_2 _Pragma("unroll 2")
#elif defined(__GNUC__)
#define REDRAFTER_UNROLL _Pragma("GCC unroll 16")
#define REDRAFTER_UNROLL_2 _Pragma("GCC unroll 2")
#else
#define REDRAFTER_UNROLL
#define REDRAFTER_UNROLL_2
#endif
