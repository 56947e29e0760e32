// The cost of one forward of T tokens relative to T = 1 on a model (the tree-verification cost curve):
//   node --import tsx bench/forward-cost.ts MODEL [--threads N] [--tokens 1,2,4,8,16,32] [--reps 7]
import { Command } from 'commander';
import { cpus } from 'node:os';
import { forwardCostCurve } from '../lib/bench.js';

const program = new Command()
  .argument('<model>')
  .option('--threads <n>', 'threads', String(cpus().length))
  .option('--tokens <list>', 'token counts', '1,2,4,8,16,32')
  .option('--reps <n>', 'repeats (median)', '7');
program.parse(process.argv);
const o = program.opts();
const counts = String(o.tokens).split(',').map(Number);
const curve = await forwardCostCurve(program.args[0], Number(o.threads), counts, Number(o.reps));
for (const c of curve) console.log(`T=${String(c.tokens).padStart(3)}  ${(c.seconds * 1000).toFixed(1).padStart(8)} ms  x${c.relative.toFixed(2)}`);
