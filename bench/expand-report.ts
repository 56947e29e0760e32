// Prints the markdown table of bench/expand-bench.sh's JSON reports: node --import tsx bench/expand-report.ts OUT
import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import type { BenchReport } from '../lib/bench.js';

const out = process.argv[2];
if (!out) throw new Error('usage: expand-report.ts OUT');
const f = (x: number | null | undefined, d = 2) => (x === null || x === undefined ? 'n/a' : x.toFixed(d));
const rows: string[] = [
  '| weights | AR (ours) tok/s | ReDrafter tok/s | llama.cpp AR tok/s | tokens/step | ReDrafter/AR | ReDrafter/llama.cpp | AR/llama.cpp | identical |',
  '| --- | --- | --- | --- | --- | --- | --- | --- | --- |',
];
const extra: string[] = [];
for (const type of ['f32', 'f16']) {
  const p = join(out, `expanded-${type}.json`);
  if (!existsSync(p)) continue;
  const r = JSON.parse(readFileSync(p, 'utf8')) as BenchReport;
  const s = (v: BenchReport['ar'] | null) => (v ? `${f(v.tokensPerSecond.median)} [${f(v.tokensPerSecond.min)}-${f(v.tokensPerSecond.max)}]` : 'n/a');
  rows.push(
    `| ${type} | ${s(r.ar)} | ${s(r.redrafter)} | ${s(r.llamaCpp)} | ${f(r.redrafter?.tokensPerStep)} | ${f(r.ratios.redrafterOverAr)}x | ` +
      `${f(r.ratios.redrafterOverLlamaCpp)}x | ${f(r.ratios.arOverLlamaCpp)}x | ` +
      `${r.identical.redrafterEqualsAr && r.identical.llamaCppEqualsAr ? 'yes' : 'NO'} |`,
  );
  const b = r.stepBreakdownMs;
  if (b)
    extra.push(
      `${type}: ReDrafter step ${f(b.total, 1)} ms = drafting ${f(b.drafting, 1)} + tree ${f(b.treeBuilding, 2)} + ` +
        `forward ${f(b.forward, 1)} + acceptance ${f(b.acceptance, 2)} + commit ${f(b.commit, 2)} + glue ${f(b.glue, 2)} + ` +
        `Node ${f(b.node, 1)}; AR step ${f(b.arStep, 1)} ms; ` +
        `forward(T)/forward(1): ${r.forwardCost.map((c) => `T=${c.tokens} ${f(c.relative)}`).join(', ')} ` +
        `(T=1: ${f(r.forwardCost[0]?.seconds * 1000, 1)} ms)`,
    );
}
process.stdout.write(rows.join('\n') + '\n\n' + extra.map((e) => `- ${e}`).join('\n') + '\n');
