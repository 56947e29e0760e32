// The CPU engine against llama.cpp (node-llama-cpp 3.21.1, CPU build) on the f32 GGUF the project writes from
// stories260K: the next-token distributions agree to 1e-4 of the logit scale and greedy tokens are identical.
//
// node-llama-cpp exposes next-token probabilities (softmax of the logits at temperature 1), not raw logits, so the
// logits are compared up to their additive constant: log p = logit - logsumexp(logits) on both sides.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { getLlama, type Llama, type LlamaModel, type LlamaContext, type Token, type ControlledEvaluateInputItem } from 'node-llama-cpp';

import { Model } from '../lib/model.js';
import { convertModelFile } from '../lib/model-file.js';
import { Tokenizer } from '../lib/tokenizer.js';
import { fixtures, requireFixtures } from './helpers/fixtures.js';
import { logSoftmax } from './helpers/llama-cpp-compare.js';

requireFixtures();

const dir = mkdtempSync(join(tmpdir(), 'redrafter-llamacpp-'));
const gguf = join(dir, 'stories260K-f32.gguf');
let llama: Llama;
let theirModel: LlamaModel;
let theirContext: LlamaContext;
let ours: Model;
let tokenizer: Tokenizer;

before(async () => {
  await convertModelFile({ model: fixtures.stories260K, tokenizer: fixtures.tok512, out: gguf, type: 'f32' });
  llama = await getLlama({ gpu: false, build: 'never', logLevel: 'error' as never });
  theirModel = await llama.loadModel({ modelPath: gguf });
  // f32 KV cache (llama.cpp defaults to f16, which alone moves logits by ~1e-3), no flash attention; one thread
  // (llama.cpp's spinning worker threads crawl on an oversubscribed machine)
  theirContext = await theirModel.createContext({
    contextSize: 512, batchSize: 512, threads: 1, sequences: 1, flashAttention: false,
    experimentalKvCacheKeyType: 'F32', experimentalKvCacheValueType: 'F32',
  });
  ours = await Model.load(gguf, { threads: 2 });
  tokenizer = await Tokenizer.load(fixtures.tok512);
});

after(async () => {
  ours?.dispose();
  await theirContext?.dispose();
  await theirModel?.dispose();
  await llama?.dispose();
  rmSync(dir, { recursive: true, force: true });
});

const prompts = [
  'Once upon a time',
  'The little dog',
  'Lily and Ben went to the park. They saw',
  'One day, a big bird',
  'Tom had a red ball. He',
  'Sue was sad because',
  'The sun was hot and the',
  'Mom said, "Do not',
  'There was a cat named Tim. Tim liked to',
  'In the forest, ',
  'Once upon a time, there was a little girl named Lily. She loved to play outside in the park.',
  'The end.',
];

test('next-token log-probabilities match llama.cpp to 1e-4 of the logit scale, at every prompt position', async (t) => {
  const seq = theirContext.getSequence();
  try {
    let worst = 0;
    for (const prompt of prompts) {
      const tokens = Array.from(tokenizer.encode(prompt));
      await seq.clearHistory();
      const input: ControlledEvaluateInputItem[] = tokens.map((t) => [t as Token, {
        generateNext: { probabilities: true, options: { temperature: 1, topK: 0, topP: 1, minP: 0 } },
      }]);
      const theirs = await seq.controlledEvaluate(input);
      const ctx = ours.createContext({ capacity: 128 });
      const { logits } = await ctx.forward(tokens);
      for (let i = 0; i < tokens.length; ++i) {
        const mine = logits.subarray(i * 512, (i + 1) * 512);
        let scale = 0;
        for (const x of mine) scale = Math.max(scale, Math.abs(x));
        const lp = logSoftmax(mine);
        const probs = theirs[i]?.next?.probabilities;
        assert.ok(probs && probs.size === 512, `llama.cpp returned ${probs?.size} probabilities at ${i}`);
        for (const [token, p] of probs) {
          if (p < 1e-30) continue;  // float32 probabilities lose log precision in the far tail
          const diff = Math.abs(Math.log(p) - lp[token]);
          worst = Math.max(worst, diff / scale);
          assert.ok(diff <= 1e-4 * scale, `prompt "${prompt}" position ${i} token ${token}: ` +
            `log p ${Math.log(p)} (llama.cpp) vs ${lp[token]} (ours), logit scale ${scale}`);
        }
      }
      ctx.dispose();
    }
    t.diagnostic(`worst |Δ log p| / max |logit| = ${worst.toExponential(2)}`);
  } finally {
    seq.dispose();
  }
});

test('greedy continuations are identical to llama.cpp for many prompts', async () => {
  const seq = theirContext.getSequence();
  try {
    for (const prompt of prompts) {
      const tokens = Array.from(tokenizer.encode(prompt));
      const steps = 40;
      await seq.clearHistory();
      const theirs: number[] = [];
      for await (const t of seq.evaluate(tokens as Token[], { temperature: 0 })) {
        theirs.push(t);
        if (theirs.length >= steps) break;
      }
      const ctx = ours.createContext({ capacity: 256 });
      const mine: number[] = [];
      let { logits } = await ctx.forward(tokens, { outputs: [tokens.length - 1] });
      while (mine.length < theirs.length) {
        let best = 0;
        for (let i = 1; i < 512; ++i) if (logits[i] > logits[best]) best = i;
        mine.push(best);
        if (mine.length < theirs.length) ({ logits } = await ctx.forward([best]));
      }
      ctx.dispose();
      assert.deepEqual(mine, theirs, `prompt "${prompt}"`);
      assert.ok(theirs.length >= 1);
    }
  } finally {
    seq.dispose();
  }
});
