// CPU engine benchmark: (1) the cost of one forward of T = 1..64 tokens relative to T = 1, (2) autoregressive
// greedy decode tokens/s against llama.cpp (node-llama-cpp 3.21.1, CPU build) on the same GGUF with the same
// thread count, f32 and f16, (3) the same on stories260K itself (f32 GGUF). Interleaved repeats, medians (min..max).
//
//   node --import tsx bench/forward.ts [--threads 2] [--repeats 5] [--tokens 32] [--dim 1024] [--layers 8] [--json]
//
// The model: a llama2.c checkpoint with seeded random weights written to os.tmpdir() (dim 1024, FFN 2816,
// 8 layers, 16 heads, 4 KV heads, vocab 512 = tok512: ~90M parameters, 358 MB at f32, 179 MB at f16, far beyond
// the caches, so decode is bound by memory bandwidth), converted to GGUF f32 and f16 by redrafter's converter.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';

import { getLlama, type Token } from 'node-llama-cpp';

import { Model } from '../lib/model.js';
import { convertModelFile } from '../lib/model-file.js';
import { parameterCount, writeSyntheticLlama2c, type SyntheticShape } from './synthetic-llama2c.js';
import { fixtures } from './fixtures.js';

const { values: args } = parseArgs({
  options: {
    threads: { type: 'string', default: '2' },
    repeats: { type: 'string', default: '5' },
    tokens: { type: 'string', default: '32' },
    dim: { type: 'string', default: '1024' },
    layers: { type: 'string', default: '8' },
    json: { type: 'boolean', default: false },
  },
});
const threads = Number(args.threads), repeats = Number(args.repeats), decodeTokens = Number(args.tokens);
const dim = Number(args.dim);
const shape: SyntheticShape = {
  dim, hiddenDim: Math.round((dim * 2.75) / 32) * 32, nLayers: Number(args.layers), nHeads: dim / 64, nKvHeads: dim / 256,
  vocabSize: 512, seqLen: 1024,
};

const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];
const spread = (v: number[]) => `${Math.min(...v).toFixed(1)}..${Math.max(...v).toFixed(1)}`;
const log = (s: string) => { if (!args.json) console.log(s); };

