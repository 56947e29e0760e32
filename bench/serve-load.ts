// Load benchmark of `redrafter serve` (not run in CI): many concurrent streaming clients against a server in its own
// process, with and without the drafter, in interleaved rounds. Per round: time to first token (p50/p99, measured by
// the clients: request sent to first text), total generated tokens/s, errors, and from the server's /metrics every
// 2 s: its event-loop delay p99 over those 2 s (nodejs_eventloop_lag_p99_seconds, sampled every 1 ms, so it includes
// that 1 ms; the round's figure is the worst interval) and its resident memory (process_resident_memory_bytes). Greedy outputs are checked identical across
// all requests for the same prompt, with and without the drafter.
//   node --import tsx bench/serve-load.ts --model M.bin --tokenizer tok.bin --drafter DIR \
//     [--clients 64] [--requests 10000] [--rounds 1] [--max-tokens 64] [--parallel 8] [--threads N]
import { Command } from 'commander';
import { spawn, type ChildProcess } from 'node:child_process';
import { Agent, request } from 'node:http';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..');
const program = new Command()
  .requiredOption('--model <file>')
  .option('--tokenizer <file>')
  .requiredOption('--drafter <dir>')
  .option('--clients <n>', 'concurrent streaming clients', '64')
  .option('--requests <n>', 'requests per configuration, split over the rounds', '10000')
  .option('--rounds <n>', 'rounds per configuration, interleaved (drafter, plain, drafter, ...)', '1')
  .option('--max-tokens <n>', 'max_tokens of each request', '64')
  .option('--parallel <n>', "the server's --parallel", '8')
  .option('--threads <n>', "the server's --threads (default: all)")
  .option('--only <config>', "run one configuration: 'drafter' or 'plain'")
  .option('--rss-series', 'print every resident-memory sample')
  .parse();
const o = program.opts<{ only?: string; rssSeries?: boolean; model: string; tokenizer?: string; drafter: string; clients: string; requests: string; rounds: string; maxTokens: string; parallel: string; threads?: string }>();
const clients = Number(o.clients);
const rounds = Number(o.rounds);
const perRound = Math.ceil(Number(o.requests) / rounds);
const maxTokens = Number(o.maxTokens);

const prompts = ['Once upon a time', 'The little dog', 'Lily and Ben went to the park.', 'One day, a cat', 'Tom said, "I want to play!"',
  'The sun was', 'A big red ball', 'Sara had a doll', 'The bird sang', 'Max was a good boy', 'In the forest', 'Mom said',
  'The boy ran', 'There was a tree', 'Anna liked to', 'The fish swam'];

interface Server {
  child: ChildProcess;
  url: string;
}

