// The architectures beyond llama2.c's against llama.cpp (node-llama-cpp 3.21.1, CPU): random-weight GGUFs at a small
// shape (dim 64, 2 layers, 4 heads, 2 KV heads) with a real vocabulary, written by the project's GGUF writer:
//   llama + Llama 3 vocabulary, untied classifier, rope_freqs (Llama 3 rope scaling);
//   qwen2 + Qwen vocabulary, q/k/v biases, tied embeddings;
//   qwen3 + Qwen vocabulary, q/k head norms, tied embeddings.
// For 10 prompts x 32 greedy tokens the tokens are identical, and at every position (prompt and generated) the
// log-probabilities of llama.cpp's 16 most likely tokens agree with ours within 2e-3 (measured worst: about 5e-4;
// f32 KV cache on both sides). About 4 minutes per architecture on a loaded 2-core machine (llama.cpp returns
// probabilities over the whole 128K-152K vocabulary at every position).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { getLlama, type Llama, type Token, type ControlledEvaluateInputItem } from 'node-llama-cpp';

import { benchModel, type NativeGgufTensorSpec } from '../bench/bench-addon.js';
import { Model } from '../lib/model.js';
import { Tokenizer } from '../lib/tokenizer.js';
import { bpeFixture, type BpeVocabularyName } from './helpers/bpe-vocab.js';

const dir = mkdtempSync(join(tmpdir(), 'redrafter-arch-'));
let llama: Llama;
after(async () => {
  await llama?.dispose();
  rmSync(dir, { recursive: true, force: true });
});
before(async () => {
  llama = await getLlama({ gpu: false, build: 'never', logLevel: 'error' as never });
});

const shape = { dim: 64, hiddenDim: 160, nLayers: 2, nHeads: 4, nKvHeads: 2, contextLength: 512, normEps: 1e-6, ropeTheta: 500000 };
const headDim = shape.dim / shape.nHeads;
const kvDim = headDim * shape.nKvHeads;

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Arch = 'llama' | 'qwen2' | 'qwen3';
function tensors(arch: Arch, vocab: number, tied: boolean, seed: number): NativeGgufTensorSpec[] {
  const next = rng(seed);
  const t = (name: string, rows: number, cols: number, scale: number, base = 0): NativeGgufTensorSpec => ({
    name, rows, cols,
    produce: () => Float32Array.from({ length: rows * cols }, () => base + scale * (2 * next() - 1)),
  });
  const D = shape.dim, H = shape.hiddenDim;
  const out: NativeGgufTensorSpec[] = [t('token_embd.weight', vocab, D, 1), t('output_norm.weight', 1, D, 0.2, 1)];
  if (!tied) out.push(t('output.weight', vocab, D, 0.5));
  if (arch === 'llama')  // Llama 3 rope scaling: the low frequencies divided by up to 8
    out.push({ name: 'rope_freqs.weight', rows: 1, cols: headDim / 2, produce: () => Float32Array.from({ length: headDim / 2 }, (_, i) => 1 + (7 * i) / (headDim / 2 - 1)) });
  for (let l = 0; l < shape.nLayers; ++l) {
    const p = `blk.${l}.`;
    out.push(t(p + 'attn_norm.weight', 1, D, 0.2, 1), t(p + 'attn_q.weight', D, D, 0.4), t(p + 'attn_k.weight', kvDim, D, 0.4),
      t(p + 'attn_v.weight', kvDim, D, 0.4), t(p + 'attn_output.weight', D, D, 0.3), t(p + 'ffn_norm.weight', 1, D, 0.2, 1),
      t(p + 'ffn_gate.weight', H, D, 0.3), t(p + 'ffn_down.weight', D, H, 0.3), t(p + 'ffn_up.weight', H, D, 0.3));
    if (arch === 'qwen2')
      out.push(t(p + 'attn_q.bias', 1, D, 0.5), t(p + 'attn_k.bias', 1, kvDim, 0.5), t(p + 'attn_v.bias', 1, kvDim, 0.5));
    if (arch === 'qwen3') out.push(t(p + 'attn_q_norm.weight', 1, headDim, 0.3, 1), t(p + 'attn_k_norm.weight', 1, headDim, 0.3, 1));
  }
  return out;
}

function writeRandomModel(path: string, arch: Arch, vocabName: BpeVocabularyName, tied: boolean, seed: number): void {
  const { vocabulary, chatTemplate } = bpeFixture(vocabName);
  benchModel().writeGguf(path, {
    type: 'f32', architecture: arch, vocabulary, chatTemplate, name: `random-${arch}`,
    config: { ...shape, vocabSize: vocabulary.tokens.length },
    tensors: tensors(arch, vocabulary.tokens.length, tied, seed),
  });
}

