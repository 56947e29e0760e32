// GET /metrics: Prometheus text through prom-client, names under `redrafter:` as vLLM names its own under `vllm:`
// (num_requests_running/waiting, time_to_first_token_seconds, e2e_request_latency_seconds, ...), speculative decoding
// as vLLM's spec_decode_num_drafts / _num_draft_tokens / _num_accepted_tokens (/_per_pos) counters; and prom-client's
// standard process_* and nodejs_* metrics (resident memory, event-loop delay sampled every millisecond, GC).
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { GenerationStats } from '../stats.js';

const latencyBuckets = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120];
const firstTokenBuckets = [0.001, 0.0025, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 10];
const perTokenBuckets = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1];

/** The speculative-decoding counts of one generation: every decoding step of a drafting session drafts one beam shape. */
export interface DraftCounts {
  drafts: number;
  draftTokens: number;
  acceptedTokens: number;
  /** [i] = steps whose draft was accepted through position i (0-based). */
  acceptedPerPosition: number[];
}

/** From a generation's statistics on a session drafting `beamLength - 1` tokens per step (none when beamWidth is 0). */
export function draftCounts(stats: GenerationStats, beamWidth: number, beamLength: number): DraftCounts {
  const acceptedPerPosition: number[] = [];
  let acceptedTokens = 0;
  for (const [k, count] of stats.tokensPerStepHistogram.entries()) {
    if (k < 2 || count === 0) continue;
    acceptedTokens += count * (k - 1);
    for (let i = 0; i < k - 1; ++i) acceptedPerPosition[i] = (acceptedPerPosition[i] ?? 0) + count;
  }
  if (beamWidth === 0) return { drafts: 0, draftTokens: 0, acceptedTokens: 0, acceptedPerPosition: [] };
  return {
    drafts: stats.steps,
    draftTokens: stats.steps * (beamLength - 1),
    acceptedTokens,
    acceptedPerPosition: Array.from(acceptedPerPosition, (v) => v ?? 0),
  };
}

export class ServerMetrics {
  readonly registry = new Registry();
  readonly running: Gauge;
  readonly waiting: Gauge;
  readonly httpRequests: Counter<'endpoint' | 'status'>;
  readonly requestSuccess: Counter<'finished_reason'>;
  readonly promptTokens: Counter;
  readonly generationTokens: Counter;
  readonly e2eLatency: Histogram;
  readonly queueTime: Histogram;
  readonly firstToken: Histogram;
  readonly perOutputToken: Histogram;
  readonly numDrafts: Counter;
  readonly numDraftTokens: Counter;
  readonly numAcceptedTokens: Counter;
  readonly acceptedPerPosition: Counter<'position'>;
  /** Generated tokens per whole second (epoch seconds), for the throughput gauge's window. */
  readonly #tokensBySecond = new Map<number, number>();
  readonly #started = Date.now();
  static readonly throughputWindowSeconds = 10;

