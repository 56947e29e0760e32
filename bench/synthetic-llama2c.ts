// A llama2.c version-0 checkpoint (float32) with seeded random weights, for benchmarks that need a model big
// enough to be bound by memory bandwidth. Layout as llama2.c's export: header of 7 int32 (dim, hidden_dim,
// n_layers, n_heads, n_kv_heads, vocab_size (positive: shared classifier), seq_len), then the tensors.
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

/** Writes the checkpoint to `path` (values ~ uniform, scaled by 1/sqrt(fan-in); norms 1). Returns its bytes. */
export function writeSyntheticLlama2c(path: string, s: SyntheticShape, seed = 1): number {
  const headSize = s.dim / s.nHeads;
  const kvDim = headSize * s.nKvHeads;
  let state = (seed >>> 0) || 1;
  const fd = openSync(path, 'w');
  let bytes = 0;
  const write = (buf: Uint8Array) => {
    writeSync(fd, buf);
    bytes += buf.byteLength;
  };
  try {
    write(new Uint8Array(Int32Array.from([s.dim, s.hiddenDim, s.nLayers, s.nHeads, s.nKvHeads, s.vocabSize, s.seqLen]).buffer));
    // A tensor of `count` random values in chunks; xorshift32 -> uniform(-a, a) with a = sqrt(3)/sqrt(fanIn).
    const random = (count: number, fanIn: number) => {
      const a = Math.sqrt(3 / fanIn);
      const chunk = new Float32Array(1 << 20);
      for (let done = 0; done < count; done += chunk.length) {
        const n = Math.min(chunk.length, count - done);
        for (let i = 0; i < n; ++i) {
          state ^= state << 13;
          state ^= state >>> 17;
          state ^= state << 5;
          chunk[i] = ((state >>> 0) / 4294967296 * 2 - 1) * a;
        }
        write(new Uint8Array(chunk.buffer, 0, n * 4));
      }
    };
    const ones = (count: number) => write(new Uint8Array(new Float32Array(count).fill(1).buffer));
    random(s.vocabSize * s.dim, 1);                     // token embedding [vocab, dim]
    ones(s.nLayers * s.dim);                            // rms_att [L, dim]
    random(s.nLayers * s.dim * s.dim, s.dim);           // wq [L, dim, dim]
    random(s.nLayers * kvDim * s.dim, s.dim);           // wk [L, kvDim, dim]
    random(s.nLayers * kvDim * s.dim, s.dim);           // wv [L, kvDim, dim]
    random(s.nLayers * s.dim * s.dim, s.dim);           // wo [L, dim, dim]
    ones(s.nLayers * s.dim);                            // rms_ffn [L, dim]
    random(s.nLayers * s.hiddenDim * s.dim, s.dim);     // w1 [L, hidden, dim]
    random(s.nLayers * s.dim * s.hiddenDim, s.hiddenDim); // w2 [L, dim, hidden]
    random(s.nLayers * s.hiddenDim * s.dim, s.dim);     // w3 [L, hidden, dim]
    ones(s.dim);                                        // rms_final [dim]
    write(new Uint8Array(s.seqLen * headSize * 4));     // legacy freq_cis_real/imag [seq_len, head_size/2] x 2
  } finally {
    closeSync(fd);
  }
  return bytes;
}