const dir = mkdtempSync(join(tmpdir(), 'redrafter-bench-'));
try {
  const bin = join(dir, 'synthetic.bin');
  log(`writing a synthetic model: ${JSON.stringify(shape)}, ${(parameterCount(shape) / 1e6).toFixed(1)}M parameters`);
  writeSyntheticLlama2c(bin, shape, 1);
  const ggufs: Record<string, string> = {};
  for (const type of ['f32', 'f16'] as const) {
    ggufs[type] = join(dir, `synthetic-${type}.gguf`);
    const r = await convertModelFile({ model: bin, tokenizer: fixtures.tok512, out: ggufs[type], type });
    log(`  ${type}: ${(r.bytes / 1e6).toFixed(0)} MB`);
  }
  rmSync(bin);

  // ---- (1) forward cost of T tokens, relative to T = 1 --------------------------------------------------------
  const Ts = [1, 2, 4, 8, 16, 32, 64];
  const cost: Record<string, Record<number, number[]>> = {};
  const costCpu: Record<string, Record<number, number[]>> = {};  // process CPU time: robust to time slicing at 1 thread
  for (const type of ['f32', 'f16']) {
    const model = await Model.load(ggufs[type], { threads });
    log(`\nforward cost, ${type}, ${model.config.isa}, ${model.config.threads} threads`);
    cost[type] = Object.fromEntries(Ts.map((t) => [t, [] as number[]]));
    costCpu[type] = Object.fromEntries(Ts.map((t) => [t, [] as number[]]));
    const prefix = Int32Array.from({ length: 16 }, (_, i) => 3 + ((i * 37) % 500));
    for (let r = 0; r < repeats + 1; ++r) {
      for (const T of Ts) {  // interleaved: every T once per repeat
        const ctx = model.createContext({ capacity: 256 });
        await ctx.forward(prefix, { outputs: [15] });
        const tokens = Int32Array.from({ length: T }, (_, i) => 3 + ((i * 53) % 500));
        const c0 = process.cpuUsage();
        const t0 = performance.now();
        await ctx.forward(tokens);  // logits for all T tokens, as tree verification asks
        const ms = performance.now() - t0;
        const c = process.cpuUsage(c0);
        ctx.dispose();
        if (r > 0) {  // repeat 0 warms the page cache
          cost[type][T].push(ms);
          costCpu[type][T].push((c.user + c.system) / 1000);
        }
      }
    }
    const base = median(cost[type][1]), baseCpu = median(costCpu[type][1]);
    for (const T of Ts)
      log(`  T=${String(T).padStart(2)}  wall ${median(cost[type][T]).toFixed(1)} ms (${spread(cost[type][T])}) ` +
        `x${(median(cost[type][T]) / base).toFixed(2)} of T=1 | cpu ${median(costCpu[type][T]).toFixed(1)} ms ` +
        `(${spread(costCpu[type][T])}) x${(median(costCpu[type][T]) / baseCpu).toFixed(2)} of T=1`);
    model.dispose();
  }

  // ---- (2) AR decode tokens/s vs llama.cpp ---------------------------------------------------------------------
  const llama = await getLlama({ gpu: false, build: 'never', logLevel: 'error' as never });
  const prompt = [1, 403, 407, 261, 378, 432, 383, 286] as Token[];
  const decode: Record<string, { ours: number[]; llama: number[]; oursCpu: number[]; llamaCpu: number[] }> = {};
  const engines: Record<string, { ours: Model; theirs: Awaited<ReturnType<typeof llama.loadModel>> }> = {};
  for (const type of ['f32', 'f16']) {
    engines[type] = { ours: await Model.load(ggufs[type], { threads }), theirs: await llama.loadModel({ modelPath: ggufs[type] }) };
    decode[type] = { ours: [], llama: [], oursCpu: [], llamaCpu: [] };
  }
  const ourTokens: Record<string, number[]> = {}, theirTokens: Record<string, number[]> = {};
  // One interleaved round on `type`: ours (prefill, then one token per forward, greedy), then llama.cpp (same
  // prompt, greedy, same threads, its defaults otherwise). Prefill and the first token are not timed. Round 0
  // warms up and is not recorded.
  const decodeRound = async (type: string, tokens: number, round: number) => {
    const record = (key: 'ours' | 'llama', seconds: number, cpu: NodeJS.CpuUsage) => {
      if (round === 0) return;
      decode[type][key].push(tokens / seconds);
      decode[type][key === 'ours' ? 'oursCpu' : 'llamaCpu'].push(tokens / ((cpu.user + cpu.system) / 1e6));
    };
    {
      const ctx = engines[type].ours.createContext({ capacity: 256 });
      let { logits } = await ctx.forward(prompt, { outputs: [prompt.length - 1] });
      const out: number[] = [];
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      for (let i = 0; i < tokens; ++i) {
        let best = 0;
        for (let j = 1; j < logits.length; ++j) if (logits[j] > logits[best]) best = j;
        out.push(best);
        ({ logits } = await ctx.forward([best]));
      }
      record('ours', (performance.now() - t0) / 1000, process.cpuUsage(c0));
      ctx.dispose();
      ourTokens[type] = out;
    }
    {
      const ctx = await engines[type].theirs.createContext({ contextSize: 256, threads, sequences: 1 });
      const out: number[] = [];
      const it = ctx.getSequence().evaluate(prompt, { temperature: 0 });
      out.push((await it.next()).value as number);  // prefill + first token, not timed (as ours)
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      for await (const t of it) {
        out.push(t);
        if (out.length > tokens) break;
      }
      record('llama', (performance.now() - t0) / 1000, process.cpuUsage(c0));
      await ctx.dispose();
      theirTokens[type] = out.slice(0, tokens);
    }
  };
  for (let r = 0; r < repeats + 1; ++r) for (const type of ['f32', 'f16']) await decodeRound(type, decodeTokens, r);

  // ---- (3) the same AR decode on stories260K itself (tiny: per-token overhead, not bandwidth) ------------------
  {
    const small = join(dir, 'stories260K-f32.gguf');
    await convertModelFile({ model: fixtures.stories260K, tokenizer: fixtures.tok512, out: small, type: 'f32' });
    engines.stories260K = { ours: await Model.load(small, { threads }), theirs: await llama.loadModel({ modelPath: small }) };
    decode.stories260K = { ours: [], llama: [], oursCpu: [], llamaCpu: [] };
  }
  const smallTokens = 128;
  for (let r = 0; r < repeats + 1; ++r) await decodeRound('stories260K', smallTokens, r);

  for (const type of ['f32', 'f16', 'stories260K']) {
    const o = decode[type].ours, l = decode[type].llama;
    log(`\nAR decode ${type}: redrafter ${median(o).toFixed(2)} tok/s (${spread(o)}), llama.cpp ${median(l).toFixed(2)} tok/s ` +
      `(${spread(l)}), ratio ${(median(o) / median(l)).toFixed(2)}; same greedy tokens: ` +
      `${JSON.stringify(ourTokens[type]) === JSON.stringify(theirTokens[type])}`);
    const oc = decode[type].oursCpu, lc = decode[type].llamaCpu;
    log(`  per CPU-second (process CPU time; meaningful at --threads 1): redrafter ${median(oc).toFixed(2)} ` +
      `(${spread(oc)}), llama.cpp ${median(lc).toFixed(2)} (${spread(lc)}), ratio ${(median(oc) / median(lc)).toFixed(2)}`);
    engines[type].ours.dispose();
    await engines[type].theirs.dispose();
  }
  await llama.dispose();
  if (args.json)
    console.log(JSON.stringify({ shape, threads, repeats, decodeTokens, cost, costCpu, decode, sameTokens: Object.fromEntries(
      ['f32', 'f16', 'stories260K'].map((t) => [t, JSON.stringify(ourTokens[t]) === JSON.stringify(theirTokens[t])])) }));
} finally {
  rmSync(dir, { recursive: true, force: true });
}
