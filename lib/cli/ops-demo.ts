// The ReDrafter core operators on a worked example (formerly the `redrafter demo` placeholder): drafted beams ->
// packed tree and attention mask -> greedy verification against a stand-in LLM -> the KV-cache commit plan, and the
// same tree verified by exact sampling.
import { native } from '../native.js';
import { ops } from '../ops.js';

// A toy vocabulary so the example reads as words.
const vocab = ['<s>', 'the', 'cat', 'dog', 'sat', 'ran', 'on', 'down', 'away', 'mat', '.'] as const;
const id = (w: string): number => vocab.indexOf(w as (typeof vocab)[number]);
const word = (t: number): string => vocab[t] ?? `#${t}`;

// The drafter's beams [width 4, length 4]: each starts with the LLM's own last token, "the".
const beamWords = [
  ['the', 'cat', 'sat', 'on'],
  ['the', 'cat', 'sat', 'down'],
  ['the', 'cat', 'ran', 'away'],
  ['the', 'dog', 'sat', 'on'],
];
// The stand-in LLM: its greedy next word after each context (ending in the packed token).
const llmNext: Record<string, string> = {
  the: 'cat',
  'the cat': 'sat',
  'the cat sat': 'down',
  'the cat sat on': 'the',
  'the cat sat down': '.',
  'the cat ran': 'away',
  'the cat ran away': '.',
  'the dog': 'ran',
  'the dog sat': 'on',
  'the dog sat on': 'the',
};

export function renderOpsDemo(): string {
  const width = beamWords.length, length = beamWords[0]!.length;
  const shape = { batch: 1, width, length };
  const beams = Int32Array.from(beamWords.flat().map(id)); // [1, width, length]
  const tree = ops.buildTree(beams, shape);
  const n = tree.maxLength;
  const out: string[] = [];
  const pad = (s: string | number, w: number) => String(s).padEnd(w);

  out.push(`Drafted beams [batch 1, width ${width}, length ${length}] (each starts with the LLM's token):`);
  beamWords.forEach((b, w) => out.push(`  beam ${w}: ${b.join(' ')}`));
  out.push('', `Packed tree: ${width * length} beam tokens -> ${n} after deduplicating shared prefixes`);
  out.push('  packed  token   depth  parent  from beam[w][l]');
  const paths: string[] = [];
  for (let p = 0; p < n; p++) {
    const parent = tree.parents[p]!;
    const idx = tree.beamTokenIndex[p]!;
    paths[p] = (parent >= 0 ? `${paths[parent]} ` : '') + word(tree.tokens[p]!);
    out.push(
      `  ${pad(p, 7)} ${pad(word(tree.tokens[p]!), 7)} ${pad(tree.positionOffsets[p]!, 6)} ${pad(parent, 7)} ` +
        `beam[${Math.floor(idx / length)}][${idx % length}]`,
    );
  }
  out.push('', 'Tree attention mask (row attends column: # = self or ancestor):');
  out.push(`          ${Array.from({ length: n }, (_, j) => String(j).padStart(2)).join('')}`);
  for (let i = 0; i < n; i++) {
    const row = Array.from({ length: n }, (_, j) => (tree.mask[i * n + j] ? ' #' : ' .')).join('');
    out.push(`  ${pad(i, 2)} ${pad(word(tree.tokens[i]!), 5)}${row}`);
  }

  // The LLM run over the packed tree gives one argmax per packed position.
  const argmax = Int32Array.from(paths, (ctx) => id(llmNext[ctx] ?? '.'));
  out.push('', 'Stand-in LLM, greedy next word at each packed position:');
  paths.forEach((ctx, p) => out.push(`  ${pad(p, 2)} after "${ctx}" -> ${word(argmax[p]!)}`));
  const v = ops.verifyGreedy(beams, { ...shape, argmax });
  const accepted = Array.from(v.acceptedTokens.subarray(0, v.acceptedLength[0]!), word);
  out.push(
    '',
    `Greedy verification: beam ${v.beam[0]} accepted ${v.acceptedLength[0]} drafted token(s) [${accepted.join(' ')}], ` +
      `then the LLM's own "${word(v.nextToken[0]!)}"`,
  );
  out.push(`  emitted this step: ${[...accepted, word(v.nextToken[0]!)].join(' ')}`);

  const cachedLength = 12;
  const path = v.acceptedPacked.subarray(0, v.acceptedLength[0]! + 1);
  const plan = ops.kvCommitPlan(path, { cachedLength });
  out.push(
    '',
    `KV-cache commit plan (prefix of ${cachedLength} cached tokens; the tree was written at slots ${cachedLength}..${cachedLength + n - 1}):`,
  );
  out.push(`  keep packed path [${Array.from(path).join(', ')}] -> slots ${cachedLength}..${plan.newLength - 1}`);
  if (plan.from.length === 0) out.push('  no moves needed');
  plan.from.forEach((from, i) => out.push(`  move slot ${from} -> ${plan.to[i]}`));
  out.push(`  new cache length: ${plan.newLength}`);

  // Exact sampling over the same tree: LLM logits that favour its greedy word (p = 0.6 over 11 words).
  const logits = new Float32Array(n * vocab.length).fill(Math.log(0.04)); // [1, maxLength, vocab]
  argmax.forEach((t, p) => (logits[p * vocab.length + t] = Math.log(0.6)));
  out.push('', 'Exact sampling over the same tree (LLM p = 0.6 on its greedy word, 0.04 on each other; T=1):');
  for (const seed of [1, 2, 3, 4]) {
    const sampled = ops.verifySampling(beams, logits, { ...shape, vocab: vocab.length, temperature: 1, seed });
    const sAccepted = Array.from(sampled.acceptedTokens.subarray(0, sampled.acceptedLength[0]!), word);
    out.push(`  seed ${seed}: accepted [${sAccepted.join(' ')}], next "${word(sampled.nextToken[0]!)}"`);
  }
  return out.join('\n') + '\n';
}
