// The harness of `redrafter bench` (the command and its table: cli/bench.ts; scripts in bench/ use it too):
// autoregressive decoding and ReDrafter on the same engine and model, and llama.cpp's autoregressive decoding
// (node-llama-cpp) on the same GGUF with the same threads, as interleaved repeats in one process; medians with
// min-max spread, tokens per step, paired ratios, whether the greedy outputs were identical, where a ReDrafter
// step's time goes, and the cost of one forward of T tokens relative to T = 1.
import { readFileSync, statSync } from 'node:fs';
import { cpus } from 'node:os';
import { loadEngine, type Engine } from './engine.js';
import { defaultDrafterWeightType } from './cpu-backend.js';
import type { DrafterWeightType } from './drafter/drafter.js';
import { Model } from './model.js';
import type { NativeRoofline } from './native.js';

export interface BenchOptions {
  model: string;
  tokenizer?: string;
  drafter?: string;
  prompts: string[];
  maxTokens: number;
  repeats: number;
  threads: number;
  /** ReDrafter's beam shape; absent: the engine's default for this model (generation-options.ts defaultBeamShape). */
  beamWidth?: number;
  beamLength?: number;
  /** ReDrafter sessions may draft less or not at all where that is measured to be faster (SessionOptions.adaptiveDraft);
   *  absent: the engine's default (generation-options.ts defaultAdaptiveDraft: on for models under 30M parameters). */
  adaptiveDraft?: boolean;
  /** The precision the drafter drafts with (LoadEngineOptions.drafterWeightType; default: the engine's). */
  drafterWeightType?: DrafterWeightType;
  /** Compare with llama.cpp (node-llama-cpp, a devDependency): true: required; false: not; undefined: when
   *  node-llama-cpp is installed and the model is a GGUF (else the report says why it was skipped). */
  llamaCpp?: boolean;
  /** The engine backend (default 'cpu'; 'cuda': the CPU-only options threads and drafterWeightType are not passed). */
  backend?: 'cpu' | 'cuda';
  /** Token counts for the forward-cost curve; empty: skip it. */
  forwardCost: number[];
  /** Measure this machine's read bandwidth and FMA peak first and report against them (default true; cpu only). */
  roofline?: boolean;
  /** Progress lines (stderr). */
  log?: (line: string) => void;
  /** Notices (stderr), also where progress lines are off; default: log. */
  notice?: (line: string) => void;
}

type Variant = 'ar' | 'redrafter' | 'llamacpp';

export interface RunRecord {
  variant: Variant;
  repeat: number;
  prompt: number;
  tokens: number[];
  /** Decoding wall time in JS, from the first generated token to the last. */
  decodeSeconds: number;
  /** Tokens after the first (the first comes from the prefill). */
  decodeTokens: number;
  steps: number;
  /** ours only: the executor's own counters (seconds). */
  native?: {
    decode: number;
    draft: number;
    tree: number;
    forward: number;
    accept: number;
    commit: number;
    other: number;
    prefill: number;
  };
}

export interface VariantSummary {
  tokensPerSecond: { median: number; min: number; max: number };
  tokensPerStep: number;
  runs: number;
}

export interface BenchReport {
  machine: { cpu: string; cores: number; threads: number; isa?: string };
  model: { path: string; weightType?: string; dim: number; nLayers: number; parameters?: number };
  settings: {
    prompts: number;
    maxTokens: number;
    repeats: number;
    beamWidth: number;
    beamLength: number;
    adaptiveDraft: boolean;
    /** The drafter's weight type (null: no drafter, or not the CPU backend). */
    drafterWeightType: DrafterWeightType | null;
  };
  ar: VariantSummary;
  redrafter: VariantSummary | null;
  llamaCpp: VariantSummary | null;
  /** Why the llama.cpp comparison did not run (when it did not and was not turned off). */
  llamaCppSkipped?: string;
  /** Medians of the per-repeat (paired) ratios of tokens/s. */
  ratios: { redrafterOverAr: number | null; redrafterOverLlamaCpp: number | null; arOverLlamaCpp: number | null };
  identical: { redrafterEqualsAr: boolean | null; llamaCppEqualsAr: boolean | null };
  /** ReDrafter, milliseconds per decoding step (totals over all runs / steps). */
  stepBreakdownMs: {
    drafting: number;
    treeBuilding: number;
    forward: number;
    acceptance: number;
    commit: number;
    /** the engine's scheduling, responses and bookkeeping */
    glue: number;
    node: number;
    total: number;
    arStep: number;
  } | null;
  /** forward of T tokens (after a 32-token prefix) relative to T = 1: median seconds and ratio. */
  forwardCost: { tokens: number; seconds: number; relative: number }[];
  /**
   * The limits measured in the same run (Model.measureRoofline: the bench's threads and the engine's ISA) and the
   * figures against them: `arBandwidth` = the weight bytes autoregressive decoding reads per second (the file's size
   * x AR tokens/s) over the read bandwidth; `forward[T].overBound` = the forward of T tokens over the larger of the
   * T = 1 forward and the time its 2 x parameters x T flops take at 80% of the FMA peak.
   */
  roofline: {
    readGBs: number;
    fmaGflops: number;
    threads: number;
    isa: string;
    weightBytes: number;
    arBandwidth: number;
    forward: { tokens: number; overBound: number }[];
  } | null;
  runs: RunRecord[];
}

