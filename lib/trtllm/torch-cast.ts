// Float dtype casts with PyTorch's CPU semantics (`tensor.to(dtype)`; the conversions are lib/safetensors.ts's), so
// converted weights are bit-identical to what TensorRT-LLM's Python converter writes:
//   float32 -> float16:  round to nearest even, overflow to inf, NaN -> sign | 0x7E00 (c10::Half)
//   float32 -> bfloat16: round to nearest even, NaN -> 0x7FC0 (c10::BFloat16, sign dropped)
//   float16/bfloat16/float64 -> other dtypes go through float32 (as c10 does), float16/bfloat16 -> float32 is exact.
import { bf16BitsToF32, f16BitsToF32, f32ToBf16Bits, f32ToF16Bits, type SafetensorsDType } from '../safetensors.js';

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
      case 'F16': v = f16BitsToF32(src.getUint16(k * 2, true)); break;
      case 'BF16': v = bf16BitsToF32(src.getUint16(k * 2, true)); break;
      default: v = Math.fround(src.getFloat64(k * 8, true)); break;
    }
    switch (to) {
      case 'F32': dst.setFloat32(k * 4, v, true); break;
      case 'F16': dst.setUint16(k * 2, f32ToF16Bits(v), true); break;
      case 'BF16': dst.setUint16(k * 2, f32ToBf16Bits(v), true); break;
      default: dst.setFloat64(k * 8, v, true); break;
    }
  }
  return out;
}
