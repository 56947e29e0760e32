// redrafter serve on the real stories260K model and its drafter: the official openai client (completions and chat,
// streaming and not) against the engine's own output, raw HTTP for every kind of bad input, disconnects, the queue
// limit, metrics, and the CLI's SIGTERM shutdown.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';

import type { Engine } from '../lib/engine.js';
import { convertModelFile } from '../lib/model-file.js';
import { startServer, type RedrafterServer, type ServerOptions } from '../lib/server/server.js';
import type { Tokenizer } from '../lib/tokenizer.js';
import { fixtures, repoRoot, requireFixtures } from './helpers/fixtures.js';
import { stories260KDrafter } from './helpers/drafter.js';

requireFixtures();

const dir = mkdtempSync(join(tmpdir(), 'redrafter-serve-test-'));
// A chat template in the Hugging Face format (stories260K has none of its own).
const chatTemplate = join(dir, 'chat.jinja');
writeFileSync(chatTemplate,
  '{% for m in messages %}{% if m.role == "user" %}{{ bos_token }}User: {{ m.content }}\n' +
  '{% elif m.role == "assistant" %}Assistant: {{ m.content }}{{ eos_token }}\n{% else %}{{ m.content }}\n{% endif %}' +
  '{% endfor %}{% if add_generation_prompt %}Assistant:{% endif %}');

let drafter: string;
let server: RedrafterServer;
let client: OpenAI;

async function serve(options: Partial<ServerOptions>): Promise<RedrafterServer> {
  const s = await startServer({
    model: fixtures.stories260K, tokenizer: fixtures.tok512, drafter, backend: 'cpu', threads: 1, host: '127.0.0.1', port: 0,
    ...options,
  });
  await s.ready;
  return s;
}

before(async () => {
  drafter = await stories260KDrafter();
  server = await serve({ chatTemplate, parallel: 8, bodyLimit: 64 * 1024 });
  client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'unused', maxRetries: 0 });
});
after(async () => {
  await server.shutdown();
  rmSync(dir, { recursive: true, force: true });
});

/** The engine's own greedy output without a drafter, on a fresh session. */
async function plainGreedy(engine: Engine, prompt: string | number[], maxTokens: number) {
  const session = engine.createSession({ beamWidth: 0 });
  try {
    return await session.complete(prompt, { maxTokens });
  } finally {
    session.dispose();
  }
}