/** Pause between runs (ms), so that no engine's spinning worker threads overlap the next run. */
const settleMs = 300;

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

function summarize(runs: RunRecord[], repeats: number): VariantSummary {
  const perRepeat: number[] = [];
  for (let r = 0; r < repeats; r++) {
    const rs = runs.filter((x) => x.repeat === r);
    const tokens = rs.reduce((s, x) => s + x.decodeTokens, 0);
    const secs = rs.reduce((s, x) => s + x.decodeSeconds, 0);
    if (secs > 0) perRepeat.push(tokens / secs);
  }
  const tokens = runs.reduce((s, x) => s + x.decodeTokens, 0);
  const steps = runs.reduce((s, x) => s + x.steps, 0);
  return {
    tokensPerSecond: { median: median(perRepeat), min: Math.min(...perRepeat), max: Math.max(...perRepeat) },
    tokensPerStep: steps > 0 ? tokens / steps : 0,
    runs: runs.length,
  };
}

function pairedRatio(runs: RunRecord[], a: Variant, b: Variant, repeats: number): number | null {
  const ratios: number[] = [];
  for (let r = 0; r < repeats; r++) {
    const rate = (v: Variant) => {
      const rs = runs.filter((x) => x.variant === v && x.repeat === r);
      const secs = rs.reduce((s, x) => s + x.decodeSeconds, 0);
      return rs.length && secs > 0 ? rs.reduce((s, x) => s + x.decodeTokens, 0) / secs : NaN;
    };
    const q = rate(a) / rate(b);
    if (Number.isFinite(q)) ratios.push(q);
  }
  return ratios.length ? median(ratios) : null;
}

async function ourRun(
  engine: Engine,
  variant: 'ar' | 'redrafter',
  o: BenchOptions,
  prompt: number[],
  repeat: number,
  index: number,
): Promise<RunRecord> {
  const session = variant === 'ar' ? engine.createSession({ beamWidth: 0 }) : redrafterSession(engine, o);
  const tokens: number[] = [];
  let first = 0;
  const stream = session.generate(prompt, { maxTokens: o.maxTokens, temperature: 0 });
  for await (const chunk of stream) {
    if (tokens.length === 0 && chunk.tokens.length > 0) first = performance.now();
    tokens.push(...chunk.tokens);
  }
  const end = performance.now();
  const result = await stream.result;
  const s = result.stats;
  return {
    variant,
    repeat,
    prompt: index,
    tokens: result.tokens,
    decodeSeconds: tokens.length > 1 ? (end - first) / 1000 : 0,
    decodeTokens: Math.max(0, result.tokens.length - 1),
    steps: s.steps,
    native: {
      decode: Math.max(0, s.totalSeconds - s.prefillSeconds),
      draft: s.draftingSeconds,
      tree: s.treeBuildingSeconds,
      forward: s.forwardSeconds,
      accept: s.acceptanceSeconds,
      commit: s.commitSeconds,
      other: s.otherSeconds,
      prefill: s.prefillSeconds,
    },
  };
}

interface LlamaCppRunner {
  run(prompt: number[], repeat: number, index: number): Promise<RunRecord>;
  dispose(): Promise<void>;
}

type NodeLlamaCpp = typeof import('node-llama-cpp');

