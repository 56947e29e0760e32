// llama2.c int8 checkpoints (version 2, runq's format: int8 weights, a float32 scale per group of the flattened
// tensor) against float32 checkpoints of the same shape: greedy autoregressive decode tokens/s on one engine each,
// interleaved repeats, medians (min..max), and the weight bytes read per second. The int8 file is a quarter of the
// float32 one, so where both are bound by memory bandwidth it decodes up to 4x faster; where it decodes slower, its
// kernels (native/cpu/kernels/matmul.cpp, Q8G loaders) are bound by their arithmetic instead.
//
//   node --import tsx bench/llama2c-q8.ts [--threads 2] [--repeats 5] [--tokens 48] [--group 64] [--json]
//
// The models: seeded random weights written to os.tmpdir() (dim 1024, FFN 2816, 8 layers, 16 heads, 4 KV heads,
// vocab 512: ~90M parameters, 92 MB int8, 358 MB float32). For the AVX2 kernels on an AVX-512 CPU, run it with
// REDRAFTER_CPU_ISA=avx2.
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';

import { Model } from '../lib/model.js';
import { writeSyntheticLlama2c, writeSyntheticLlama2cQ8, type SyntheticShape } from './synthetic-llama2c.js';

const { values: args } = parseArgs({
  options: {
    threads: { type: 'string', default: '2' },
    repeats: { type: 'string', default: '5' },
    tokens: { type: 'string', default: '48' },
    group: { type: 'string', default: '64' },
    json: { type: 'boolean', default: false },
  },
});
const threads = Number(args.threads), repeats = Number(args.repeats), tokens = Number(args.tokens);
const shape: SyntheticShape = { dim: 1024, hiddenDim: 2816, nLayers: 8, nHeads: 16, nKvHeads: 4, vocabSize: 512, seqLen: 512 };
const log = (s: string) => (args.json ? console.error(s) : console.log(s));
const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];
const spread = (v: number[]) => `${Math.min(...v).toFixed(1)}..${Math.max(...v).toFixed(1)}`;

const dir = mkdtempSync(join(tmpdir(), 'redrafter-q8-bench-'));
try {
  const files = { f32: join(dir, 'f32.bin'), int8: join(dir, 'q8.bin') };
  writeSyntheticLlama2c(files.f32, shape);
  writeSyntheticLlama2cQ8(files.int8, shape, Number(args.group));
  const models = { f32: await Model.load(files.f32, { threads }), int8: await Model.load(files.int8, { threads }) };
  const rates: Record<keyof typeof models, number[]> = { f32: [], int8: [] };
  const decode = async (model: Model) => {  // greedy: forward one token at a time, argmax of the logits
    const ctx = model.createContext({ capacity: tokens + 8 });
    let { logits } = await ctx.forward([1], { outputs: [0] });
    const t0 = performance.now();
    for (let i = 0; i < tokens; ++i) {
      let best = 0;
      for (let j = 1; j < logits.length; ++j) if (logits[j] > logits[best]) best = j;
      ({ logits } = await ctx.forward([best]));
    }
    const seconds = (performance.now() - t0) / 1000;
    ctx.dispose();
    return tokens / seconds;
  };
  for (let r = 0; r <= repeats; ++r)  // round 0 warms up
    for (const type of r % 2 ? (['int8', 'f32'] as const) : (['f32', 'int8'] as const)) {
      const rate = await decode(models[type]);
      if (r > 0) rates[type].push(rate);
    }
  const bytes = { f32: statSync(files.f32).size, int8: statSync(files.int8).size };
  for (const type of ['f32', 'int8'] as const)
    log(`${type}: ${median(rates[type]).toFixed(1)} tok/s (${spread(rates[type])}), ` +
        `${(bytes[type] / 1e6).toFixed(0)} MB: weights read at ${(median(rates[type]) * bytes[type] / 1e9).toFixed(1)} GB/s`);
  log(`int8 / f32: ${(median(rates.int8) / median(rates.f32)).toFixed(2)}x (${threads} threads, ` +
      `ISA ${process.env.REDRAFTER_CPU_ISA ?? 'detected'})`);
  if (args.json) console.log(JSON.stringify({ shape, threads, repeats, tokens, group: Number(args.group), bytes, rates }));
  models.f32.dispose();
  models.int8.dispose();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