async function post(s: RedrafterServer, path: string, body: unknown, headers: Record<string, string> = {}) {
  const r = await fetch(`${s.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: r.status, body: (await r.json()) as { error?: { message: string; type: string; param: string | null; code: string | null } } & Record<string, unknown> };
}

async function metric(s: RedrafterServer, line: string): Promise<number> {
  const text = await (await fetch(`${s.url}/metrics`)).text();
  const found = text.split('\n').find((l) => l.startsWith(line + ' '));
  return found ? Number(found.slice(line.length + 1)) : 0;
}

test('completions through the openai client: greedy text equals the engine alone (plain decoding), streamed or not; usage and drafting stats', async () => {
  const engine = server.engine!;
  const expected = await plainGreedy(engine, 'Once upon a time', 60);
  const r = await client.completions.create({ model: 'stories260K', prompt: 'Once upon a time', max_tokens: 60, temperature: 0 });
  assert.equal(r.object, 'text_completion');
  assert.equal(r.choices.length, 1);
  assert.equal(r.choices[0].text, expected.text);
  assert.equal(r.choices[0].finish_reason, 'length');
  assert.deepEqual(r.usage, { prompt_tokens: expected.stats.promptTokens, completion_tokens: 60, total_tokens: expected.stats.promptTokens + 60 });
  const x = (r as unknown as { redrafter: Record<string, number> }).redrafter;
  assert.equal(x.beam_width, 1);
  assert.ok(x.drafts > 0 && x.drafts === x.decoding_steps, JSON.stringify(x));
  assert.equal(x.draft_tokens, x.drafts * (x.beam_length - 1));
  assert.ok(x.accepted_tokens > 0 && x.accepted_tokens <= x.draft_tokens, JSON.stringify(x));
  assert.equal(x.decoding_steps + x.accepted_tokens, 60 - 1, 'each step emits its own token plus the accepted drafts');

  const stream = await client.completions.create({
    model: 'stories260K', prompt: 'Once upon a time', max_tokens: 60, temperature: 0, stream: true, stream_options: { include_usage: true },
  });
  let text = '';
  let finish: string | null = null;
  let usage: OpenAI.CompletionUsage | null | undefined;
  let chunks = 0;
  for await (const c of stream) {
    ++chunks;
    if (c.usage) usage = c.usage;
    for (const ch of c.choices) {
      text += ch.text;
      finish = ch.finish_reason ?? finish;
    }
  }
  assert.ok(chunks > 3, 'the text arrives in several events');
  assert.equal(text, expected.text);
  assert.equal(finish, 'length');
  assert.equal(usage?.completion_tokens, 60);

  // token-id prompts, and several prompts in one request (choice index = prompt)
  const ids = await plainGreedy(engine, [1, 450, 260, 270], 20);
  const multi = await client.completions.create({ model: 'stories260K', prompt: [[1, 450, 260, 270], [1, 300, 301]], max_tokens: 20, temperature: 0 });
  assert.equal(multi.choices.length, 2);
  assert.equal(multi.choices[0].text, ids.text);
  assert.equal(multi.choices[1].text, (await plainGreedy(engine, [1, 300, 301], 20)).text);
});

test('chat completions with a --chat-template file: the rendered conversation is the prompt; streaming gives the same text', async () => {
  const engine = server.engine!;
  const rendered = '<s>User: Tell me a story about a cat\nAssistant: Once there was a cat.</s>\n<s>User: And then?\nAssistant:';
  const prompt = Array.from((engine.codec as Tokenizer).encode(rendered, { bos: false, special: true }));
  assert.equal(prompt.filter((t) => t === engine.codec.bos).length, 2, 'the template wrote BOS twice');
  const expected = await plainGreedy(engine, prompt, 40);
  const messages: OpenAI.ChatCompletionMessageParam[] = [
    { role: 'user', content: 'Tell me a story about a cat' },
    { role: 'assistant', content: 'Once there was a cat.' },
    { role: 'user', content: [{ type: 'text', text: 'And ' }, { type: 'text', text: 'then?' }] },
  ];
  const r = await client.chat.completions.create({ model: 'stories260K', messages, max_completion_tokens: 40, temperature: 0 });
  assert.equal(r.object, 'chat.completion');
  assert.equal(r.choices[0].message.role, 'assistant');
  assert.equal(r.choices[0].message.content, expected.text);
  assert.equal(r.usage?.prompt_tokens, prompt.length);
  assert.equal(r.usage?.completion_tokens, expected.tokens.length);

  const stream = await client.chat.completions.create({ model: 'stories260K', messages, max_tokens: 40, temperature: 0, stream: true });
  let text = '';
  let role: string | undefined;
  let finish: string | null = null;
  for await (const c of stream) {
    assert.equal(c.object, 'chat.completion.chunk');
    for (const ch of c.choices) {
      role ??= ch.delta.role;
      text += ch.delta.content ?? '';
      finish = ch.finish_reason ?? finish;
    }
  }
  assert.equal(role, 'assistant');
  assert.equal(text, expected.text);
  assert.equal(finish, 'length');
});

test("chat completions with the GGUF's own tokenizer.chat_template (longer than a metadata summary shows)", async () => {
  const gguf = join(dir, 'stories260K-chat.gguf');
  const source = `{#- ${'a template long enough to be cut by any summary of metadata. '.repeat(10)} -#}` + readFileSync(chatTemplate, 'utf8');
  await convertModelFile({ model: fixtures.stories260K, tokenizer: fixtures.tok512, out: gguf, type: 'f32', chatTemplate: source });
  const s = await serve({ model: gguf, tokenizer: undefined, drafter: undefined, parallel: 2 });
  try {
    const engine = s.engine!;
    const messages = [{ role: 'user', content: 'Tell me a story about a cat' }];
    const prompt = Array.from(await engine.encodeChat(messages));
    const rendered = (engine.codec as Tokenizer).encode('<s>User: Tell me a story about a cat\nAssistant:', { bos: false, special: true });
    assert.deepEqual(prompt, Array.from(rendered));
    const expected = await plainGreedy(engine, prompt, 24);
    const c = new OpenAI({ baseURL: `${s.url}/v1`, apiKey: 'unused', maxRetries: 0 });
    const r = await c.chat.completions.create({ model: 'stories260K-chat', messages: [{ role: 'user', content: 'Tell me a story about a cat' }], max_tokens: 24, temperature: 0 });
    assert.equal(r.choices[0].message.content, expected.text);
  } finally {
    await s.shutdown();
  }
});

test('stop strings, seeds and n: stop ends before the string; a seed reproduces its sample; n choices differ by seed', async () => {
  const free = await client.completions.create({ model: 'stories260K', prompt: 'Once upon a time', max_tokens: 60, temperature: 0 });
  const full = free.choices[0].text;
  const stop = full.slice(20, 24);
  const cut = await client.completions.create({ model: 'stories260K', prompt: 'Once upon a time', max_tokens: 60, temperature: 0, stop: [stop, 'never appears'] });
  assert.equal(cut.choices[0].finish_reason, 'stop');
  assert.equal(cut.choices[0].text, full.slice(0, full.indexOf(stop)));

  const sampled = { model: 'stories260K', prompt: 'The little dog', max_tokens: 30, temperature: 1, top_p: 0.9, top_k: 40, seed: 7 };
  const a = await client.completions.create(sampled);
  const b = await client.completions.create(sampled);
  assert.equal(a.choices[0].text, b.choices[0].text);
  const n = await client.completions.create({ ...sampled, n: 3 });
  assert.equal(n.choices.length, 3);
  assert.deepEqual(n.choices.map((c) => c.index), [0, 1, 2]);
  assert.equal(n.choices[0].text, a.choices[0].text, 'choice 0 uses the seed, choice i seed + i');
  assert.ok(new Set(n.choices.map((c) => c.text)).size > 1, 'the choices are different samples');
  assert.equal(n.usage?.prompt_tokens, a.usage?.prompt_tokens, 'the prompt is counted once');
  assert.ok(n.usage!.completion_tokens > a.usage!.completion_tokens && n.usage!.completion_tokens <= 3 * 30);
});

test('GET /v1/models, /health and /metrics: the model card, ok, and counters named as vLLM names them under redrafter:', async () => {
  const models = await client.models.list();
  assert.deepEqual(models.data.map((m) => m.id), ['stories260K']);
  assert.equal((await client.models.retrieve('stories260K')).id, 'stories260K');
  const health = await fetch(`${server.url}/health`);
  assert.equal(health.status, 200);
  assert.deepEqual(await health.json(), { status: 'ok' });

  const before = await metric(server, 'redrafter:spec_decode_num_drafts_total');
  const r = await post(server, '/v1/completions', { prompt: 'Lily and Ben', max_tokens: 40, temperature: 0 });
  const x = r.body.redrafter as Record<string, number>;
  assert.equal(await metric(server, 'redrafter:spec_decode_num_drafts_total') - before, x.drafts);
  const text = await (await fetch(`${server.url}/metrics`)).text();
  for (const name of [
    'redrafter:num_requests_running', 'redrafter:num_requests_waiting', 'redrafter:spec_decode_num_draft_tokens_total',
    'redrafter:spec_decode_num_accepted_tokens_total', 'redrafter:spec_decode_num_accepted_tokens_per_pos_total{position="0"}',
    'redrafter:time_to_first_token_seconds_count', 'redrafter:e2e_request_latency_seconds_count', 'redrafter:generation_tokens_total',
    'redrafter:prompt_tokens_total', 'redrafter:avg_generation_throughput_toks_per_s', 'redrafter:request_success_total{finished_reason="length"}',
    'redrafter:http_requests_total{endpoint="/v1/completions",status="200"}',
  ])
    assert.match(text, new RegExp(`^${name.replace(/[{}"]/g, '\\$&')} `, 'm'), name);
  assert.ok(await metric(server, 'redrafter:spec_decode_num_accepted_tokens_total') > 0);
  assert.ok(await metric(server, 'redrafter:time_to_first_token_seconds_count') >= 1);
});

test('bad input: 400 naming the field (types, ranges, unsupported fields, context length), 404, 413; the engine keeps serving', async () => {
  const ok = { prompt: 'Once', max_tokens: 5 };
  const cases: [unknown, string | null, RegExp][] = [
    ['{"prompt": "x",', null, /not valid JSON/],
    ['[1, 2]', null, /JSON object/],
    [{ max_tokens: 5 }, 'prompt', /required/],
    [{ prompt: 5 }, 'prompt', /string/],
    [{ prompt: [] }, 'prompt', /empty/],
    [{ prompt: [1, 512] }, 'prompt[1]', /token id in \[0, 511\]/],
    [{ ...ok, temperature: 'hot' }, 'temperature', /number/],
    [{ ...ok, temperature: 3 }, 'temperature', /\[0, 2\]/],
    [{ ...ok, top_p: 0 }, 'top_p', /\(0, 1\]/],
    [{ ...ok, top_k: 1.5 }, 'top_k', /integer/],
    [{ ...ok, max_tokens: 0 }, 'max_tokens', /\[1,/],
    [{ ...ok, seed: -1 }, 'seed', /\[0,/],
    [{ ...ok, n: 9 }, 'n', /at most 8/],
    [{ ...ok, stop: [''] }, 'stop[0]', /empty/],
    [{ ...ok, stop: 3 }, 'stop', /string/],
    [{ ...ok, stream: 'yes' }, 'stream', /boolean/],
    [{ ...ok, stream_options: { include_usage: true } }, 'stream_options', /stream: true/],
    [{ ...ok, logprobs: 2 }, 'logprobs', /not supported/],
    [{ ...ok, frequency_penalty: 0.5 }, 'frequency_penalty', /not supported/],
    [{ ...ok, echo: true }, 'echo', /not supported/],
    [{ ...ok, model: 7 }, 'model', /string/],
    [{ prompt: 'Once upon a time', max_tokens: 510 }, 'max_tokens', /maximum context length is 512 tokens/],
    [{ prompt: Array(600).fill(300) }, 'prompt', /maximum context length is 512 tokens/],
  ];
  for (const [body, param, message] of cases) {
    const r = await post(server, '/v1/completions', body);
    assert.equal(r.status, 400, JSON.stringify(body).slice(0, 80));
    assert.equal(r.body.error?.type, 'invalid_request_error');
    assert.equal(r.body.error?.param, param, JSON.stringify(r.body));
    assert.match(r.body.error!.message, message);
  }
  const chat: [unknown, string, RegExp][] = [
    [{ messages: 'hi' }, 'messages', /array/],
    [{ messages: [] }, 'messages', /empty/],
    [{ messages: [{ content: 'hi' }] }, 'messages[0].role', /string/],
    [{ messages: [{ role: 'user', content: 5 }] }, 'messages[0].content', /string/],
    [{ messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'x' } }] }] }, 'messages[0].content[0].type', /only "text"/],
    [{ messages: [{ role: 'user', content: 'hi' }], tools: [{ type: 'function', function: { name: 'f' } }] }, 'tools', /not supported/],
    [{ messages: [{ role: 'user', content: 'hi' }], max_completion_tokens: -3 }, 'max_completion_tokens', /\[1,/],
    [{ messages: [{ role: 'user', content: 'hi' }], response_format: { type: 'json_object' } }, 'response_format', /not supported/],
  ];
  for (const [body, param, message] of chat) {
    const r = await post(server, '/v1/chat/completions', body);
    assert.equal(r.status, 400, JSON.stringify(body));
    assert.equal(r.body.error?.param, param, JSON.stringify(r.body));
    assert.match(r.body.error!.message, message);
  }
  // unsupported fields at their defaults, null fields and names outside the API are accepted
  const defaults = await post(server, '/v1/chat/completions', {
    messages: [{ role: 'user', content: 'hi' }], max_tokens: 3, frequency_penalty: 0, presence_penalty: 0, logprobs: false,
    tools: [], logit_bias: {}, response_format: { type: 'text' }, seed: null, user: 'me', cache_prompt: true, min_p: 0.1,
  });
  assert.equal(defaults.status, 200, JSON.stringify(defaults.body));

  const unknownModel = await post(server, '/v1/completions', { ...ok, model: 'gpt-4o' });
  assert.equal(unknownModel.status, 404);
  assert.equal(unknownModel.body.error?.code, 'model_not_found');
  assert.equal((await fetch(`${server.url}/v1/embeddings`, { method: 'POST' })).status, 404);
  const big = await post(server, '/v1/completions', { prompt: 'x'.repeat(100 * 1024) });
  assert.equal(big.status, 413);
  assert.match(big.body.error!.message, /larger than the limit/);
  const wrongType = await fetch(`${server.url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'text/xml' }, body: '<a/>' });
  assert.equal(wrongType.status, 415);

  const engine = server.engine!;
  const after = await client.completions.create({ model: 'stories260K', prompt: 'Once', max_tokens: 20, temperature: 0 });
  assert.equal(after.choices[0].text, (await plainGreedy(engine, 'Once', 20)).text);
});

test('a model without a chat template: chat is 400 saying so; an API key is required on /v1 (401), not on /health', async () => {
  const s = await serve({ apiKey: 'sekret', parallel: 2 });
  try {
    const noKey = await post(s, '/v1/completions', { prompt: 'x', max_tokens: 1 });
    assert.equal(noKey.status, 401);
    assert.equal(noKey.body.error?.code, 'invalid_api_key');
    const wrong = new OpenAI({ baseURL: `${s.url}/v1`, apiKey: 'sekreT', maxRetries: 0 });
    await assert.rejects(wrong.models.list(), (e: unknown) => e instanceof OpenAI.AuthenticationError);
    assert.equal((await fetch(`${s.url}/health`)).status, 200);
    const right = new OpenAI({ baseURL: `${s.url}/v1`, apiKey: 'sekret', maxRetries: 0 });
    assert.equal((await right.completions.create({ model: 'stories260K', prompt: 'x', max_tokens: 2 })).choices.length, 1);
    await assert.rejects(
      right.chat.completions.create({ model: 'stories260K', messages: [{ role: 'user', content: 'hi' }] }),
      (e: unknown) => e instanceof OpenAI.BadRequestError && /no chat template.*--chat-template/.test(e.message),
    );
  } finally {
    await s.shutdown();
  }
});

/** A streaming request over raw HTTP that calls `onFirstData` with its request once the first event arrives. */
function streamRequest(s: RedrafterServer, body: unknown, onFirstData?: (req: ReturnType<typeof httpRequest>) => void) {
  return new Promise<{ status: number; text: string }>((resolve, reject) => {
    const req = httpRequest(`${s.url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' } }, (res) => {
      let text = '';
      let first = true;
      res.setEncoding('utf8');
      res.on('data', (d: string) => {
        text += d;
        if (first) onFirstData?.(req);
        first = false;
      });
      res.on('end', () => resolve({ status: res.statusCode!, text }));
      res.on('error', () => resolve({ status: res.statusCode!, text }));
    });
    req.on('error', (e) => (req.destroyed ? resolve({ status: 0, text: '' }) : reject(e)));
    req.end(JSON.stringify(body));
  });
}