  constructor(state: { running: () => number; waiting: () => number }) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, eventLoopMonitoringPrecision: 1 });
    this.running = new Gauge({
      name: 'redrafter:num_requests_running', help: 'Requests generating (each choice holds one of the --parallel sessions).',
      registers, collect() { this.set(state.running()); },
    });
    this.waiting = new Gauge({
      name: 'redrafter:num_requests_waiting', help: 'Requests queued for a session.',
      registers, collect() { this.set(state.waiting()); },
    });
    this.httpRequests = new Counter({
      name: 'redrafter:http_requests_total', help: 'HTTP requests answered, by route and status code.',
      labelNames: ['endpoint', 'status'], registers,
    });
    this.requestSuccess = new Counter({
      name: 'redrafter:request_success_total', help: 'Generations finished, by OpenAI finish_reason (stop, length).',
      labelNames: ['finished_reason'], registers,
    });
    this.promptTokens = new Counter({ name: 'redrafter:prompt_tokens_total', help: 'Prompt tokens of the generations.', registers });
    this.generationTokens = new Counter({ name: 'redrafter:generation_tokens_total', help: 'Tokens generated.', registers });
    const tokensBySecond = this.#tokensBySecond;
    const started = this.#started;
    new Gauge({
      name: 'redrafter:avg_generation_throughput_toks_per_s',
      help: `Tokens generated per second over the last ${ServerMetrics.throughputWindowSeconds} s.`,
      registers,
      collect() {
        const now = Date.now();
        const from = Math.floor(now / 1000) - ServerMetrics.throughputWindowSeconds;
        let tokens = 0;
        for (const [second, n] of tokensBySecond) {
          if (second < from) tokensBySecond.delete(second);
          else tokens += n;
        }
        const seconds = Math.min(ServerMetrics.throughputWindowSeconds, Math.max(1e-3, (now - started) / 1000));
        this.set(tokens / seconds);
      },
    });
    this.e2eLatency = new Histogram({
      name: 'redrafter:e2e_request_latency_seconds', help: 'From a request received to its last token.',
      buckets: latencyBuckets, registers,
    });
    this.queueTime = new Histogram({
      name: 'redrafter:request_queue_time_seconds', help: 'Time a request waited for sessions.',
      buckets: latencyBuckets, registers,
    });
    this.firstToken = new Histogram({
      name: 'redrafter:time_to_first_token_seconds', help: 'From a request received to its first generated token.',
      buckets: firstTokenBuckets, registers,
    });
    this.perOutputToken = new Histogram({
      name: 'redrafter:time_per_output_token_seconds', help: 'Mean time between the tokens after the first, per generation.',
      buckets: perTokenBuckets, registers,
    });
    this.numDrafts = new Counter({
      name: 'redrafter:spec_decode_num_drafts_total', help: 'Decoding steps that verified a draft.', registers,
    });
    this.numDraftTokens = new Counter({
      name: 'redrafter:spec_decode_num_draft_tokens_total',
      help: 'Draft tokens proposed: beamLength - 1 per draft (the most one step can accept).', registers,
    });
    this.numAcceptedTokens = new Counter({
      name: 'redrafter:spec_decode_num_accepted_tokens_total', help: 'Draft tokens accepted.', registers,
    });
    this.acceptedPerPosition = new Counter({
      name: 'redrafter:spec_decode_num_accepted_tokens_per_pos_total', help: 'Drafts accepted through each draft position.',
      labelNames: ['position'], registers,
    });
  }

  /** Tokens generated just now (the throughput gauge). */
  addTokens(n: number): void {
    if (n === 0) return;
    const second = Math.floor(Date.now() / 1000);
    const count = this.#tokensBySecond.get(second);
    if (count === undefined) {
      // a new second: forget those outside the window (whether or not anyone scrapes)
      for (const s of this.#tokensBySecond.keys()) if (s < second - ServerMetrics.throughputWindowSeconds) this.#tokensBySecond.delete(s);
    }
    this.#tokensBySecond.set(second, (count ?? 0) + n);
  }

  /** One generation (a choice) that ended. */
  recordGeneration(g: { finishReason: string; promptTokens: number; tokens: number; decodeSeconds: number; draft: DraftCounts }): void {
    this.requestSuccess.inc({ finished_reason: g.finishReason });
    this.promptTokens.inc(g.promptTokens);
    this.generationTokens.inc(g.tokens);
    if (g.tokens > 1) this.perOutputToken.observe(g.decodeSeconds / (g.tokens - 1));
    if (g.draft.drafts > 0) {
      this.numDrafts.inc(g.draft.drafts);
      this.numDraftTokens.inc(g.draft.draftTokens);
      this.numAcceptedTokens.inc(g.draft.acceptedTokens);
      for (const [i, n] of g.draft.acceptedPerPosition.entries()) if (n > 0) this.acceptedPerPosition.inc({ position: String(i) }, n);
    }
  }
}
