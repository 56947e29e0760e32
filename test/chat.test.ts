// Chat (issue 20, item 2): sessions take chat messages, rendered with the model's GGUF tokenizer.chat_template
// (Llama 3's and Qwen 3's real templates and vocabularies, random weights at a small shape); a later turn sends only
// what the template adds after the previous reply, so the KV cache of the earlier turns (their replies' generated
// tokens included) is reused, which the stats show (and a template that renders the earlier turns differently sends
// the whole chat again); <|eot_id|> and <|im_end|> end a turn; `redrafter chat` reads turns from a pipe.
// 20-40 s on a loaded 2-core machine (most of it writing and loading the 128K-152K vocabularies).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { loadEngine } from '../lib/engine.js';
import { Tokenizer } from '../lib/tokenizer.js';
import { fixtures, repoRoot } from './helpers/fixtures.js';
import { bpeFixture } from './helpers/bpe-vocab.js';
import { benchModel } from '../bench/bench-addon.js';
import { randomModelTensors, smallShape, writeRandomModel } from './helpers/random-gguf.js';

const dir = mkdtempSync(join(tmpdir(), 'redrafter-chat-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const llama = join(dir, 'llama3.gguf');
writeRandomModel(llama, { arch: 'llama', vocab: 'llama3', tied: false, seed: 11 });

test('a chat session: the second turn reuses the first turn\'s KV cache and sends only the template\'s new text', async () => {
  await using engine = await loadEngine({ model: llama, backend: 'cpu', threads: 1 });
  const tokenizer = await Tokenizer.load(llama);
  using session = engine.createSession({ beamWidth: 0 });
  const first = [{ role: 'system', content: 'You are terse.' }, { role: 'user', content: 'Hello there!' }];
  const r1 = await session.complete(first, { maxTokens: 6 });
  const afterFirst = session.history;
  // the first turn is the rendered template, BOS written by it (not added twice), control tokens as themselves
  const prompt1 = await engine.encodeChat(first);
  assert.deepEqual(afterFirst.slice(0, prompt1.length), [...prompt1]);
  assert.equal(prompt1.filter((t) => t === tokenizer.bos).length, 1);
  assert.equal(r1.stats.promptTokens, prompt1.length);
  assert.equal(r1.stats.reusedPromptTokens, 0);

  const r2 = await session.complete([{ role: 'user', content: 'And again?' }], { maxTokens: 6 });
  // the whole first turn (prompt and the reply's tokens as generated) is reused, not recomputed: all of it but the
  // reply's last token, which no forward had run yet (it was sampled from the one before)
  assert.equal(r1.finishReason, 'length');
  assert.equal(r2.stats.reusedPromptTokens, afterFirst.length - 1);
  const sent = session.history.slice(afterFirst.length, r2.stats.promptTokens);
  assert.equal(r2.stats.promptTokens, afterFirst.length + sent.length);
  assert.deepEqual(session.history.slice(0, afterFirst.length), afterFirst);
  // what was sent: the end of the reply's turn, then the new user turn and the assistant's header
  const eot = tokenizer.encode('<|eot_id|>', { bos: false, special: true })[0]!;
  assert.equal(sent[0], eot, 'the reply turn is closed with <|eot_id|>');
  assert.deepEqual(sent, [...tokenizer.encode('<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nAnd again?<|eot_id|>' +
    '<|start_header_id|>assistant<|end_header_id|>\n\n', { bos: false, special: true })]);

  // text prompts do not continue a chat; reset() starts a new one
  await session.complete(' plain text', { maxTokens: 2 });
  await assert.rejects(session.complete([{ role: 'user', content: 'x' }]), (e: Error & { code?: string }) =>
    e.code === 'ERR_REDRAFTER_INVALID_ARGUMENT' && /continue a chat.*reset\(\) it first/.test(e.message));
  session.reset();
  const r3 = await session.complete(first, { maxTokens: 6 });
  assert.deepEqual(r3.tokens, r1.tokens, 'a new chat after reset() starts over (greedy: the same reply)');
  assert.throws(() => session.generate([{ role: 'user' }] as never), /prompt\[0\] must be a chat message/);
});

for (const c of [{ vocab: 'llama3', arch: 'llama', end: '<|eot_id|>' }, { vocab: 'qwen3', arch: 'qwen3', end: '<|im_end|>' }] as const) {
  test(`${c.end} ends a ${c.vocab} chat turn, and the next turn's prompt closes the reply with it`, async () => {
    // a model that answers `end` first, always
    const end = [bpeFixture(c.vocab).vocabulary.tokens.indexOf(c.end)];
    assert.ok(end[0]! > 0);
    const path = join(dir, `${c.vocab}-ends.gguf`);
    writeRandomModel(path, { arch: c.arch, vocab: c.vocab, tied: false, seed: 3, favour: end[0] });
    await using engine = await loadEngine({ model: path, backend: 'cpu', threads: 1 });
    assert.ok(engine.codec.eosTokenIds?.includes(end[0]!));
    if (c.vocab === 'llama3') assert.notEqual(engine.codec.eos, end[0], "<|eot_id|> is not the vocabulary's EOS");
    using session = engine.createSession({ beamWidth: 0 });
    const r1 = await session.complete([{ role: 'user', content: 'Hi' }], { maxTokens: 8 });
    assert.equal(r1.finishReason, 'eos');
    assert.deepEqual(r1.tokens, [], 'the end token is not part of the reply');
    const h1 = session.history;
    assert.equal(h1.length, r1.stats.promptTokens, 'nor of the history');
    const r2 = await session.complete([{ role: 'user', content: 'Bye' }], { maxTokens: 8 });
    assert.equal(r2.finishReason, 'eos');
    assert.equal(r2.stats.reusedPromptTokens, h1.length);
    assert.equal(session.history[h1.length], end[0], `the template closes the reply with ${c.end}`);
  });
}

test('redrafter chat reads turns line by line from a pipe: one reply per turn, every turn after the first reusing the KV cache', () => {
  const qwen = join(dir, 'qwen3.gguf');
  writeRandomModel(qwen, { arch: 'qwen3', vocab: 'qwen3', tied: true, seed: 5 });
  const run = (args: string[], input: string) => spawnSync(process.execPath,
    ['--import', 'tsx', join(repoRoot, 'lib/cli/main.ts'), 'chat', '--model', qwen, '--threads', '1', '--max-tokens', '4', ...args],
    { cwd: repoRoot, encoding: 'utf8', input, timeout: 120_000 });
  const r = run(['--json', '--system', 'Be brief.'], 'Hello\n\nHow are you?\nBye\n');
  assert.equal(r.status, 0, r.stderr);
  const turns = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { tokens: number[]; finishReason: string; stats: { promptTokens: number; reusedPromptTokens: number } });
  assert.equal(turns.length, 3, 'one JSON object per non-empty line');
  assert.equal(turns[0]!.stats.reusedPromptTokens, 0);
  for (let i = 1; i < turns.length; ++i) {
    const before = turns[i - 1]!;
    const history = before.stats.promptTokens + before.tokens.length;
    // everything the KV cache held is reused (the previous reply's last token had not been run yet, unless it ended
    // with an end-of-turn token)
    assert.equal(turns[i]!.stats.reusedPromptTokens, history - (before.finishReason === 'length' ? 1 : 0), `turn ${i + 1}`);
    assert.ok(turns[i]!.stats.promptTokens > history);
  }
  // the text form: one line per reply on stdout, a summary per turn on stderr
  const t = run([], 'Hello\nBye\n');
  assert.equal(t.status, 0, t.stderr);
  assert.equal(t.stderr.match(/prompt \d+ tokens, \d+ reused/g)?.length, 2, t.stderr);
  // a model without a chat template is refused with one line
  const noTemplate = spawnSync(process.execPath, ['--import', 'tsx', join(repoRoot, 'lib/cli/main.ts'), 'chat', '--model',
    fixtures.stories260K, '--tokenizer', fixtures.tok512, '--threads', '1'], { cwd: repoRoot, encoding: 'utf8', input: 'Hi\n', timeout: 120_000 });
  assert.equal(noTemplate.status, 1);
  assert.match(noTemplate.stderr, /^redrafter: .*chat template.*\[ERR_REDRAFTER_UNSUPPORTED\]\n$/);
});

test('a template that renders earlier turns differently: the whole chat is sent again, the shared prefix reused', async () => {
  // past replies are written as "[reply]" (as templates that drop past reasoning do): a turn's text is no longer a
  // continuation of the conversation the KV cache holds
  const path = join(dir, 'llama3-forgetful.gguf');
  const { vocabulary } = bpeFixture('llama3');
  benchModel().writeGguf(path, {
    type: 'f32', architecture: 'llama', vocabulary, name: 'forgetful',
    chatTemplate: "{{ bos_token }}{% for m in messages %}{% if m.role == 'assistant' %}<|start_header_id|>assistant<|end_header_id|>" +
      "{% if loop.last %}{{ m.content }}{% else %}[reply]{% endif %}<|eot_id|>{% else %}<|start_header_id|>{{ m.role }}" +
      "<|end_header_id|>{{ m.content }}<|eot_id|>{% endif %}{% endfor %}{% if add_generation_prompt %}" +
      '<|start_header_id|>assistant<|end_header_id|>{% endif %}',
    config: { ...smallShape, nLayers: 1, vocabSize: vocabulary.tokens.length },
    tensors: randomModelTensors({ arch: 'llama', vocab: 'llama3', tied: true, seed: 9, shape: { ...smallShape, nLayers: 1 } }, vocabulary.tokens.length),
  });
  await using engine = await loadEngine({ model: path, backend: 'cpu', threads: 1 });
  using session = engine.createSession({ beamWidth: 0 });
  const first = [{ role: 'user', content: 'Hello' }];
  const r1 = await session.complete(first, { maxTokens: 4 });
  const prompt1 = await engine.encodeChat(first);
  const r2 = await session.complete([{ role: 'user', content: 'Again' }], { maxTokens: 4 });
  const whole = await engine.encodeChat([...first, { role: 'assistant', content: '[reply]' }, { role: 'user', content: 'Again' }]);
  assert.equal(r2.stats.promptTokens, whole.length, 'the whole chat, as the template renders it now');
  assert.deepEqual(session.history.slice(0, whole.length), [...whole]);
  // the first turn's prompt is still reused (up to where the old reply began)
  assert.ok(r2.stats.reusedPromptTokens >= prompt1.length, `${r2.stats.reusedPromptTokens} >= ${prompt1.length}`);
  assert.ok(r2.stats.reusedPromptTokens < prompt1.length + r1.tokens.length);
});
