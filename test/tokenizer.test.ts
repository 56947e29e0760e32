// The tokenizer through its TypeScript API, against llama.cpp itself (node-llama-cpp 3.21.1 loading the GGUF this
// project writes): identical token ids for hundreds of varied strings, tok512.bin and the GGUF give the same
// tokenizer, decoding inverts encoding, and the incremental decoder only ever emits whole characters.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getLlama, type Llama, type LlamaModel } from 'node-llama-cpp';

import { convertModelFile } from '../lib/model-file.js';
import { Tokenizer } from '../lib/tokenizer.js';
import { fixtures, requireFixtures } from './helpers/fixtures.js';
import { fixedStrings, randomStrings } from './helpers/strings.js';

requireFixtures();

const dir = mkdtempSync(join(tmpdir(), 'redrafter-tokenizer-'));
const gguf = join(dir, 'stories260K.gguf');
let fromBin: Tokenizer;
let fromGguf: Tokenizer;
let llama: Llama;
let reference: LlamaModel;
const strings = [...fixedStrings, ...randomStrings(400, 7)];

before(async () => {
  await convertModelFile({ model: fixtures.stories260K, tokenizer: fixtures.tok512, out: gguf, type: 'f32' });
  fromBin = await Tokenizer.load(fixtures.tok512);
  fromGguf = await Tokenizer.load(gguf);
  llama = await getLlama({ gpu: false, build: 'never', logLevel: 'error' as never });
  reference = await llama.loadModel({ modelPath: gguf });
});

after(async () => {
  await reference?.dispose();
  await llama?.dispose();
  rmSync(dir, { recursive: true, force: true });
});

test('tok512.bin loads with the README vocabulary layout', () => {
  const info = fromBin.info;
  assert.equal(info.format, 'llama2c');
  assert.equal(info.vocabSize, 512);
  assert.equal(info.bos, 1);
  assert.equal(info.eos, 2);
  assert.deepEqual(fromBin.token(0), { text: '<unk>', score: 0, type: 'unknown' });
  assert.equal(fromBin.token(1).type, 'control');
  assert.deepEqual(fromBin.token(3 + 0x41), { text: '<0x41>', score: 0, type: 'byte' });
  assert.equal(fromBin.token(259).text, '▁t');
  assert.equal(fromGguf.info.format, 'gguf');
});

test('our tokenizer from tok512.bin equals our tokenizer from the GGUF, entry by entry', () => {
  assert.equal(fromGguf.vocabSize, fromBin.vocabSize);
  for (let id = 0; id < fromBin.vocabSize; ++id) assert.deepEqual(fromGguf.token(id), fromBin.token(id), `token ${id}`);
  for (const s of strings) assert.deepEqual(fromGguf.encode(s), fromBin.encode(s));
});

test(`llama.cpp tokenizes ${strings.length} varied strings exactly as we do (specials parsed and not)`, () => {
  let compared = 0;
  for (const s of strings) {
    for (const special of [true, false]) {
      const theirs = Array.from(reference.tokenize(s, special));  // node-llama-cpp: no BOS
      const ours = Array.from(fromBin.encode(s, { bos: false, special }));
      assert.deepEqual(ours, theirs, `${JSON.stringify(s.slice(0, 80))} (special ${special})`);
      compared += 1;
    }
    // With BOS: BOS then the same ids.
    assert.deepEqual(Array.from(fromBin.encode(s)), [1, ...Array.from(fromBin.encode(s, { bos: false }))]);
  }
  assert.ok(compared >= 800);
  assert.deepEqual(Array.from(fromBin.encode('')), [1]);
});

// SentencePiece cannot tell a literal "▁" (U+2581) from an escaped space: both decode as a space.
const spaced = (s: string): string => s.replaceAll('\u2581', ' ');

test('decode(encode(text)) === text, and llama.cpp detokenizes our ids to the same text', () => {
  for (const text of strings) {
    const s = spaced(text);
    const ids = fromBin.encode(text);
    assert.equal(fromBin.decode(ids), s, JSON.stringify(s.slice(0, 80)));
    // Without BOS the SentencePiece dummy prefix shows.
    const bare = fromBin.encode(text, { bos: false });
    assert.equal(fromBin.decode(bare), s === '' ? '' : ` ${s}`);
    // llama.cpp strips the dummy prefix of the first piece when the text does not start with BOS.
    if (s !== '') assert.equal(reference.detokenize(Array.from(bare) as never[]), s, JSON.stringify(s.slice(0, 80)));
  }
});

test('the incremental decoder emits whole characters only and adds up to decode()', () => {
  for (const text of strings) {
    const s = spaced(text);
    const ids = fromBin.encode(text);
    const decoder = fromBin.createDecoder();
    let out = '';
    for (const id of ids) {
      const chunk = decoder.push(id);
      assert.ok(!chunk.includes('\ufffd') || s.includes('\ufffd'), `replacement char in ${JSON.stringify(chunk)}`);
      assert.equal(Buffer.from(chunk, 'utf8').toString('utf8'), chunk);
      out += chunk;
    }
    assert.equal(decoder.pending, false);
    out += decoder.flush();
    assert.equal(out, s);
  }
  // An emoji arrives as four byte tokens: nothing comes out until the last.
  const decoder = fromBin.createDecoder(5);
  const bytes = [...Buffer.from('😀', 'utf8')].map((b) => 3 + b);
  assert.deepEqual(bytes.map((b) => decoder.push(b)), ['', '', '', '😀']);
});

test('bad arguments and files give coded errors', async () => {
  assert.throws(() => fromBin.encode(42 as unknown as string), { code: 'ERR_REDRAFTER_INVALID_ARGUMENT' });
  assert.throws(() => fromBin.decode([0, 512]), { code: 'ERR_REDRAFTER_INVALID_ARGUMENT', message: /512/ });
  assert.throws(() => fromBin.decode([1.5]), { code: 'ERR_REDRAFTER_INVALID_ARGUMENT' });
  assert.throws(() => fromBin.createDecoder(9999), { code: 'ERR_REDRAFTER_INVALID_ARGUMENT' });
  assert.throws(() => fromBin.createDecoder().push(-3), { code: 'ERR_REDRAFTER_INVALID_ARGUMENT' });
  await assert.rejects(Tokenizer.load(join(dir, 'missing.bin')), { code: 'ERR_REDRAFTER_IO', message: /missing\.bin/ });
  await assert.rejects(Tokenizer.load(fixtures.stories260K), (e: Error & { code?: string }) => {
    assert.equal(e.code, 'ERR_REDRAFTER_INVALID_MODEL');
    assert.ok(e.message.includes(fixtures.stories260K), e.message);
    return true;
  });
});
