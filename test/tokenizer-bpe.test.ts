// Byte-level BPE tokenizers (GGUF tokenizer.ggml.model = gpt2) with real vocabularies (Llama 3: pre-tokenizer
// llama-bpe; Qwen 3: qwen2), written into GGUFs by the project's GGUF writer, against llama.cpp (node-llama-cpp
// 3.21.1 loading the same files): identical token ids on a large mixed text, with and without special-token parsing;
// BOS as llama.cpp adds it; end-of-generation tokens; decoding and streaming of multi-byte characters.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { getLlama, type Llama, type LlamaModel } from 'node-llama-cpp';

import { benchModel } from '../bench/bench-addon.js';
import { Tokenizer } from '../lib/tokenizer.js';
import { bpeFixture, mixedText, type BpeVocabularyName } from './helpers/bpe-vocab.js';

const dir = mkdtempSync(join(tmpdir(), 'redrafter-bpe-'));
let llama: Llama;
const theirs = new Map<BpeVocabularyName, LlamaModel>();
const ours = new Map<BpeVocabularyName, Tokenizer>();
const names: BpeVocabularyName[] = ['llama3', 'qwen3'];
const architecture = { llama3: 'llama', qwen3: 'qwen3' } as const;

before(async () => {
  llama = await getLlama({ gpu: false, build: 'never', logLevel: 'error' as never });
  for (const name of names) {
    const { vocabulary, chatTemplate } = bpeFixture(name);
    const path = join(dir, `${name}-vocab.gguf`);
    benchModel().writeGguf(path, {
      type: 'f32',
      architecture: architecture[name],
      vocabulary,
      chatTemplate,
      name: `${name}-vocab`,
      config: { dim: 64, hiddenDim: 128, nLayers: 1, nHeads: 4, nKvHeads: 2, vocabSize: vocabulary.tokens.length, contextLength: 256, normEps: 1e-6, ropeTheta: 10000 },
      tensors: [],
    });
    theirs.set(name, await llama.loadModel({ modelPath: path, vocabOnly: true }));
    ours.set(name, await Tokenizer.load(path));
  }
});

after(async () => {
  for (const m of theirs.values()) await m.dispose();
  await llama?.dispose();
  rmSync(dir, { recursive: true, force: true });
});

function firstDifference(a: readonly number[], b: readonly number[]): string {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) ++i;
  return `first difference at ${i}: ours ${JSON.stringify(a.slice(i, i + 8))} llama.cpp ${JSON.stringify(b.slice(i, i + 8))}`;
}

const lines = mixedText.split('\n');

for (const name of names) {
  test(`${name}: token ids equal llama.cpp's on a large mixed text (whole, per line, special tokens as text)`, () => {
    const t = ours.get(name)!;
    const m = theirs.get(name)!;
    assert.equal(t.info.model, 'gpt2');
    const texts = [mixedText, ...lines, mixedText.repeat(3), '<|im_start|>user\nhi<|im_end|> <|eot_id|><think>x</think>'];
    let total = 0;
    for (const text of texts) {
      const a = Array.from(t.encode(text, { bos: false }));
      const b = Array.from(m.tokenize(text, false)).map(Number);
      assert.deepEqual(a, b, `${JSON.stringify(text.slice(0, 60))}: ${firstDifference(a, b)}`);
      total += a.length;
    }
    assert.ok(total > 1500, `compared ${total} tokens`);
  });

  test(`${name}: with special-token parsing, control texts become their tokens as in llama.cpp`, () => {
    const t = ours.get(name)!;
    const m = theirs.get(name)!;
    const text = name === 'llama3'
      ? '<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHello, 世界!<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n'
      : '<|im_start|>system\nYou are helpful.<|im_end|>\n<|im_start|>user\n你好 🎉<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n';
    const a = Array.from(t.encode(text, { bos: false, special: true }));
    const b = Array.from(m.tokenize(text, true)).map(Number);
    assert.deepEqual(a, b, firstDifference(a, b));
  });

  test(`${name}: BOS, EOS and end-of-generation tokens as llama.cpp has them`, () => {
    const t = ours.get(name)!;
    const m = theirs.get(name)!;
    assert.equal(t.bos, Number(m.tokens.bos ?? -1));
    assert.equal(t.eos, Number(m.tokens.eos ?? -1));
    const eot = name === 'llama3' ? '<|eot_id|>' : '<|im_end|>';
    const eotId = Array.from(t.encode(eot, { bos: false, special: true }));
    assert.equal(eotId.length, 1);
    assert.ok(t.eosTokenIds.includes(eotId[0]!), `${eot} (${eotId[0]}) ends generation: ${t.eosTokenIds}`);
    assert.ok(t.eosTokenIds.includes(t.eos));
    for (const id of t.eosTokenIds) assert.ok(m.isEogToken(id as never), `llama.cpp also ends on ${id}`);
    // llama.cpp adds BOS for Llama 3 (add_bos_token) and not for Qwen
    const withBos = Array.from(t.encode('hi'));
    assert.equal(withBos[0] === t.bos, name === 'llama3');
  });

  test(`${name}: decode gives the text back, and streaming never splits a character`, () => {
    const t = ours.get(name)!;
    const ids = t.encode(mixedText, { bos: false });
    assert.equal(t.decode(ids), mixedText);
    const decoder = t.createDecoder();
    let streamed = '';
    for (const id of ids) {
      const piece = decoder.push(id);
      assert.ok(!piece.includes('\ufffd'), `piece of token ${id} is whole characters`);
      streamed += piece;
    }
    streamed += decoder.flush();
    assert.equal(streamed, mixedText);
    // a character split over byte tokens is held until complete
    const emoji = Array.from(t.encode('👨‍👩‍👧', { bos: false }));
    assert.ok(emoji.length > 1);
    const m = theirs.get(name)!;
    assert.equal(m.detokenize(emoji.map((x) => x as never)), '👨‍👩‍👧');
  });
}

test('a tokenizer.ggml.pre this tokenizer does not implement is refused, naming the key and value', async () => {
  const { vocabulary } = bpeFixture('qwen3');
  const path = join(dir, 'unknown-pre.gguf');
  benchModel().writeGguf(path, {
    type: 'f32', architecture: 'qwen3', vocabulary: { ...vocabulary, pre: 'gpt-4o' },
    config: { dim: 64, hiddenDim: 128, nLayers: 1, nHeads: 4, nKvHeads: 2, vocabSize: vocabulary.tokens.length, contextLength: 256, normEps: 1e-6, ropeTheta: 10000 },
    tensors: [],
  });
  await assert.rejects(Tokenizer.load(path), (e: Error & { code?: string }) =>
    e.code === 'ERR_REDRAFTER_UNSUPPORTED' && /tokenizer\.ggml\.pre = "gpt-4o" is not supported/.test(e.message));
});
