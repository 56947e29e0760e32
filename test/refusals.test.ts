// Files redrafter does not run (issue 20, items 4 and 6): an unsupported architecture, tensor type or tokenizer model
// is refused at load with one line naming the key and its value (code ERR_REDRAFTER_UNSUPPORTED), and `redrafter
// inspect` says the same (the native loaders' verdict, not a copy of their rules) besides what the file is:
// architecture, tokenizer model and pre-tokenizer, chat template, tensor types. The unsupported files are runnable
// ones with one value changed in place. About 5 s.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { benchModel } from '../bench/bench-addon.js';
import { loadEngine } from '../lib/engine.js';
import { inspectModelFile } from '../lib/model-file.js';
import { fixtures, repoRoot, requireFixtures } from './helpers/fixtures.js';
import { randomModelTensors, smallShape, writeRandomModel } from './helpers/random-gguf.js';

requireFixtures();

const dir = mkdtempSync(join(tmpdir(), 'redrafter-refusals-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Rewrites the string value of metadata `key` in place (same length). */
function patchString(file: string, key: string, value: string): void {
  const b = readFileSync(file);
  const at = b.indexOf(Buffer.from(key)) + key.length;
  assert.equal(b.readUInt32LE(at), 8, `${key} is a string`);
  const length = Number(b.readBigUInt64LE(at + 4));
  assert.equal(length, Buffer.byteLength(value), `${key}'s value has ${length} bytes`);
  b.write(value, at + 12, 'utf8');
  writeFileSync(file, b);
}

/** Rewrites the ggml type of tensor `name` in place (a smaller type: its data still lies within the file). */
function patchTensorType(file: string, name: string, type: number): void {
  const b = readFileSync(file);
  const at = b.indexOf(Buffer.from(name)) + name.length;
  const dims = b.readUInt32LE(at);
  b.writeUInt32LE(type, at + 4 + 8 * dims);
  writeFileSync(file, b);
}

// a small llama with the SentencePiece tok512 vocabulary, and its unsupported variants
const llama = join(dir, 'llama-tok512.gguf');
benchModel().writeGguf(llama, {
  type: 'f32', architecture: 'llama', tokenizer: fixtures.tok512,
  config: { ...smallShape, vocabSize: 512 },
  tensors: randomModelTensors({ arch: 'llama', vocab: 'llama3', tied: false, seed: 1 }, 512),
});
const mamba = join(dir, 'mamba.gguf');
copyFileSync(llama, mamba);
patchString(mamba, 'general.architecture', 'mamba');
const q51 = join(dir, 'q5_1.gguf');
copyFileSync(llama, q51);
patchTensorType(q51, 'blk.0.attn_q.weight', 7);  // GGML_TYPE_Q5_1
// Qwen 3 (real vocabulary, template and wider heads) and its tokenizer model changed to BERT's
const qwen = join(dir, 'qwen3.gguf');
writeRandomModel(qwen, { arch: 'qwen3', vocab: 'qwen3', tied: true, seed: 2, headDim: 32, shape: { ...smallShape, nLayers: 1 } });
const bert = join(dir, 'bert-vocab.gguf');
copyFileSync(qwen, bert);
patchString(bert, 'tokenizer.ggml.model', 'bert');

const refusals: [file: string, what: string, message: RegExp][] = [
  [mamba, 'an architecture', /general\.architecture = "mamba" is not supported \(supported: llama, qwen2, qwen3\)/],
  [q51, 'a tensor type', /tensor 'blk\.0\.attn_q\.weight' has type q5_1 \(supported: /],
  [bert, 'a tokenizer model', /tokenizer\.ggml\.model = "bert" is not supported \(supported: llama, gpt2\)/],
];

for (const [file, what, message] of refusals) {
  test(`${what} redrafter does not run is refused at load with one line naming the key and value`, async () => {
    await assert.rejects(loadEngine({ model: file, backend: 'cpu', threads: 1 }), (e: Error & { code?: string }) => {
      assert.equal(e.code, 'ERR_REDRAFTER_UNSUPPORTED', e.message);
      assert.match(e.message, message);
      assert.ok(e.message.startsWith(file), e.message);
      assert.ok(!e.message.includes('\n'), 'one line');
      return true;
    });
    const s = await inspectModelFile(file);
    assert.equal(s.runnable, false);
    assert.match(s.unsupported ?? '', message, 'inspect gives the loader\'s reason');
  });
}

test('inspect: architecture, tokenizer model and pre-tokenizer, chat template, tensor types, and whether it runs', async () => {
  const s = await inspectModelFile(qwen);
  assert.equal(s.runnable, true);
  assert.equal(s.unsupported, null);
  assert.deepEqual([s.architecture, s.tokenizerModel, s.tokenizerPre, s.chatTemplate], ['qwen3', 'gpt2', 'qwen2', true]);
  assert.equal(s.config?.headDim, 32);
  const l = await inspectModelFile(llama);
  assert.deepEqual([l.architecture, l.tokenizerModel, l.tokenizerPre, l.chatTemplate, l.runnable], ['llama', 'llama', null, false, true]);
  const m = await inspectModelFile(mamba);
  assert.equal(m.architecture, 'mamba');

  const cli = (file: string) => spawnSync(process.execPath, ['--import', 'tsx', join(repoRoot, 'lib/cli/main.ts'), 'inspect', file],
    { cwd: repoRoot, encoding: 'utf8', timeout: 60_000 });
  const ok = cli(qwen);
  assert.equal(ok.status, 0, ok.stderr);
  assert.match(ok.stdout, /^architecture: qwen3$/m);
  assert.match(ok.stdout, /^tokenizer model: gpt2, pre-tokenizer qwen2; chat template: yes$/m);
  assert.match(ok.stdout, /^runs: yes$/m);
  assert.match(ok.stdout, /^tensors: \d+, .*: \d+ f32 \(/m);
  const no = cli(q51);
  assert.equal(no.status, 0, no.stderr);
  assert.match(no.stdout, /^runs: no: tensor 'blk\.0\.attn_q\.weight' has type q5_1/m);
  assert.match(no.stdout, /^tensors: \d+, .*, 1 q5_1 \(/m, 'counts per type');
  const arch = cli(mamba);
  assert.match(arch.stdout, /^architecture: mamba$/m);
  assert.match(arch.stdout, /^runs: no: general\.architecture = "mamba" is not supported/m);
  const tok = cli(bert);
  assert.match(tok.stdout, /^tokenizer model: bert, pre-tokenizer qwen2; chat template: yes$/m);
  assert.match(tok.stdout, /^runs: no: tokenizer\.ggml\.model = "bert" is not supported/m);
});