async function until(what: string, f: () => Promise<boolean>, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await f())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

test('a client that disconnects aborts its generations at once; beyond --parallel requests queue, beyond the queue 429', async () => {
  const s = await serve({ parallel: 2, maxQueue: 1 });
  try {
    // two sampled choices up to the context take seconds here; the disconnect ends them within a step
    const long = { prompt: 'Once', max_tokens: 500, temperature: 1, seed: 1, stream: true };
    let disconnected = 0;
    await streamRequest(s, { ...long, n: 2 }, (req) => {
      disconnected = performance.now();
      req.destroy();
    });
    await until('the aborted choices to end', async () => (await metric(s, 'redrafter:request_success_total{finished_reason="abort"}')) === 2);
    assert.ok(performance.now() - disconnected < 1000, `aborted after ${performance.now() - disconnected} ms`);
    assert.equal(await metric(s, 'redrafter:num_requests_running'), 0);

    // two sessions busy, one request queued, the next one refused
    const holders: ReturnType<typeof httpRequest>[] = [];
    const running = streamRequest(s, { ...long, n: 2 }, (req) => holders.push(req));
    await until('the first request to stream', async () => holders.length === 1);
    const queued = post(s, '/v1/completions', { prompt: 'Once', max_tokens: 5, temperature: 0 });
    await until('a request to queue', async () => (await metric(s, 'redrafter:num_requests_waiting')) === 1);
    const refused = await post(s, '/v1/completions', { prompt: 'Once', max_tokens: 5 });
    assert.equal(refused.status, 429);
    assert.equal(refused.body.error?.type, 'rate_limit_error');
    holders[0].destroy();
    await running;
    const served = await queued;
    assert.equal(served.status, 200, 'the queued request runs once the sessions are free');
    assert.equal((served.body.choices as { text: string }[])[0].text, (await plainGreedy(s.engine!, 'Once', 5)).text);
  } finally {
    await s.shutdown();
  }
});