/** The version of node-llama-cpp this project is tested with (package.json devDependencies). */
function nodeLlamaCppVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { devDependencies?: Record<string, string> };
  return pkg.devDependencies?.['node-llama-cpp'] ?? 'latest';
}

/** node-llama-cpp, or why it cannot be used: it is a devDependency, absent where only dependencies are installed. */
async function importNodeLlamaCpp(): Promise<NodeLlamaCpp | string> {
  try {
    return await import('node-llama-cpp');
  } catch (err) {
    const e = err as { code?: string; message?: string };
    if (e.code !== 'ERR_MODULE_NOT_FOUND' || !String(e.message).includes('node-llama-cpp')) throw err;
    return `node-llama-cpp is not installed (it is a devDependency); to compare with llama.cpp, run ` +
      `\`npm install node-llama-cpp@${nodeLlamaCppVersion()}\``;
  }
}

async function llamaCppRunner(nodeLlamaCpp: NodeLlamaCpp, o: BenchOptions, eos: number, contextSize: number): Promise<LlamaCppRunner> {
  const { getLlama } = nodeLlamaCpp;
  const llama = await getLlama({ gpu: false, build: 'never', logLevel: 'error' as never });
  const model = await llama.loadModel({ modelPath: o.model });
  const context = await model.createContext({ contextSize, threads: o.threads, batchSize: contextSize });
  const sequence = context.getSequence();
  return {
    async run(prompt, repeat, index) {
      await sequence.clearHistory();
      const tokens: number[] = [];
      let first = 0;
      for await (const t of sequence.evaluate(prompt as never[], { temperature: 0 })) {
        const id = t as unknown as number;
        if (id === eos) break;
        if (tokens.length === 0) first = performance.now();
        tokens.push(id);
        if (tokens.length >= o.maxTokens) break;
      }
      const end = performance.now();
      return {
        variant: 'llamacpp',
        repeat,
        prompt: index,
        tokens,
        decodeSeconds: tokens.length > 1 ? (end - first) / 1000 : 0,
        decodeTokens: Math.max(0, tokens.length - 1),
        steps: Math.max(0, tokens.length - 1),
      };
    },
    async dispose() {
      await context.dispose();
      await model.dispose();
      await llama.dispose();
    },
  };
}

/** The forward of T tokens after a 32-token prefix, median over `reps` passes over every T (interleaved), relative to
 *  T = 1. 7 passes: with 3, a shared machine's bandwidth swings put single points 5-10% off and broke the curve's
 *  monotonicity; the whole curve costs a few seconds either way. */
export async function forwardCostCurve(
  modelPath: string,
  threads: number,
  counts: number[],
  reps = 7,
): Promise<{ tokens: number; seconds: number; relative: number }[]> {
  const model = await Model.load(modelPath, { threads });
  try {
    const prefix = 32;
    const maxT = Math.max(1, ...counts);
    const ctx = model.createContext({ capacity: Math.min(model.config.contextLength, prefix + maxT) });
    const vocab = model.config.vocabSize;
    const ids = (n: number, salt: number) => Array.from({ length: n }, (_, i) => 3 + ((i * 7919 + salt * 104729) % (vocab - 3)));
    await ctx.forward(ids(prefix, 0), { outputs: [prefix - 1] });
    const all = [1, ...counts.filter((t) => t !== 1)];
    const times = new Map<number, number[]>(all.map((t) => [t, []]));
    for (let r = 0; r < reps; r++) {
      for (const t of all) {
        const tokens = ids(t, r + 1);
        const start = performance.now();
        await ctx.forward(tokens, { outputs: tokens.map((_, i) => i) }); // a tree verification wants every row
        times.get(t)!.push((performance.now() - start) / 1000);
        ctx.truncate(prefix);
      }
    }
    ctx.dispose();
    const base = median(times.get(1)!);
    return [...times.entries()]
      .sort((a, b) => a[0] - b[0])
      .map(([tokens, ts]) => ({ tokens, seconds: median(ts), relative: median(ts) / base }));
  } finally {
    model.dispose();
  }
}

/** A ReDrafter session as the options ask (absent options: the engine's defaults). */
function redrafterSession(engine: Engine, o: BenchOptions) {
  return engine.createSession({
    ...(o.beamWidth === undefined ? {} : { beamWidth: o.beamWidth }),
    ...(o.beamLength === undefined ? {} : { beamLength: o.beamLength }),
    ...(o.adaptiveDraft === undefined ? {} : { adaptiveDraft: o.adaptiveDraft }),
  });
}

