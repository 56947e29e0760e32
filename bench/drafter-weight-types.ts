// Acceptance by drafter weight type (LoadEngineOptions.drafterWeightType): tokens per ReDrafter step (the LLM's token
// included) of greedy decoding on the CPU engine, for each type, with whether the output equals plain decoding.
// One engine per type; the same prompts, beam shape and token count for each. Prints a markdown table.
//   node --import tsx bench/drafter-weight-types.ts --model M [--tokenizer T] --drafter DIR [--types f16,q8_0]
//     [--beam-width 1] [--beam-length 8] [--max-tokens 64] [--prompts N] [--threads 2]
import { parseArgs } from 'node:util';
import { loadEngine } from '../lib/engine.ts';
import { drafterWeightTypeOption, type DrafterWeightType } from '../lib/drafter/drafter.ts';

const { values } = parseArgs({
  options: {
    model: { type: 'string' },
    tokenizer: { type: 'string' },
    drafter: { type: 'string' },
    types: { type: 'string', default: 'f16,q8_0' },
    'beam-width': { type: 'string', default: '1' },
    'beam-length': { type: 'string', default: '8' },
    'max-tokens': { type: 'string', default: '64' },
    prompts: { type: 'string', default: '6' },
    threads: { type: 'string', default: '2' },
  },
});
if (!values.model || !values.drafter) throw new Error('--model and --drafter are required');

const allPrompts = [
  'Once upon a time', 'Lily and Ben', 'The dog ran to the', 'One day, a little girl named', 'Tom had a big red',
  'The sun was shining and', 'Sam wanted to play with', 'There was a small bird who',
];
const prompts = allPrompts.slice(0, Number(values.prompts));
const types = values.types!.split(',').map((t) => drafterWeightTypeOption(t, '--types')!) as DrafterWeightType[];
const beamWidth = Number(values['beam-width']);
const beamLength = Number(values['beam-length']);
const maxTokens = Number(values['max-tokens']);

const rows: string[] = [];
let plain: number[][] | undefined;
for (const drafterWeightType of types) {
  await using engine = await loadEngine({
    model: values.model, tokenizer: values.tokenizer, drafter: values.drafter, threads: Number(values.threads),
    drafterWeightType,
  });
  plain ??= await Promise.all(prompts.map(async (p) =>
    (await engine.createSession({ beamWidth: 0 }).complete(p, { maxTokens })).tokens));
  let tokens = 0;
  let steps = 0;
  let identical = true;
  for (const [i, p] of prompts.entries()) {
    const r = await engine.createSession({ beamWidth, beamLength, adaptiveDraft: false }).complete(p, { maxTokens });
    tokens += r.tokens.length;
    steps += r.stats.steps;
    identical &&= JSON.stringify(r.tokens) === JSON.stringify(plain[i]);
  }
  rows.push(`| ${drafterWeightType} | ${(tokens / steps).toFixed(3)} | ${tokens} / ${steps} | ${identical ? 'yes' : 'NO'} |`);
}
process.stdout.write([
  `Greedy ReDrafter W=${beamWidth} L=${beamLength}, ${prompts.length} prompts x ${maxTokens} tokens; ${values.model}, drafter ${values.drafter}`,
  '',
  '| drafter weights | tokens/step | tokens / steps | output = plain decoding |',
  '| --- | --- | --- | --- |',
  ...rows,
].join('\n') + '\n');
