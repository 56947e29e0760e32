// llama2.c checkpoints with seeded random weights, for benchmarks that need a model big enough to be bound by memory
// bandwidth: version 0 (float32; header of 7 int32: dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size
// (positive: shared classifier), seq_len, then the tensors) and version 2 (int8 groups, as runq reads).
import { openSync, writeSync, closeSync } from 'node:fs';

export interface SyntheticShape {
  dim: number;
  hiddenDim: number;
  nLayers: number;
  nHeads: number;
  nKvHeads: number;
  vocabSize: number;
  seqLen: number;
}

/** Parameters (float32 values) the file holds, without the legacy RoPE tables. */
export function parameterCount(s: SyntheticShape): number {
  const kvDim = (s.dim / s.nHeads) * s.nKvHeads;
  const perLayer = 2 * s.dim + 2 * s.dim * s.dim + 2 * kvDim * s.dim + 3 * s.hiddenDim * s.dim;
  return s.vocabSize * s.dim + s.nLayers * perLayer + s.dim;
}

// Writes a file through `body`'s write calls; returns its bytes.
function writeFile(path: string, body: (write: (buf: Uint8Array) => void) => void): number {
  const fd = openSync(path, 'w');
  let bytes = 0;
  try {
    body((buf) => {
      writeSync(fd, buf);
      bytes += buf.byteLength;
    });
  } finally {
    closeSync(fd);
  }
  return bytes;
}

// The weights' values: xorshift32 -> uniform(-a, a), a = sqrt(3 / fanIn), fills `out` (the same stream in both
// formats for one seed).
function uniformSource(seed: number) {
  let state = (seed >>> 0) || 1;
  return (out: Float32Array, fanIn: number) => {
    const a = Math.sqrt(3 / fanIn);
    for (let i = 0; i < out.length; ++i) {
      state ^= state << 13;
      state ^= state >>> 17;
      state ^= state << 5;
      out[i] = ((state >>> 0) / 4294967296 * 2 - 1) * a;
    }
  };
}

const ones = (count: number) => new Uint8Array(new Float32Array(count).fill(1).buffer);

/** Writes the checkpoint to `path` (values ~ uniform, scaled by 1/sqrt(fan-in); norms 1). Returns its bytes. */
export function writeSyntheticLlama2c(path: string, s: SyntheticShape, seed = 1): number {
  const headSize = s.dim / s.nHeads;
  const kvDim = headSize * s.nKvHeads;
  const fill = uniformSource(seed);
  return writeFile(path, (write) => {
    write(new Uint8Array(Int32Array.from([s.dim, s.hiddenDim, s.nLayers, s.nHeads, s.nKvHeads, s.vocabSize, s.seqLen]).buffer));
    const random = (count: number, fanIn: number) => {  // a tensor of `count` random values, in chunks
      const chunk = new Float32Array(1 << 20);
      for (let done = 0; done < count; done += chunk.length) {
        const part = chunk.subarray(0, Math.min(chunk.length, count - done));
        fill(part, fanIn);
        write(new Uint8Array(part.buffer, 0, part.length * 4));
      }
    };
    random(s.vocabSize * s.dim, 1);                     // token embedding [vocab, dim]
    write(ones(s.nLayers * s.dim));                     // rms_att [L, dim]
    random(s.nLayers * s.dim * s.dim, s.dim);           // wq [L, dim, dim]
    random(s.nLayers * kvDim * s.dim, s.dim);           // wk [L, kvDim, dim]
    random(s.nLayers * kvDim * s.dim, s.dim);           // wv [L, kvDim, dim]
    random(s.nLayers * s.dim * s.dim, s.dim);           // wo [L, dim, dim]
    write(ones(s.nLayers * s.dim));                     // rms_ffn [L, dim]
    random(s.nLayers * s.hiddenDim * s.dim, s.dim);     // w1 [L, hidden, dim]
    random(s.nLayers * s.dim * s.hiddenDim, s.hiddenDim); // w2 [L, dim, hidden]
    random(s.nLayers * s.hiddenDim * s.dim, s.dim);     // w3 [L, hidden, dim]
    write(ones(s.dim));                                 // rms_final [dim]
    write(new Uint8Array(s.seqLen * headSize * 4));     // legacy freq_cis_real/imag [seq_len, head_size/2] x 2
  });
}

/**
 * The same shape as a llama2.c version-2 checkpoint (export.py's int8 export, which llama2.c's runq reads): a 256-byte
 * header (magic "ak42", version 2, the 7 int32 of the shape, shared-classifier flag 1, group size), the float32
 * norms (all 1), then each matrix as int8 values followed by one float32 scale per `groupSize` values of the
 * flattened tensor (scale = max |w| / 127 over the group, q = round(w / scale)). Values drawn as
 * writeSyntheticLlama2c's. Returns its bytes.
 */
export function writeSyntheticLlama2cQ8(path: string, s: SyntheticShape, groupSize = 64, seed = 1): number {
  const kvDim = (s.dim / s.nHeads) * s.nKvHeads;
  if (s.dim % groupSize !== 0) throw new Error(`group size ${groupSize} must divide dim ${s.dim}`);
  const fill = uniformSource(seed);
  return writeFile(path, (write) => {
    const header = new DataView(new ArrayBuffer(256));
    header.setUint32(0, 0x616b3432, true);
    header.setInt32(4, 2, true);
    [s.dim, s.hiddenDim, s.nLayers, s.nHeads, s.nKvHeads, s.vocabSize, s.seqLen].forEach((v, i) =>
      header.setInt32(8 + 4 * i, v, true));
    header.setUint8(36, 1);
    header.setInt32(37, groupSize, true);
    write(new Uint8Array(header.buffer));
    write(ones(s.nLayers * s.dim));  // rms_att [L, dim]
    write(ones(s.nLayers * s.dim));  // rms_ffn [L, dim]
    write(ones(s.dim));              // rms_final [dim]
    // `count` matrices of [rows, cols], each quantised as a whole (its groups run over the flattened tensor)
    const matrices = (count: number, rows: number, cols: number) => {
      const n = rows * cols;
      const w = new Float32Array(n), q = new Int8Array(n), scales = new Float32Array(n / groupSize);
      for (let m = 0; m < count; ++m) {
        fill(w, cols);
        for (let g = 0; g < scales.length; ++g) {
          let amax = 0;
          for (let i = g * groupSize; i < (g + 1) * groupSize; ++i) amax = Math.max(amax, Math.abs(w[i]));
          const scale = Math.fround(amax / 127);
          scales[g] = scale;
          for (let i = g * groupSize; i < (g + 1) * groupSize; ++i) q[i] = scale > 0 ? Math.round(w[i] / scale) : 0;
        }
        write(new Uint8Array(q.buffer));
        write(new Uint8Array(scales.buffer));
      }
    };
    matrices(1, s.vocabSize, s.dim);           // token embedding (the classifier too)
    matrices(s.nLayers, s.dim, s.dim);         // wq
    matrices(s.nLayers, kvDim, s.dim);         // wk
    matrices(s.nLayers, kvDim, s.dim);         // wv
    matrices(s.nLayers, s.dim, s.dim);         // wo
    matrices(s.nLayers, s.hiddenDim, s.dim);   // w1
    matrices(s.nLayers, s.dim, s.hiddenDim);   // w2
    matrices(s.nLayers, s.hiddenDim, s.dim);   // w3
  });
}
