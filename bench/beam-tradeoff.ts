// The trade-off behind the default beam width W and length L: for each (W, L), the tokens a greedy ReDrafter step
// accepts (exact replay on held-out greedy texts of the small model, which the expanded model reproduces token for
// token), the packed tree size T it verifies, and the measured costs on a (large) model: one forward of T tokens
// relative to T = 1 and the drafter's beam search relative to that forward. The predicted speed-up over plain
// decoding is tokens/step / (forward(T)/forward(1) + draft/forward(1)).
//
//   node --import tsx bench/beam-tradeoff.ts --drafter models/stories260K-drafter \
//        [--model BIG.gguf --big-drafter BIG/drafter] [--widths 1,2,4,8] [--lengths 3,4,5,6,7,8] [--threads 2] [--json]
import { Command } from 'commander';
import { cpus } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

import { Model } from '../lib/model.js';
import { loadDrafter } from '../lib/drafter/index.js';
import { measureAcceptance } from '../lib/drafter/training.js';
import { buildTree } from '../lib/ops.js';
import { forwardCostCurve } from '../lib/bench.js';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const modelsDir = process.env.REDRAFTER_MODELS ?? resolve(repoRoot, '..', 'shared', 'models');
const list = (s: string) => s.split(',').map(Number);
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

const program = new Command()
  .option('--source <file>', 'small model', join(modelsDir, 'stories260K.bin'))
  .option('--tokenizer <file>', 'its tokenizer', join(modelsDir, 'tok512.bin'))
  .requiredOption('--drafter <dir>', "the small model's drafter")
  .option('--model <file>', 'large (expanded) model for the costs')
  .option('--big-drafter <dir>', "the large model's drafter")
  .option('--widths <list>', 'beam widths', '1,2,4,8')
  .option('--lengths <list>', 'beam lengths', '3,4,5,6,7,8')
  .option('--threads <n>', 'threads for the large model', String(cpus().length))
  .option('--json', 'JSON output');
program.parse(process.argv);
const o = program.opts();
const widths = list(o.widths);
const lengths = list(o.lengths);

// 1. acceptance and tree sizes on the small model
const small = await Model.load(o.source, { threads: 1 });
const drafter = await loadDrafter(o.drafter, { model: small });
const acc = await measureAcceptance(small, drafter, { tokenizer: o.tokenizer, widths, lengths });
// packed tree sizes: draft from the hidden states along a greedy text
const ctx = small.createContext({ capacity: 256 });
const states: { hidden: Float32Array; token: number }[] = [];
let input = [1];
for (let i = 0; i < 64; i++) {
  const r = await ctx.forward(input, { outputs: [input.length - 1], hidden: true });
  let best = 0;
  for (let v = 1; v < small.config.vocabSize; v++) if (r.logits[v] > r.logits[best]) best = v;
  states.push({ hidden: r.hidden!, token: best });
  input = [best];
}
ctx.dispose();
const treeSize = new Map<string, number>();
for (const W of widths)
  for (const L of lengths) {
    const sizes: number[] = [];
    for (const s of states) {
      const d = await drafter.draft(small, s.hidden, Int32Array.of(s.token), { beamWidth: W, beamLength: L });
      sizes.push(buildTree(d.beams, { batch: 1, width: W, length: L }).maxLength);
    }
    treeSize.set(`${W}x${L}`, sizes.reduce((a, b) => a + b, 0) / sizes.length);
  }
small.dispose();

// 2. costs on the large model
let cost: Map<number, number> | null = null;
let forward1 = 0;
const draftSeconds = new Map<string, number>();
if (o.model) {
  const maxT = Math.max(...[...treeSize.values()].map((t) => Math.ceil(t)));
  const counts = [...new Set([1, 2, 4, 8, 12, 16, 24, 32, maxT].filter((t) => t <= Math.max(maxT, 8)))].sort((a, b) => a - b);
  const curve = await forwardCostCurve(o.model, Number(o.threads), counts, 3);
  cost = new Map(curve.map((c) => [c.tokens, c.relative]));
  forward1 = curve.find((c) => c.tokens === 1)!.seconds;
  if (o.bigDrafter) {
    const big = await Model.load(o.model, { threads: Number(o.threads) });
    const d = await loadDrafter(o.bigDrafter, { model: big, threads: Number(o.threads) });
    const hidden = new Float32Array(big.config.dim);
    for (let i = 0; i < 64; i++) hidden[i] = states[0].hidden[i];
    for (const W of widths)
      for (const L of lengths) {
        const ts: number[] = [];
        for (let r = 0; r < 3; r++) {
          const t0 = performance.now();
          await d.draft(big, hidden, Int32Array.of(states[0].token), { beamWidth: W, beamLength: L });
          ts.push((performance.now() - t0) / 1000);
        }
        draftSeconds.set(`${W}x${L}`, median(ts));
      }
    big.dispose();
  }
}
// relative forward cost at a fractional tree size: interpolate the curve
const relCost = (t: number) => {
  if (!cost) return NaN;
  const pts = [...cost.entries()].sort((a, b) => a[0] - b[0]);
  for (let i = 1; i < pts.length; i++) {
    const [t0, c0] = pts[i - 1];
    const [t1, c1] = pts[i];
    if (t <= t1) return c0 + ((c1 - c0) * (t - t0)) / (t1 - t0);
  }
  return pts[pts.length - 1][1];
};

const rows = acc.rows.map((r) => {
  const key = `${r.beamWidth}x${r.beamLength}`;
  const T = treeSize.get(key)!;
  const c = relCost(T);
  const dr = draftSeconds.has(key) ? draftSeconds.get(key)! / forward1 : NaN;
  const predicted = r.tokensPerStep / (c + (Number.isNaN(dr) ? 0 : dr));
  return { beamWidth: r.beamWidth, beamLength: r.beamLength, tokensPerStep: r.tokensPerStep, treeTokens: T,
    forwardRelative: c, draftRelative: dr, predictedSpeedup: predicted };
});
if (o.json) {
  process.stdout.write(JSON.stringify({ forward1, cost: cost ? Object.fromEntries(cost) : null, rows }) + '\n');
} else {
  if (cost) process.stdout.write(`forward(1) = ${(forward1 * 1000).toFixed(1)} ms; relative cost ${[...cost].map(([t, c]) => `T=${t}:${c.toFixed(2)}`).join(' ')}\n`);
  process.stdout.write('  W  L  tokens/step  tree T  fwd(T)/fwd(1)  draft/fwd(1)  predicted speed-up\n');
  for (const r of rows)
    process.stdout.write(
      `${String(r.beamWidth).padStart(3)}${String(r.beamLength).padStart(3)}  ${r.tokensPerStep.toFixed(2).padStart(11)}  ` +
        `${r.treeTokens.toFixed(1).padStart(6)}  ${r.forwardRelative.toFixed(2).padStart(13)}  ${r.draftRelative.toFixed(2).padStart(12)}  ` +
        `${r.predictedSpeedup.toFixed(2).padStart(18)}\n`,
    );
}