export async function runBench(o: BenchOptions): Promise<BenchReport> {
  const log = o.log ?? (() => undefined);
  const useDrafter = o.drafter !== undefined && o.beamWidth !== 0;
  const probe = await Model.load(o.model, { threads: 1 });
  const config = probe.config;
  probe.dispose();
  const cpuBackend = (o.backend ?? 'cpu') === 'cpu';
  const engine = await loadEngine({
    model: o.model,
    tokenizer: o.tokenizer,
    drafter: useDrafter ? o.drafter : null,
    backend: o.backend ?? 'cpu',
    ...(o.backend === 'cuda' ? {} : { threads: o.threads, drafterWeightType: o.drafterWeightType }),
  });
  // the shape the ReDrafter runs use (the engine's defaults where not given)
  let shape: { beamWidth: number; beamLength: number; adaptiveDraft: boolean | 'greedy' } = { beamWidth: 0, beamLength: 0, adaptiveDraft: false };
  if (useDrafter) {
    const s = redrafterSession(engine, o);
    shape = { beamWidth: s.beamWidth, beamLength: s.beamLength, adaptiveDraft: s.adaptiveDraft === 'greedy' || s.adaptiveDraft };
    s.dispose();
  }
  const runs: RunRecord[] = [];
  let llama: LlamaCppRunner | null = null;
  let llamaCppSkipped: string | undefined;
  const engineParameters = engine.info.parameters;
  try {
    const info = engine.info;
    const prompts = o.prompts.map((p) => [...engine.codec.encode(p, { bos: true })]);
    const contextSize = Math.min(info.contextLength, Math.max(...prompts.map((p) => p.length)) + o.maxTokens + 8);
    if (o.llamaCpp !== false) {
      const nodeLlamaCpp = o.model.endsWith('.gguf')
        ? await importNodeLlamaCpp()
        : `llama.cpp reads GGUF models, ${o.model} is not one (\`redrafter convert\` writes one)`;
      if (typeof nodeLlamaCpp === 'string') {
        if (o.llamaCpp === true) throw new Error(`--llama-cpp: ${nodeLlamaCpp}`);
        llamaCppSkipped = nodeLlamaCpp;
        (o.notice ?? log)(`llama.cpp comparison skipped: ${nodeLlamaCpp}`);
      } else {
        llama = await llamaCppRunner(nodeLlamaCpp, o, engine.codec.eos, contextSize);
      }
    }
    const variants: Variant[] = ['ar', ...(useDrafter ? (['redrafter'] as const) : []), ...(llama ? (['llamacpp'] as const) : [])];
    // warm-up: page the weights in and start the thread pools (not recorded)
    for (const v of variants) {
      const warm = { ...o, maxTokens: Math.min(8, o.maxTokens) };
      if (v === 'llamacpp') await llama!.run(prompts[0].slice(), -1, 0);
      else await ourRun(engine, v, warm, prompts[0], -1, 0);
    }
    for (let r = 0; r < o.repeats; r++) {
      for (let p = 0; p < prompts.length; p++) {
        // rotate the order every repeat so drift on a noisy machine falls on every variant alike
        const order = variants.map((_, i) => variants[(i + r + p) % variants.length]);
        for (const v of order) {
          const rec = v === 'llamacpp' ? await llama!.run(prompts[p], r, p) : await ourRun(engine, v, o, prompts[p], r, p);
          runs.push(rec);
          // Let every engine's worker threads go idle before the next run: llama.cpp's threads spin for a while after
          // a decode, which would slow whatever runs next on a 2-core machine.
          await new Promise((resolve) => setTimeout(resolve, settleMs));
          log(
            `repeat ${r + 1}/${o.repeats} prompt ${p + 1}/${prompts.length} ${v}: ${rec.decodeTokens} tokens, ` +
              `${(rec.decodeTokens / Math.max(1e-9, rec.decodeSeconds)).toFixed(2)} tokens/s`,
          );
        }
      }
    }
  } finally {
    await llama?.dispose();
    await engine.dispose();
  }
  const of = (v: Variant) => runs.filter((x) => x.variant === v);
  const same = (a: Variant, b: Variant) =>
    of(a).every((x) => {
      const y = runs.find((z) => z.variant === b && z.repeat === x.repeat && z.prompt === x.prompt)!;
      const n = Math.min(x.tokens.length, y.tokens.length);
      // llama.cpp stops at maxTokens exactly; ours may overshoot by a step's extra tokens: compare the common part
      return n > 0 && x.tokens.slice(0, n).every((t, i) => t === y.tokens[i]);
    });
  const rd = of('redrafter');
  let stepBreakdownMs: BenchReport['stepBreakdownMs'] = null;
  if (rd.length) {
    const steps = rd.reduce((s, x) => s + x.steps, 0);
    const sum = (f: (x: RunRecord) => number) => rd.reduce((s, x) => s + f(x), 0);
    const ms = (v: number) => (1000 * v) / Math.max(1, steps);
    const ar = of('ar');
    stepBreakdownMs = {
      drafting: ms(sum((x) => x.native!.draft)),
      treeBuilding: ms(sum((x) => x.native!.tree)),
      forward: ms(sum((x) => x.native!.forward)),
      acceptance: ms(sum((x) => x.native!.accept)),
      commit: ms(sum((x) => x.native!.commit)),
      glue: ms(sum((x) => x.native!.other)),
      node: ms(sum((x) => Math.max(0, x.decodeSeconds - x.native!.decode))),
      total: ms(sum((x) => x.decodeSeconds)),
      arStep: (1000 * ar.reduce((s, x) => s + x.decodeSeconds, 0)) / Math.max(1, ar.reduce((s, x) => s + x.steps, 0)),
    };
  }
  let roof: NativeRoofline | null = null;
  if (cpuBackend && o.roofline !== false) {
    log('measuring the read bandwidth and the FMA peak ...');
    roof = await Model.measureRoofline({ threads: o.threads, isa: config.isa });
  }
  const forwardCost = o.forwardCost.length && cpuBackend ? await forwardCostCurve(o.model, o.threads, o.forwardCost) : [];
  const weightBytes = statSync(o.model).size;
  const arSummary = summarize(of('ar'), o.repeats);
  const t1 = forwardCost.find((f) => f.tokens === 1)?.seconds;
  const roofline = roof && {
    readGBs: roof.readBytesPerSecond / 1e9,
    fmaGflops: roof.fmaFlopsPerSecond / 1e9,
    threads: roof.threads,
    isa: roof.isa,
    weightBytes,
    arBandwidth: (weightBytes * arSummary.tokensPerSecond.median) / roof.readBytesPerSecond,
    forward: t1 === undefined ? [] : forwardCost.map(({ tokens, seconds }) => ({
      tokens,
      overBound: seconds / Math.max(t1, (2 * engineParameters * tokens) / (0.8 * roof!.fmaFlopsPerSecond)),
    })),
  };
  return {
    machine: { cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, threads: o.threads, isa: config.isa },
    model: { path: o.model, dim: config.dim, nLayers: config.nLayers, weightType: config.weightType },
    settings: {
      prompts: o.prompts.length,
      maxTokens: o.maxTokens,
      repeats: o.repeats,
      beamWidth: shape.beamWidth,
      beamLength: shape.beamLength,
      adaptiveDraft: shape.adaptiveDraft === true,
      drafterWeightType: useDrafter && o.backend !== 'cuda' ? (o.drafterWeightType ?? defaultDrafterWeightType(o.drafter!)) : null,
    },
    ar: arSummary,
    redrafter: rd.length ? summarize(rd, o.repeats) : null,
    llamaCpp: of('llamacpp').length ? summarize(of('llamacpp'), o.repeats) : null,
    ...(llamaCppSkipped === undefined ? {} : { llamaCppSkipped }),
    ratios: {
      redrafterOverAr: pairedRatio(runs, 'redrafter', 'ar', o.repeats),
      redrafterOverLlamaCpp: pairedRatio(runs, 'redrafter', 'llamacpp', o.repeats),
      arOverLlamaCpp: pairedRatio(runs, 'ar', 'llamacpp', o.repeats),
    },
    identical: {
      redrafterEqualsAr: rd.length ? same('redrafter', 'ar') : null,
      llamaCppEqualsAr: of('llamacpp').length ? same('llamacpp', 'ar') : null,
    },
    stepBreakdownMs,
    forwardCost,
    roofline,
    runs,
  };
}
