// Random-weight GGUFs at a small shape with a real vocabulary and chat template (helpers/bpe-vocab.ts), written by
// the project's GGUF writer (the benchmark addon): the architectures' tensors as llama.cpp names and shapes them.
import { benchModel, type NativeGgufTensorSpec } from '../../bench/bench-addon.js';
import { bpeFixture, type BpeVocabularyName } from './bpe-vocab.js';
import { rng } from './rng.js';

export type Arch = 'llama' | 'qwen2' | 'qwen3';

export interface RandomShape {
  dim: number;
  hiddenDim: number;
  nLayers: number;
  nHeads: number;
  nKvHeads: number;
  contextLength: number;
  normEps: number;
  ropeTheta: number;
}

export const smallShape: RandomShape = { dim: 64, hiddenDim: 160, nLayers: 2, nHeads: 4, nKvHeads: 2, contextLength: 512, normEps: 1e-6, ropeTheta: 500000 };

export interface RandomModelOptions {
  arch: Arch;
  vocab: BpeVocabularyName;
  /** No output.weight: the classifier is the token embedding. */
  tied: boolean;
  seed: number;
  shape?: RandomShape;
  /** Heads wider than dim / nHeads (attention.key_length). */
  headDim?: number;
  /** A model that answers this token first, always (untied only): every embedding carries +8 in dimension 0, the
   *  layers are scaled down so that it stays the largest, and the classifier's row of this token reads it. */
  favour?: number;
  /** Tensor scale of the layers (default 1). */
  layerScale?: number;
}

/** The tensors of `o`'s architecture: token_embd, output_norm, output (untied), rope_freqs (llama), blk.N.*. */
export function randomModelTensors(o: RandomModelOptions, vocab: number): NativeGgufTensorSpec[] {
  const shape = o.shape ?? smallShape;
  const next = rng(o.seed);
  const headDim = o.headDim ?? shape.dim / shape.nHeads;
  const qDim = headDim * shape.nHeads, kvDim = headDim * shape.nKvHeads;
  const layerScale = o.layerScale ?? (o.favour !== undefined ? 0.05 : 1);
  const t = (name: string, rows: number, cols: number, scale: number, base = 0): NativeGgufTensorSpec => ({
    name, rows, cols,
    produce: () => Float32Array.from({ length: rows * cols }, () => base + scale * (2 * next() - 1)),
  });
  const D = shape.dim, H = shape.hiddenDim;
  const embd = t('token_embd.weight', vocab, D, 1);
  if (o.favour !== undefined) {
    const produce = embd.produce;
    embd.produce = () => {
      const e = produce();
      for (let i = 0; i < vocab; ++i) e[i * D] = 8;
      return e;
    };
  }
  const out: NativeGgufTensorSpec[] = [embd, t('output_norm.weight', 1, D, 0.2, 1)];
  if (!o.tied) {
    const output = t('output.weight', vocab, D, 0.5);
    if (o.favour !== undefined) {
      const produce = output.produce, favour = o.favour;
      output.produce = () => {
        const w = produce();
        w.fill(0, favour * D, (favour + 1) * D);
        w[favour * D] = 50;
        return w;
      };
    }
    out.push(output);
  }
  if (o.arch === 'llama')  // Llama 3 rope scaling: the low frequencies divided by up to 8
    out.push({ name: 'rope_freqs.weight', rows: 1, cols: headDim / 2, produce: () => Float32Array.from({ length: headDim / 2 }, (_, i) => 1 + (7 * i) / (headDim / 2 - 1)) });
  const s = layerScale;
  for (let l = 0; l < shape.nLayers; ++l) {
    const p = `blk.${l}.`;
    out.push(t(p + 'attn_norm.weight', 1, D, 0.2, 1), t(p + 'attn_q.weight', qDim, D, 0.4 * s), t(p + 'attn_k.weight', kvDim, D, 0.4 * s),
      t(p + 'attn_v.weight', kvDim, D, 0.4 * s), t(p + 'attn_output.weight', D, qDim, 0.3 * s), t(p + 'ffn_norm.weight', 1, D, 0.2, 1),
      t(p + 'ffn_gate.weight', H, D, 0.3 * s), t(p + 'ffn_down.weight', D, H, 0.3 * s), t(p + 'ffn_up.weight', H, D, 0.3 * s));
    if (o.arch === 'qwen2')
      out.push(t(p + 'attn_q.bias', 1, qDim, 0.5 * s), t(p + 'attn_k.bias', 1, kvDim, 0.5 * s), t(p + 'attn_v.bias', 1, kvDim, 0.5 * s));
    if (o.arch === 'qwen3') out.push(t(p + 'attn_q_norm.weight', 1, headDim, 0.3, 1), t(p + 'attn_k_norm.weight', 1, headDim, 0.3, 1));
  }
  return out;
}

/** Writes `o`'s model (f32) with the vocabulary's tokens, merges and chat template to `path`. */
export function writeRandomModel(path: string, o: RandomModelOptions): void {
  const { vocabulary, chatTemplate } = bpeFixture(o.vocab);
  const shape = o.shape ?? smallShape;
  benchModel().writeGguf(path, {
    type: 'f32', architecture: o.arch, vocabulary, chatTemplate, name: `random-${o.arch}`,
    config: { ...shape, vocabSize: vocabulary.tokens.length, ...(o.headDim ? { headDim: o.headDim } : {}) },
    tensors: randomModelTensors(o, vocabulary.tokens.length),
  });
}
