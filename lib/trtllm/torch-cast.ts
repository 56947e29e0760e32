// Float dtype casts with PyTorch's CPU semantics (`tensor.to(dtype)`), so converted weights are bit-identical to
// what TensorRT-LLM's Python converter writes:
//   float32 -> float16:  round to nearest even, overflow to inf, NaN -> sign | 0x7E00 (c10::Half)
//   float32 -> bfloat16: round to nearest even, NaN -> 0x7FC0 (c10::BFloat16, sign dropped)
//   float16/bfloat16/float64 -> other dtypes go through float32 (as c10 does), float16/bfloat16 -> float32 is exact.
import type { SafetensorsDType } from '../safetensors.js';

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

export function f32ToHalfBits(value: number): number {
  f32[0] = value;
  const x = u32[0]!;
  const sign = (x >>> 16) & 0x8000;
  const abs = x & 0x7fffffff;
  if (abs > 0x7f800000) return sign | 0x7e00;  // NaN
  const exp = abs >>> 23;
  const mant = abs & 0x7fffff;
  const e = exp - 112;  // rebias 127 -> 15
  if (e >= 31) return sign | 0x7c00;  // overflow (and inf)
  if (e <= 0) {
    if (e < -10) return sign;  // below half the smallest subnormal: +-0
    const m = mant | 0x800000;
    const shift = 14 - e;
    let h = m >>> shift;
    const rem = m & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    if (rem > halfway || (rem === halfway && (h & 1) === 1)) h++;
    return sign | h;
  }
  let h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (h & 1) === 1)) h++;  // may carry into the exponent (-> inf): correct
  return sign | h;
}

export function f32ToBf16Bits(value: number): number {
  f32[0] = value;
  const x = u32[0]!;
  if ((x & 0x7fffffff) > 0x7f800000) return 0x7fc0;
  return ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff;
}

export function halfBitsToF32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 31) return mant ? NaN : sign * Infinity;
  return sign * (1024 + mant) * 2 ** (exp - 25);
}

export function bf16BitsToF32(b: number): number {
  u32[0] = (b << 16) >>> 0;
  return f32[0]!;
}

/** The element size of the float dtypes casts accept. */
export const castableBytes: Partial<Record<SafetensorsDType, number>> = { F32: 4, F16: 2, BF16: 2, F64: 8 };

/**
 * Casts little-endian `bytes` of `from` into a new little-endian buffer of `to` (the same bytes, copied, when the
 * dtypes match: PyTorch's `.to()` is then a no-op).
 */
export function castBytes(bytes: Uint8Array, from: SafetensorsDType, to: SafetensorsDType): Uint8Array {
  if (from === to) return bytes.slice();
  const inSize = castableBytes[from];
  const outSize = castableBytes[to];
  if (!inSize || !outSize) throw new Error(`cannot cast ${from} to ${to}`);
  const n = bytes.byteLength / inSize;
  const src = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Uint8Array(n * outSize);
  const dst = new DataView(out.buffer);
  for (let k = 0; k < n; k++) {
    let v: number;
    switch (from) {
      case 'F32': v = src.getFloat32(k * 4, true); break;
      case 'F16': v = halfBitsToF32(src.getUint16(k * 2, true)); break;
      case 'BF16': v = bf16BitsToF32(src.getUint16(k * 2, true)); break;
      default: v = Math.fround(src.getFloat64(k * 8, true)); break;
    }
    switch (to) {
      case 'F32': dst.setFloat32(k * 4, v, true); break;
      case 'F16': dst.setUint16(k * 2, f32ToHalfBits(v), true); break;
      case 'BF16': dst.setUint16(k * 2, f32ToBf16Bits(v), true); break;
      default: dst.setFloat64(k * 8, v, true); break;
    }
  }
  return out;
}
