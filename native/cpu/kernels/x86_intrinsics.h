// The x86 intrinsics for the kernels' AVX2/AVX-512 functions (compiled with per-function target attributes, simd.h).
// Include it in kernel .cpp files only: it silences two GCC warnings for the rest of the file.
#pragma once
#include "cpu/kernels/simd.h"

#if REDRAFTER_X86_SIMD
#include <immintrin.h>
#if defined(__GNUC__) && !defined(__clang__)
// GCC 12's AVX-512 intrinsic headers trip its own (false) uninitialised-variable warnings.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#endif