async function startServer(drafter: boolean): Promise<Server> {
  const args = ['--import', 'tsx', join(repoRoot, 'lib', 'cli', 'main.ts'), 'serve', '--model', o.model, '--port', '0',
    '--parallel', o.parallel, '--max-queue', String(clients * 2)];
  if (o.tokenizer) args.push('--tokenizer', o.tokenizer);
  if (drafter) args.push('--drafter', o.drafter);
  if (o.threads) args.push('--threads', o.threads);
  const child = spawn(process.execPath, args, { cwd: repoRoot, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.setEncoding('utf8');
  return new Promise<Server>((resolve, reject) => {
    child.stderr!.on('data', (d: string) => {
      stderr += d;
      const url = /listening on (http:\/\/\S+)/.exec(stderr)?.[1];
      if (url && /loaded /.test(stderr)) resolve({ child, url });
    });
    child.on('exit', (code) => reject(new Error(`the server exited (${code}): ${stderr}`)));
  });
}

async function stopServer(s: Server): Promise<void> {
  const exited = new Promise((resolve) => s.child.once('exit', resolve));
  s.child.kill('SIGTERM');
  await exited;
}

async function scrape(s: Server): Promise<Map<string, number>> {
  const text = await (await fetch(`${s.url}/metrics`)).text();
  const m = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line.startsWith('#') || line.length === 0) continue;
    const at = line.lastIndexOf(' ');
    m.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return m;
}

interface Outcome {
  ttftMs: number;
  tokens: number;
  text: string;
  prompt: string;
}

/** One streaming completion over a keep-alive connection: time to the first text, tokens (usage), the text. */
function streamOnce(s: Server, agent: Agent, prompt: string): Promise<Outcome> {
  const body = JSON.stringify({ prompt, max_tokens: maxTokens, temperature: 0, stream: true, stream_options: { include_usage: true } });
  const sent = performance.now();
  return new Promise<Outcome>((resolve, reject) => {
    const req = request(`${s.url}/v1/completions`, { method: 'POST', agent, headers: { 'content-type': 'application/json' } }, (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        reject(new Error(`HTTP ${res.statusCode}`));
        return;
      }
      res.setEncoding('utf8');
      let buffer = '';
      let text = '';
      let ttftMs = -1;
      let tokens = 0;
      res.on('data', (d: string) => {
        buffer += d;
        let end;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const event = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          if (!event.startsWith('data: ') || event === 'data: [DONE]') continue;
          const chunk = JSON.parse(event.slice(6)) as { choices: { text: string }[]; usage?: { completion_tokens: number } | null; error?: { message: string } };
          if (chunk.error) reject(new Error(chunk.error.message));
          for (const c of chunk.choices) {
            if (c.text.length > 0 && ttftMs < 0) ttftMs = performance.now() - sent;
            text += c.text;
          }
          if (chunk.usage) tokens = chunk.usage.completion_tokens;
        }
      });
      res.on('end', () => resolve({ ttftMs, tokens, text, prompt }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 === 1 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

interface RoundResult {
  drafter: boolean;
  seconds: number;
  tokensPerSecond: number;
  ttftP50: number;
  ttftP99: number;
  errors: number;
  eventLoopP99Ms: number;
  rssMiB: number[];
  acceptedPerDraft: number;
}

const reference = new Map<string, string>();
let mismatches = 0;

async function round(drafter: boolean): Promise<RoundResult> {
  const s = await startServer(drafter);
  try {
    const agent = new Agent({ keepAlive: true, maxSockets: clients });
    // warm-up (one request per prompt) outside the measurement
    for (const p of prompts) await streamOnce(s, agent, p);
    const before = await scrape(s);  // also resets the event-loop delay histogram
    const rss: number[] = [];
    const eventLoopP99: number[] = [];
    const sample = (m: Map<string, number>) => {
      rss.push((m.get('process_resident_memory_bytes') ?? 0) / 2 ** 20);
      eventLoopP99.push((m.get('nodejs_eventloop_lag_p99_seconds') ?? NaN) * 1000);
    };
    const sampler = setInterval(() => scrape(s).then(sample, () => {}), 2000);
    const outcomes: Outcome[] = [];
    let errors = 0;
    let next = 0;
    const t0 = performance.now();
    await Promise.all(Array.from({ length: clients }, async () => {
      while (next < perRound) {
        const k = next++;
        try {
          outcomes.push(await streamOnce(s, agent, prompts[k % prompts.length]!));
        } catch {
          ++errors;
        }
      }
    }));
    const seconds = (performance.now() - t0) / 1000;
    clearInterval(sampler);
    const after = await scrape(s);
    sample(after);
    agent.destroy();
    for (const out of outcomes) {
      const ref = reference.get(out.prompt);
      if (ref === undefined) reference.set(out.prompt, out.text);
      else if (ref !== out.text) ++mismatches;
    }
    const ttft = outcomes.map((x) => x.ttftMs).filter((x) => x >= 0).sort((a, b) => a - b);
    const delta = (name: string) => (after.get(name) ?? 0) - (before.get(name) ?? 0);
    const drafts = delta('redrafter:spec_decode_num_drafts_total');
    return {
      drafter,
      seconds,
      tokensPerSecond: outcomes.reduce((sum, x) => sum + x.tokens, 0) / seconds,
      ttftP50: percentile(ttft, 50),
      ttftP99: percentile(ttft, 99),
      errors,
      eventLoopP99Ms: Math.max(...eventLoopP99),
      rssMiB: rss,
      acceptedPerDraft: drafts > 0 ? delta('redrafter:spec_decode_num_accepted_tokens_total') / drafts : 0,
    };
  } finally {
    await stopServer(s);
  }
}

console.log(`${clients} streaming clients, ${perRound} requests per round, ${rounds} round(s) per configuration, ` +
  `max_tokens ${maxTokens}, --parallel ${o.parallel}, greedy`);
const results: RoundResult[] = [];
for (let r = 0; r < rounds; ++r)
  for (const drafter of [true, false].filter((d) => o.only === undefined || o.only === (d ? 'drafter' : 'plain'))) {
    const x = await round(drafter);
    results.push(x);
    const rss = x.rssMiB.length > 0 ? `RSS ${x.rssMiB[0]!.toFixed(0)} -> ${x.rssMiB[x.rssMiB.length - 1]!.toFixed(0)} MiB (max ${Math.max(...x.rssMiB).toFixed(0)})` : 'RSS n/a';
    console.log(`round ${r + 1} ${drafter ? 'drafter' : 'plain  '}: ${x.seconds.toFixed(1)} s, ${x.tokensPerSecond.toFixed(0)} tok/s, ` +
      `TTFT p50 ${x.ttftP50.toFixed(1)} ms p99 ${x.ttftP99.toFixed(1)} ms, event-loop p99 ${x.eventLoopP99Ms.toFixed(1)} ms, ${rss}, ` +
      `errors ${x.errors}${drafter ? `, accepted/draft ${x.acceptedPerDraft.toFixed(2)}` : ''}`);
    if (o.rssSeries) console.log(`  RSS MiB every 2 s: ${x.rssMiB.map((v) => v.toFixed(0)).join(' ')}`);
  }
for (const drafter of [true, false]) {
  const rs = results.filter((x) => x.drafter === drafter);
  if (rs.length === 0) continue;
  console.log(`median ${drafter ? 'drafter' : 'plain  '}: ${median(rs.map((x) => x.tokensPerSecond)).toFixed(0)} tok/s, ` +
    `TTFT p50 ${median(rs.map((x) => x.ttftP50)).toFixed(1)} ms, p99 ${median(rs.map((x) => x.ttftP99)).toFixed(1)} ms, ` +
    `event-loop p99 ${median(rs.map((x) => x.eventLoopP99Ms)).toFixed(1)} ms`);
}
console.log(`greedy outputs that differ from the first for their prompt: ${mismatches}`);
