// A short load test of redrafter serve on the CPU engine (stories260K and its drafter): 16 concurrent streaming
// clients through the openai client, a few hundred requests; no errors, and every greedy (and seeded) output is the
// one the same request gets when it is served alone. The large run (64 clients, 10k requests) is bench/serve-load.ts.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';

import { startServer, type RedrafterServer } from '../lib/server/server.js';
import { fixtures, requireFixtures } from './helpers/fixtures.js';
import { stories260KDrafter } from './helpers/drafter.js';

requireFixtures();

const dir = mkdtempSync(join(tmpdir(), 'redrafter-serve-load-'));
const chatTemplate = join(dir, 'chat.jinja');
writeFileSync(chatTemplate, '{% for m in messages %}{{ bos_token }}{{ m.role }}: {{ m.content }}\n{% endfor %}{% if add_generation_prompt %}assistant:{% endif %}');

let server: RedrafterServer;
let client: OpenAI;

before(async () => {
  server = await startServer({
    model: fixtures.stories260K, tokenizer: fixtures.tok512, drafter: await stories260KDrafter(), backend: 'cpu', threads: 2,
    host: '127.0.0.1', port: 0, parallel: 8, maxQueue: 64, chatTemplate,
  });
  await server.ready;
  client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'unused', maxRetries: 0 });
});
after(async () => {
  await server.shutdown();
  rmSync(dir, { recursive: true, force: true });
});

interface Req {
  chat: boolean;
  prompt: string;
  max_tokens: number;
  temperature: number;
  seed?: number;
}

const starts = ['Once upon a time', 'The little dog', 'Lily and Ben went to the park.', 'One day, a cat', 'Tom said, "I want to play!"',
  'The sun was', 'A big red ball', 'Sara had a doll', 'The bird sang', 'Max was a good boy', 'In the forest', 'Mom said'];

/** The distinct requests: greedy completions and chats of several lengths, and a few seeded samples. */
function distinctRequests(): Req[] {
  const out: Req[] = [];
  for (const [i, prompt] of starts.entries()) {
    out.push({ chat: false, prompt, max_tokens: [8, 32, 96][i % 3]!, temperature: 0 });
    out.push({ chat: i % 2 === 0, prompt, max_tokens: [64, 16][i % 2]!, temperature: 0 });
    if (i % 4 === 0) out.push({ chat: false, prompt, max_tokens: 24, temperature: 0.8, seed: i });
  }
  return out;
}

/** One streamed request: its text and finish reason. */
async function run(r: Req): Promise<{ text: string; finish: string | null; tokens: number }> {
  let text = '';
  let finish: string | null = null;
  let tokens = 0;
  const common = { model: 'stories260K', max_tokens: r.max_tokens, temperature: r.temperature, seed: r.seed, stream: true as const, stream_options: { include_usage: true } };
  if (r.chat) {
    for await (const c of await client.chat.completions.create({ ...common, messages: [{ role: 'user', content: r.prompt }] })) {
      for (const ch of c.choices) {
        text += ch.delta.content ?? '';
        finish = ch.finish_reason ?? finish;
      }
      if (c.usage) tokens = c.usage.completion_tokens;
    }
  } else {
    for await (const c of await client.completions.create({ ...common, prompt: r.prompt })) {
      for (const ch of c.choices) {
        text += ch.text;
        finish = ch.finish_reason ?? finish;
      }
      if (c.usage) tokens = c.usage.completion_tokens;
    }
  }
  return { text, finish, tokens };
}

test('16 concurrent streaming clients, 320 requests: no errors, each output identical to the request served alone', async () => {
  const requests = distinctRequests();
  const alone: Awaited<ReturnType<typeof run>>[] = [];
  for (const r of requests) alone.push(await run(r));
  assert.ok(alone.every((a) => a.text.length > 0 && a.tokens > 0));
  const draftsBefore = await metric('redrafter:spec_decode_num_drafts_total');

  const total = 320;
  const clients = 16;
  let next = 0;
  let errors = 0;
  const mismatches: string[] = [];
  let maxRunning = 0;
  const watch = setInterval(async () => {
    maxRunning = Math.max(maxRunning, await metric('redrafter:num_requests_running'));
  }, 20);
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (next < total) {
        const k = next++;
        const i = (k * 7) % requests.length;  // a fixed interleaving of the distinct requests
        try {
          const got = await run(requests[i]!);
          if (got.text !== alone[i]!.text || got.finish !== alone[i]!.finish || got.tokens !== alone[i]!.tokens)
            mismatches.push(`request ${i} ${JSON.stringify(requests[i])}: ${JSON.stringify(got.text)} vs ${JSON.stringify(alone[i]!.text)}`);
        } catch (err) {
          ++errors;
          mismatches.push(`request ${i}: ${(err as Error).message}`);
        }
      }
    }),
  );
  clearInterval(watch);
  assert.equal(errors, 0, mismatches.join('\n'));
  assert.deepEqual(mismatches, []);
  assert.ok(maxRunning > 1, `requests were batched (at most ${maxRunning} running at once)`);
  assert.ok((await metric('redrafter:spec_decode_num_drafts_total')) > draftsBefore, 'the drafter drafted');
  assert.equal(await metric('redrafter:num_requests_running'), 0);
  assert.equal(await metric('redrafter:num_requests_waiting'), 0);
});

async function metric(line: string): Promise<number> {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  const found = text.split('\n').find((l) => l.startsWith(line + ' '));
  return found ? Number(found.slice(line.length + 1)) : 0;
}
