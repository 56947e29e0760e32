// Unknown option names (issue 18, item 9): loadEngine, createSession and generate refuse a name they do not know with
// a TypeError (ERR_REDRAFTER_INVALID_ARGUMENT) naming it and the closest valid name; 'auto' still drops the other
// backend's (known) options.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { cpuOptionKeys } from '../lib/backend-select.js';
import { loadEngine, loadEngineOptionNames } from '../lib/engine.js';
import { closestName, generateOptionNames, sessionOptionNames } from '../lib/generation-options.js';
import { trtLlmOptionKeys } from '../lib/trtllm/engine.js';
import { fixtures, requireFixtures } from './helpers/fixtures.js';

requireFixtures();

function unknownOption(key: string, suggestion?: string) {
  return (e: unknown) => {
    assert.ok(e instanceof TypeError, String(e));
    assert.equal((e as { code?: string }).code, 'ERR_REDRAFTER_INVALID_ARGUMENT');
    assert.ok(e.message.startsWith(`${key} is not a`), e.message);
    if (suggestion) assert.ok(e.message.includes(`did you mean ${suggestion}?`), e.message);
    else assert.ok(!e.message.includes('did you mean'), e.message);
    return true;
  };
}

test('closestName: misspellings, snake_case and case differences find the name; unrelated words find none', () => {
  assert.equal(closestName('temprature', generateOptionNames), 'temperature');
  assert.equal(closestName('max_tokens', generateOptionNames), 'maxTokens');
  assert.equal(closestName('MAXTOKENS', generateOptionNames), 'maxTokens');
  assert.equal(closestName('top_p', generateOptionNames), 'topP');
  assert.equal(closestName('beam_width', sessionOptionNames), 'beamWidth');
  assert.equal(closestName('numThreads', loadEngineOptionNames), 'threads');
  assert.equal(closestName('banana', generateOptionNames), undefined);
});

test('loadEngine knows every option of every backend (the lists backend-select.ts splits them by)', () => {
  for (const key of [...cpuOptionKeys, ...trtLlmOptionKeys]) assert.ok((loadEngineOptionNames as readonly string[]).includes(key), key);
  assert.ok((loadEngineOptionNames as readonly string[]).includes('device'));
});

test('unknown option names are refused, with the closest valid name', async () => {
  const base = { model: fixtures.stories260K, tokenizer: fixtures.tok512, backend: 'cpu' as const, threads: 1, drafter: null };
  await assert.rejects(loadEngine({ ...base, thread: 1 } as never), unknownOption('thread', 'threads'));
  await assert.rejects(loadEngine({ ...base, context_length: 64 } as never), unknownOption('context_length', 'contextLength'));
  await assert.rejects(loadEngine({ ...base, colour: 'red' } as never), unknownOption('colour'));
  // 'auto' drops another backend's known options; an explicit backend refuses them (as before)
  await (await loadEngine({ ...base, backend: 'auto', freeGpuMemoryFraction: 0.5 })).dispose();
  await assert.rejects(loadEngine({ ...base, freeGpuMemoryFraction: 0.5 }), /freeGpuMemoryFraction is not an option of the cpu backend/);

  await using engine = await loadEngine(base);
  assert.throws(() => engine.createSession({ beam_width: 2 } as never), unknownOption('beam_width', 'beamWidth'));
  assert.throws(() => engine.createSession({ adaptive: true } as never), unknownOption('adaptive', 'adaptiveDraft'));
  const session = engine.createSession();
  assert.throws(() => session.generate('x', { temprature: 0.5 } as never), unknownOption('temprature', 'temperature'));
  assert.throws(() => session.generate('x', { max_tokens: 5 } as never), unknownOption('max_tokens', 'maxTokens'));
  assert.throws(() => session.generate('x', { maxTokens: 5, stopStrings: ['.'] } as never), unknownOption('stopStrings', 'stop'));
  await assert.rejects(session.complete('x', { topk: 3 } as never), unknownOption('topk', 'topK'));
  await assert.rejects(session.complete('x', { banana: 1 } as never), (e: Error) => {
    unknownOption('banana')(e);
    assert.match(e.message, /valid: maxTokens, temperature/);
    return true;
  });
  // an undefined value is still an unknown name; nothing was generated
  assert.throws(() => session.generate('x', { max_tokens: undefined } as never), unknownOption('max_tokens', 'maxTokens'));
  assert.deepEqual(session.history, []);
  assert.equal((await session.complete('', { maxTokens: 3 })).tokens.length, 3);
});