const prompts = [
  'Once upon a time', 'def fibonacci(n):', '你好，世界', 'The capital of France is', '1, 2, 3, 4,',
  "I'm sure they'll", '🎉 party', 'SELECT * FROM', 'Ελληνικά και русский', '    indented\n\tcode',
];

function logSoftmax(v: Float32Array): Float64Array {
  let max = -Infinity;
  for (const x of v) max = Math.max(max, x);
  let sum = 0;
  for (const x of v) sum += Math.exp(x - max);
  const lse = max + Math.log(sum);
  return Float64Array.from(v, (x) => x - lse);
}

const cases: { arch: Arch; vocab: BpeVocabularyName; tied: boolean }[] = [
  { arch: 'llama', vocab: 'llama3', tied: false },
  { arch: 'qwen2', vocab: 'qwen3', tied: true },
  { arch: 'qwen3', vocab: 'qwen3', tied: true },
];

for (const c of cases) {
  test(`${c.arch} (${c.vocab} vocabulary${c.tied ? ', tied' : ''}): greedy tokens and log-probabilities match llama.cpp`, async (t) => {
    const path = join(dir, `${c.arch}.gguf`);
    writeRandomModel(path, c.arch, c.vocab, c.tied, 7 + cases.indexOf(c));
    const theirModel = await llama.loadModel({ modelPath: path });
    const context = await theirModel.createContext({
      contextSize: 256, batchSize: 256, threads: 1, sequences: 1, flashAttention: false,
      experimentalKvCacheKeyType: 'F32', experimentalKvCacheValueType: 'F32',
    });
    const tokenizer = await Tokenizer.load(path);
    const model = await Model.load(path, { threads: 2 });
    const V = tokenizer.vocabSize;
    const seq = context.getSequence();
    let worst = 0;
    try {
      for (const prompt of prompts) {
        const tokens = Array.from(tokenizer.encode(prompt));
        const bos = tokenizer.info.addBos ? [tokenizer.bos] : [];
        assert.deepEqual(tokens, [...bos, ...Array.from(theirModel.tokenize(prompt, false)).map(Number)], 'prompt tokens');
        await seq.clearHistory();
        const theirs: number[] = [];
        for await (const tok of seq.evaluate(tokens as Token[], { temperature: 0 })) {
          theirs.push(tok);
          if (theirs.length >= 32) break;
        }
        const ctx = model.createContext({ capacity: 256 });
        const mine: number[] = [];
        let { logits } = await ctx.forward(tokens, { outputs: [tokens.length - 1] });
        while (mine.length < 32) {
          let best = 0;
          for (let i = 1; i < V; ++i) if (logits[i]! > logits[best]!) best = i;
          mine.push(best);
          if (mine.length < 32) ({ logits } = await ctx.forward([best]));
        }
        ctx.dispose();
        assert.deepEqual(mine, theirs, `greedy tokens for prompt ${JSON.stringify(prompt)}`);

        // log-probabilities at every position of prompt + continuation (teacher-forced)
        const all = [...tokens, ...theirs.slice(0, 31)];
        await seq.clearHistory();
        const input: ControlledEvaluateInputItem[] = all.map((tok) => [tok as Token, {
          generateNext: { probabilities: true, options: { temperature: 1, topK: 0, topP: 1, minP: 0 } },
        }]);
        const probs = await seq.controlledEvaluate(input);
        const ctx2 = model.createContext({ capacity: 256 });
        const { logits: full } = await ctx2.forward(all);
        ctx2.dispose();
        for (let i = 0; i < all.length; ++i) {
          const lp = logSoftmax(full.subarray(i * V, (i + 1) * V));
          const p = probs[i]?.next?.probabilities;
          assert.ok(p && p.size > 0, `llama.cpp returned probabilities at ${i}`);
          const top = [...p.entries()].sort((a, b) => b[1] - a[1]).slice(0, 16);
          for (const [token, q] of top) {
            const diff = Math.abs(Math.log(q) - lp[token]!);
            worst = Math.max(worst, diff);
            assert.ok(diff <= 2e-3, `prompt ${JSON.stringify(prompt)} position ${i} token ${token}: log p ${Math.log(q)} (llama.cpp) vs ${lp[token]} (ours)`);
          }
        }
      }
      t.diagnostic(`worst |Δ log p| over the top 16 tokens at every position: ${worst.toExponential(2)}`);
    } finally {
      seq.dispose();
      model.dispose();
      await context.dispose();
      await theirModel.dispose();
    }
  });
}