test('CLI serve: REDRAFTER_API_KEY, /health, and SIGTERM: in-flight requests finish, queued ones get 503, exit 0', async () => {
  const child = spawn(process.execPath, ['--import', 'tsx', join(repoRoot, 'lib', 'cli', 'main.ts'), 'serve',
    '--model', fixtures.stories260K, '--tokenizer', fixtures.tok512, '--drafter', drafter, '--port', '0', '--parallel', '1', '--threads', '1'], {
    cwd: repoRoot, env: { ...process.env, REDRAFTER_API_KEY: 'k1' }, stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d: string) => (stderr += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  try {
    await until('the server to load', async () => /loaded stories260K/.test(stderr), 60_000);
    const url = /listening on (http:\/\/\S+)/.exec(stderr)![1];
    const auth = { authorization: 'Bearer k1', 'content-type': 'application/json' };
    assert.equal((await fetch(`${url}/v1/models`)).status, 401);
    assert.equal((await fetch(`${url}/v1/models`, { headers: auth })).status, 200);
    assert.equal((await fetch(`${url}/health`)).status, 200);

    // one long generation in flight, one request queued behind it (--parallel 1)
    const events: string[] = [];
    let started!: () => void;
    const firstEvent = new Promise<void>((resolve) => (started = resolve));
    const inFlight = fetch(`${url}/v1/completions`, {
      method: 'POST', headers: auth,
      body: JSON.stringify({ prompt: 'Once', max_tokens: 400, temperature: 1, seed: 3, stream: true }),
    }).then(async (r) => {
      const decoder = new TextDecoder();
      for await (const part of r.body!) {
        events.push(decoder.decode(part as Uint8Array));
        started();
      }
      return r.status;
    });
    await firstEvent;
    const queued = fetch(`${url}/v1/completions`, { method: 'POST', headers: auth, body: JSON.stringify({ prompt: 'x', max_tokens: 3 }) });
    await until('a request to queue', async () => {
      const m = await (await fetch(`${url}/metrics`)).text();
      return /^redrafter:num_requests_waiting 1$/m.test(m);
    });
    child.kill('SIGTERM');
    const q = await queued;
    assert.equal(q.status, 503);
    assert.match(((await q.json()) as { error: { message: string } }).error.message, /shutting down/);
    assert.equal(await inFlight, 200);
    const all = events.join('');
    assert.match(all, /"finish_reason":"(length|stop)"/, 'the generation in flight finished');
    assert.ok(all.trimEnd().endsWith('data: [DONE]'));
    assert.equal(await exited, 0, stderr);
    await assert.rejects(fetch(`${url}/health`), 'no longer listening');
  } finally {
    child.kill('SIGKILL');
  }
});
