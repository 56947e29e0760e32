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
