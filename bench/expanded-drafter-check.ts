// Checks that an expanded drafter (bench/expand-model.ts, e.g. --drafter-only) drafts exactly the beams of its source
// drafter: both models decode greedily from BOS side by side, and at every step both drafters draft from their own
// model's hidden state for several beam shapes; the beams must be identical token for token.
//
//   node --import tsx bench/expanded-drafter-check.ts --model BIG.gguf --drafter BIG_DRAFTER_DIR
//        [--source stories260K.bin --source-drafter models/stories260K-drafter] [--steps 6] [--threads 1]
import { Command } from 'commander';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

import { Model } from '../lib/model.js';
import { loadDrafter } from '../lib/drafter/index.js';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const modelsDir = process.env.REDRAFTER_MODELS ?? resolve(repoRoot, '..', 'shared', 'models');

const program = new Command()
  .requiredOption('--model <file>', 'the expanded model (GGUF)')
  .requiredOption('--drafter <dir>', 'the expanded drafter')
  .option('--source <file>', 'the source model', join(modelsDir, 'stories260K.bin'))
  .option('--source-drafter <dir>', 'the source drafter', join(repoRoot, 'models', 'stories260K-drafter'))
  .option('--steps <n>', 'greedy decoding steps', '6')
  .option('--threads <n>', 'threads of the expanded model', '1');
program.parse(process.argv);
const o = program.opts();

const shapes = [[1, 8], [1, 10], [8, 5], [4, 6]] as const;
const small = await Model.load(o.source, { threads: 1 });
const big = await Model.load(o.model, { threads: Number(o.threads) });
let compared = 0;
let mismatches = 0;
try {
  const d0 = await loadDrafter(o.sourceDrafter, { model: small });
  const d1 = await loadDrafter(o.drafter, { model: big });
  const c0 = small.createContext({ capacity: 64 });
  const c1 = big.createContext({ capacity: 64 });
  const argmax = (v: Float32Array) => v.reduce((best, x, i) => (x > v[best] ? i : best), 0);
  let input = [1];
  for (let step = 0; step < Number(o.steps); step++) {
    const r0 = await c0.forward(input, { outputs: [0], hidden: true });
    const r1 = await c1.forward(input, { outputs: [0], hidden: true });
    const next = argmax(r0.logits);
    if (argmax(r1.logits) !== next) throw new Error(`step ${step}: the models' greedy tokens differ`);
    for (const [beamWidth, beamLength] of shapes) {
      const a = await d0.draft(small, r0.hidden!, Int32Array.of(next), { beamWidth, beamLength });
      const b = await d1.draft(big, r1.hidden!, Int32Array.of(next), { beamWidth, beamLength });
      compared++;
      if (a.beams.length !== b.beams.length || a.beams.some((t, i) => t !== b.beams[i])) {
        mismatches++;
        process.stdout.write(`step ${step} W=${beamWidth} L=${beamLength}: ${[...a.beams]} vs ${[...b.beams]}\n`);
      }
    }
    input = [next];
  }
  c0.dispose();
  c1.dispose();
} finally {
  small.dispose();
  big.dispose();
}
process.stdout.write(`${compared - mismatches}/${compared} drafts identical (${o.steps} steps; shapes ${shapes.map(([w, l]) => `${w}x${l}`).join(' ')})\n`);
if (mismatches) process.exitCode = 1;
