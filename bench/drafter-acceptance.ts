// Greedy acceptance of a drafter: tokens per decoding step (the LLM's token included) of lossless greedy
// speculative decoding, replayed exactly on the model's greedy continuations of held-out prompts, over beam widths
// W and beam lengths L. Prints a markdown table.
//   node --import tsx bench/drafter-acceptance.ts [--model M] [--tokenizer T] [--drafter DIR] [--length N]
import { parseArgs } from 'node:util';
import { join } from 'node:path';
import { Model } from '../lib/model.ts';
import { loadDrafter } from '../lib/drafter/drafter.ts';
import { defaultEvaluationPrompts, measureAcceptance } from '../lib/drafter/training.ts';
import { fixtures, repoRoot } from './fixtures.ts';

const { values } = parseArgs({
  options: {
    model: { type: 'string', default: fixtures.stories260K },
    tokenizer: { type: 'string', default: fixtures.tok512 },
    drafter: { type: 'string', default: join(repoRoot, 'models', 'stories260K-drafter') },
    length: { type: 'string', default: '160' },
    threads: { type: 'string', default: '2' },
  },
});

const widths = [1, 2, 4, 8, 16];
const lengths = [3, 4, 5, 6, 8, 10];
const model = await Model.load(values.model!, { threads: Number(values.threads) });
try {
  const drafter = await loadDrafter(values.drafter!, { model });
  const started = Date.now();
  const result = await measureAcceptance(model, drafter, {
    tokenizer: values.tokenizer,
    prompts: [...defaultEvaluationPrompts],
    length: Number(values.length),
    stopTokens: [1, 2],
    widths,
    lengths,
  });
  const cell = (w: number, l: number) =>
    result.rows.find((r) => r.beamWidth === w && r.beamLength === l)!.tokensPerStep.toFixed(2);
  const lines = [
    `Tokens per step (LLM token included) of greedy ReDrafter decoding; ${result.texts} held-out prompts, ` +
      `${result.tokens} tokens of greedy text; drafter ${values.drafter}`,
    '',
    `| W \\ L | ${lengths.join(' | ')} |`,
    `| --- | ${lengths.map(() => '---').join(' | ')} |`,
    ...widths.map((w) => `| ${w} | ${lengths.map((l) => cell(w, l)).join(' | ')} |`),
    '',
    `(${((Date.now() - started) / 1000).toFixed(1)} s)`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
} finally {
  model.dispose();
}
