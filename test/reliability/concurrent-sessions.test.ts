// 32 sessions generating at once on one engine give exactly the greedy tokens each gives alone, with and without the
// drafter, whether the engine steps 8 requests together (its default) or all 32. Run in CI (.ci/run).
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { loadEngine } from '../../lib/engine.js';
import type { Prompt } from '../../lib/session.js';
import { fixtures, knownGoodFirstTokens, requireFixtures } from '../helpers/fixtures.js';
import { stories260KDrafter } from '../helpers/drafter.js';

requireFixtures();

const SESSIONS = 32;
const starts = ['', 'Once upon a time', 'The little dog', 'Lily and Ben went to the park. They saw a big tree.', 'One day, a cat',
  'Tom said, "I want to play!"', 'The sun', 'A big red ball'];
// 32 prompts: the starts, and token-id prompts of different lengths (some repeated: equal prompts must agree too)
const prompts: Prompt[] = Array.from({ length: SESSIONS }, (_, i) =>
  i < starts.length ? starts[i]! : i % 5 === 0 ? starts[i % starts.length]! :
    [1, ...Array.from({ length: 1 + (i * 7) % 40 }, (_, k) => 260 + ((i * 31 + k * 17) % 250))]);

for (const withDrafter of [false, true]) {
  for (const maxActiveRequests of [8, SESSIONS]) {
    test(`${SESSIONS} concurrent sessions give the serial greedy tokens (${withDrafter ? 'drafter' : 'no drafter'}, maxActiveRequests ${maxActiveRequests})`, { timeout: 300_000 }, async () => {
      const drafter = withDrafter ? await stories260KDrafter() : null;
      const engine = await loadEngine({ model: fixtures.stories260K, tokenizer: fixtures.tok512, backend: 'cpu', threads: 2, drafter, maxActiveRequests });
      try {
        const maxTokens = (i: number) => 40 + ((i * 13) % 120);
        const serial = [];
        for (const [i, p] of prompts.entries()) serial.push(await engine.createSession().complete(p, { maxTokens: maxTokens(i) }));
        assert.deepEqual(serial[0]!.tokens.slice(0, 10), knownGoodFirstTokens);
        for (let round = 0; round < 2; round++) {
          const together = await Promise.all(prompts.map((p, i) => engine.createSession().complete(p, { maxTokens: maxTokens(i) })));
          for (const [i, r] of together.entries()) {
            assert.deepEqual(r.tokens, serial[i]!.tokens, `session ${i} (round ${round})`);
            assert.equal(r.text, serial[i]!.text);
            assert.equal(r.finishReason, serial[i]!.finishReason);
          }
        }
      } finally {
        await engine.dispose();
      }
    });
  }
}
