// What the comparisons with llama.cpp (node-llama-cpp, CPU) share: the mixed prompts, a deterministic llama.cpp
// context (one thread, f32 KV cache, no flash attention), its greedy continuation, its teacher-forced next-token
// probabilities at every position, and our log-softmax / argmax over a row of logits.
import { after, before } from 'node:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getLlama, type ControlledEvaluateInputItem, type Llama, type LlamaContext, type LlamaModel, type LlamaContextSequence, type Token } from 'node-llama-cpp';

/** Code, CJK, emoji, numbers, whitespace runs, contractions, Greek and Cyrillic. */
export const mixedPrompts = [
  'Once upon a time', 'def fibonacci(n):', '你好，世界', 'The capital of France is', '1, 2, 3, 4,',
  "I'm sure they'll", '🎉 party', 'SELECT * FROM', 'Ελληνικά και русский', '    indented\n\tcode',
];

export function logSoftmax(v: Float32Array): Float64Array {
  let max = -Infinity;
  for (const x of v) max = Math.max(max, x);
  let sum = 0;
  for (const x of v) sum += Math.exp(x - max);
  const lse = max + Math.log(sum);
  return Float64Array.from(v, (x) => x - lse);
}

export function argmax(v: Float32Array): number {
  let best = 0;
  for (let i = 1; i < v.length; ++i) if (v[i]! > v[best]!) best = i;
  return best;
}

/** A comparison suite's setup: a temporary folder (`dir`, removed after the suite) and llama.cpp's CPU backend
 *  (`llama()`, loaded before the first test, disposed after the suite). */
export function llamaCppSuite(prefix: string): { dir: string; llama: () => Llama } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  let llama: Llama | undefined;
  after(async () => {
    await llama?.dispose();
    rmSync(dir, { recursive: true, force: true });
  });
  before(async () => {
    llama = await getLlama({ gpu: false, build: 'never', logLevel: 'error' as never });
  });
  return { dir, llama: () => llama! };
}

/** llama.cpp's model at `path` with one deterministic sequence of `contextSize` tokens. */
export async function openLlamaCpp(llama: Llama, path: string, contextSize = 256):
    Promise<{ model: LlamaModel; context: LlamaContext; seq: LlamaContextSequence }> {
  const model = await llama.loadModel({ modelPath: path });
  const context = await model.createContext({
    contextSize, batchSize: contextSize, threads: 1, sequences: 1, flashAttention: false,
    experimentalKvCacheKeyType: 'F32', experimentalKvCacheValueType: 'F32',
  });
  return { model, context, seq: context.getSequence() };
}

/** llama.cpp's first `n` greedy tokens after `tokens` (the sequence's history cleared first). */
export async function llamaCppGreedy(seq: LlamaContextSequence, tokens: readonly number[], n: number): Promise<number[]> {
  await seq.clearHistory();
  const out: number[] = [];
  for await (const tok of seq.evaluate(tokens as Token[], { temperature: 0 })) {
    out.push(tok);
    if (out.length >= n) break;
  }
  return out;
}

/** llama.cpp's next-token probabilities after each of `tokens` (teacher-forced; topK 0 = the whole vocabulary,
 *  else renormalised over the k most likely). */
export async function llamaCppNextProbabilities(seq: LlamaContextSequence, tokens: readonly number[], topK: number):
    Promise<Map<Token, number>[]> {
  await seq.clearHistory();
  const input: ControlledEvaluateInputItem[] = tokens.map((tok) => [tok as Token, {
    generateNext: { probabilities: true, options: { temperature: 1, topK, topP: 1, minP: 0 } },
  }]);
  const results = await seq.controlledEvaluate(input);
  return results.map((r, i) => {
    const p = r?.next?.probabilities;
    if (!p || p.size === 0) throw new Error(`llama.cpp returned no probabilities at position ${i}`);
    return p;
  });
}
