// `redrafter serve`'s HTTP server: the OpenAI API (POST /v1/completions, /v1/chat/completions, GET /v1/models) over
// any engine loadEngine loads, plus GET /health and GET /metrics. Fastify parses and limits the bodies; generation is
// the engine's (asynchronous: the event loop only moves text). Each choice of a request runs on one of --parallel
// sessions (lib/server/session-pool.ts), which the engine steps together. docs/serving.md describes the API.
import { createHash, randomInt, randomUUID, timingSafeEqual } from 'node:crypto';
import { basename } from 'node:path';
import { performance } from 'node:perf_hooks';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { loadEngine, type Backend, type Engine, type LoadEngineOptions } from '../engine.js';
import type { GenerationResult, Session } from '../session.js';
import { loadChatFormatter, type ChatFormatter } from './chat-template.js';
import { ApiError, badRequest, toApiError } from './errors.js';
import { draftCounts, ServerMetrics, type DraftCounts } from './metrics.js';
import { parseGenerationRequest, type GenerationRequest } from './request.js';
import { SessionPool } from './session-pool.js';

export interface ServerOptions {
  /** The engine: cpu (model, tokenizer, drafter, threads, contextLength) or tensorrt-llm (engineDir, tokenizer). */
  model?: string;
  engineDir?: string;
  tokenizer?: string;
  drafter?: string;
  backend?: Backend;
  threads?: number;
  contextLength?: number;
  /** Requests' choices generated at once (in-flight batching); default 8. */
  parallel?: number;
  /** Requests waiting for a session at most; more get 429. Default 256. */
  maxQueue?: number;
  /** A Jinja chat template file (default: the model's own). */
  chatTemplate?: string;
  /** Requests to /v1 must send `Authorization: Bearer <apiKey>`. */
  apiKey?: string;
  /** The model's id in the API (default: the model file's or engine directory's name). */
  modelName?: string;
  host?: string;
  /** 0: any free port. Default 8080. */
  port?: number;
  /** Request bodies larger than this get 413. Default 1 MiB. */
  bodyLimit?: number;
  /** How long shutdown() lets generations in flight finish before aborting them. Default 30 s. */
  shutdownTimeoutMs?: number;
  /** Called with one line per event worth a log (listening, loaded, shutting down). */
  log?: (line: string) => void;
}

type State = 'loading' | 'ready' | 'failed' | 'stopping';

interface Job {
  index: number;
  prompt: number[];
  seed: number;
}

interface ChoiceResult {
  index: number;
  text: string;
  finishReason: 'stop' | 'length';
  tokens: number;
  result: GenerationResult;
  draft: DraftCounts;
}

interface InFlight {
  controller: AbortController;
  done: Promise<unknown>;
}

const openAiFinish = (r: GenerationResult['finishReason']): 'stop' | 'length' =>
  r === 'length' || r === 'context' ? 'length' : 'stop';

function defaultModelName(o: ServerOptions): string {
  const path = o.model ?? o.engineDir ?? 'model';
  return basename(path.replace(/[/\\]+$/, '')).replace(/\.(bin|gguf)$/i, '');
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

export class RedrafterServer {
  readonly app: FastifyInstance;
  readonly modelName: string;
  readonly metrics: ServerMetrics;
  /** Resolves once the engine is loaded (the server answers 503 until then); rejects when loading fails. */
  readonly ready: Promise<void>;
  readonly #o: ServerOptions;
  readonly #parallel: number;
  readonly #apiKeyHash: Buffer | undefined;
  readonly #inFlight = new Set<InFlight>();
  #state: State = 'loading';
  #engine: Engine | undefined;
  #pool: SessionPool | undefined;
  #chat: ChatFormatter | undefined;
  #loadError: Error | undefined;
  #stopping: Promise<void> | undefined;
  #created = Math.floor(Date.now() / 1000);
  #loaded!: { resolve: () => void; reject: (err: unknown) => void };

  /** @internal use startServer */
  constructor(options: ServerOptions) {
    this.#o = options;
    this.#parallel = options.parallel ?? 8;
    this.modelName = options.modelName ?? defaultModelName(options);
    this.#apiKeyHash = options.apiKey !== undefined ? sha256(options.apiKey) : undefined;
    this.metrics = new ServerMetrics({ running: () => this.#pool?.busy ?? 0, waiting: () => this.#pool?.waiting ?? 0 });
    this.app = Fastify({ bodyLimit: options.bodyLimit ?? 1 << 20, logger: false, return503OnClosing: true });
    this.#routes();
    this.ready = new Promise<void>((resolve, reject) => (this.#loaded = { resolve, reject }));
    this.ready.catch(() => {});  // the caller decides what a failed load means
  }

  /** The state /health reports. */
  get state(): State {
    return this.#state;
  }

  /** The address the server listens on (http://host:port). */
  get url(): string {
    const a = this.app.server.address();
    if (a === null || typeof a === 'string') return String(a);
    const host = a.family === 'IPv6' ? `[${a.address}]` : a.address;
    return `http://${host}:${a.port}`;
  }

  /** The engine, once loaded. */
  get engine(): Engine | undefined {
    return this.#engine;
  }

  /** @internal loads the engine and settles `ready` */
  async load(): Promise<void> {
    const o = this.#o;
    const backend = o.backend ?? 'auto';
    const batching: Partial<LoadEngineOptions> =
      backend === 'cpu' ? { maxActiveRequests: this.#parallel }
        : backend === 'tensorrt-llm' ? { maxBatchSize: this.#parallel }
          : { maxActiveRequests: this.#parallel, maxBatchSize: this.#parallel };
    try {
      const engine = await loadEngine({
        model: o.model,
        engineDir: o.engineDir,
        tokenizer: o.tokenizer,
        drafter: o.drafter ?? null,
        backend,
        threads: o.threads,
        contextLength: o.contextLength,
        ...batching,
      });
      this.#engine = engine;
      this.#chat = await loadChatFormatter(engine, { file: o.chatTemplate });
      // Every decoding step drafts the session's beam shape (no adaptive shape: the spec-decode counters stay exact).
      const sessions = Array.from({ length: this.#parallel }, () => engine.createSession({ adaptiveDraft: false }));
      this.#pool = new SessionPool(sessions, this.#o.maxQueue ?? 256);
      if (this.#state === 'loading') this.#state = 'ready';
      const s = sessions[0]!;
      o.log?.(`loaded ${this.modelName} (${engine.info.backend}, context ${engine.contextLength}, ` +
        (s.beamWidth > 0 ? `drafting ${s.beamWidth} beam(s) of ${s.beamLength}` : 'no drafter') +
        `, --parallel ${this.#parallel}, chat template: ${this.#chat.source})`);
      this.#loaded.resolve();
    } catch (err) {
      this.#loadError = err as Error;
      if (this.#state === 'loading') this.#state = 'failed';
      await this.#engine?.dispose();
      this.#engine = undefined;
      this.#loaded.reject(err);
    }
  }

  /**
   * Stops accepting requests, answers queued ones 503, lets generations in flight finish for up to
   * shutdownTimeoutMs (then aborts them), closes the connections and frees the engine. Idempotent.
   */
  shutdown(): Promise<void> {
    this.#stopping ??= (async () => {
      this.#state = 'stopping';
      this.#pool?.close(new ApiError(503, 'the server is shutting down'));
      const closing = this.app.close();
      const inFlight = () => Promise.allSettled([...this.#inFlight].map((f) => f.done));
      let timer: NodeJS.Timeout | undefined;
      const timedOut = await Promise.race([
        inFlight().then(() => false),
        new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), this.#o.shutdownTimeoutMs ?? 30_000))),
      ]);
      clearTimeout(timer);
      if (timedOut) {
        for (const f of this.#inFlight) f.controller.abort(new ApiError(503, 'the server shut down before the generation finished'));
        await inFlight();
      }
      // Every response has been written: close the kept-alive connections (any still open after a grace period,
      // such as one whose 503 went out after the idle ones were closed, too).
      this.app.server.closeIdleConnections();
      const grace = setTimeout(() => this.app.server.closeAllConnections(), 2000);
      await closing;
      clearTimeout(grace);
      await this.ready.catch(() => {});
      await this.#engine?.dispose();
    })();
    return this.#stopping;
  }

  #routes(): void {
    const app = this.app;
    app.addHook('onRequest', (request, reply, done) => {
      reply.raw.once('close', () => {
        this.metrics.httpRequests.inc({ endpoint: request.routeOptions.url ?? 'unmatched', status: String(reply.raw.statusCode) });
      });
      if (this.#apiKeyHash && request.url.startsWith('/v1/')) {
        const auth = request.headers.authorization;
        const given = typeof auth === 'string' && /^Bearer /i.test(auth) ? auth.slice(7).trim() : undefined;
        // compare digests: equal lengths, and the time does not depend on where the key differs
        if (given === undefined || !timingSafeEqual(sha256(given), this.#apiKeyHash)) {
          const e = new ApiError(401, given === undefined ? 'missing API key: send Authorization: Bearer <key>' : 'invalid API key', {
            code: 'invalid_api_key',
          });
          reply.code(401).send(e.toJSON());
          return;
        }
      }
      done();
    });
    app.setErrorHandler((err: Error & { statusCode?: number; code?: string }, _request, reply) => {
      let e: ApiError;
      if (err instanceof ApiError) e = err;
      else if (err.statusCode === 413) e = new ApiError(413, `the request body is larger than the limit (${this.app.initialConfig.bodyLimit} bytes)`);
      else if (err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 500)
        e = new ApiError(err.statusCode, err.statusCode === 400 ? `the request body is not valid JSON: ${err.message}` : err.message);
      else e = toApiError(err);
      reply.code(e.status).send(e.toJSON());
    });
    app.setNotFoundHandler((request, reply) => {
      reply.code(404).send(new ApiError(404, `no route ${request.method} ${request.url}`).toJSON());
    });

    app.get('/health', async (_request, reply) => {
      const status = { loading: 'loading', ready: 'ok', failed: 'failed', stopping: 'shutting down' }[this.#state];
      if (this.#state !== 'ready') reply.code(503);
      return { status, ...(this.#loadError ? { error: this.#loadError.message } : {}) };
    });
    app.get('/metrics', async (_request, reply) => {
      reply.type(this.metrics.registry.contentType);
      return this.metrics.registry.metrics();
    });
    app.get('/v1/models', async () => ({ object: 'list', data: [this.#modelCard()] }));
    app.get('/v1/models/*', async (request) => {
      const id = (request.params as { '*': string })['*'];
      if (id !== this.modelName) throw this.#unknownModel(id, null);
      return this.#modelCard();
    });
    app.post('/v1/completions', (request, reply) => this.#generate('completion', request, reply));
    app.post('/v1/chat/completions', (request, reply) => this.#generate('chat', request, reply));
  }

  #modelCard() {
    return {
      id: this.modelName,
      object: 'model',
      created: this.#created,
      owned_by: 'redrafter',
      max_model_len: this.#engine?.contextLength ?? null,
    };
  }

  #unknownModel(model: string, param: string | null): ApiError {
    return new ApiError(404, `the model ${JSON.stringify(model)} does not exist: this server serves ${JSON.stringify(this.modelName)}`, {
      param,
      code: 'model_not_found',
    });
  }

  #assertReady(): { engine: Engine; pool: SessionPool; chat: ChatFormatter } {
    if (this.#state === 'loading') throw new ApiError(503, 'the model is still loading');
    if (this.#state === 'stopping') throw new ApiError(503, 'the server is shutting down');
    if (this.#state === 'failed') throw new ApiError(503, `the model failed to load: ${this.#loadError?.message}`);
    return { engine: this.#engine!, pool: this.#pool!, chat: this.#chat! };
  }

  async #generate(kind: 'completion' | 'chat', request: FastifyRequest, reply: FastifyReply): Promise<unknown> {
    const received = performance.now();
    const { engine, pool, chat } = this.#assertReady();
    const req = parseGenerationRequest(kind, request.body, { vocabSize: engine.info.vocabSize, maxChoices: this.#parallel });
    if (req.model !== undefined && req.model !== this.modelName) throw this.#unknownModel(req.model, 'model');

    const prompts =
      kind === 'chat'
        ? [Array.from(await chat.encode(req.messages))]
        : req.prompts.map((p) => (typeof p === 'string' ? Array.from(engine.codec.encode(p, { bos: true })) : p));
    const context = engine.contextLength;
    const maxTokens = prompts.map((p, i) => {
      const param = kind === 'chat' ? 'messages' : req.prompts.length > 1 ? `prompt[${i}]` : 'prompt';
      const wanted = req.maxTokens ?? context - p.length;
      if (p.length + Math.max(1, wanted) > context)
        throw badRequest(
          req.maxTokens !== undefined && p.length < context ? req.maxTokensField : param,
          `this model's maximum context length is ${context} tokens; the request has ${p.length} prompt tokens` +
            (req.maxTokens !== undefined ? ` and ${req.maxTokensField} ${req.maxTokens} (${p.length + req.maxTokens} in all)` : ', leaving no room to generate'),
          'context_length_exceeded',
        );
      return wanted;
    });
    const jobs: Job[] = [];
    for (const [i, prompt] of prompts.entries())
      for (let j = 0; j < req.n; ++j) {
        const base = req.seed ?? randomInt(2 ** 47);
        jobs.push({ index: i * req.n + j, prompt, seed: req.seed === undefined ? base : (base + j) % (Number.MAX_SAFE_INTEGER + 1) });
      }

    // A client that goes away aborts its generation (or leaves the queue) at once.
    const controller = new AbortController();
    const res = reply.raw;
    res.once('close', () => {
      if (!res.writableFinished) controller.abort(new Error('the client disconnected'));
    });
    let sessions: Session[];
    try {
      sessions = await pool.acquire(jobs.map((j) => j.prompt), controller.signal);
    } catch (err) {
      if (!controller.signal.aborted) throw err;
      reply.hijack();  // the client left while queued: nothing to answer
      return undefined;
    }
    const started = performance.now();
    this.metrics.queueTime.observe((started - received) / 1000);

    let settle!: () => void;
    const flight: InFlight = { controller, done: new Promise<void>((resolve) => (settle = resolve)) };
    this.#inFlight.add(flight);
    try {
      const id = `${kind === 'chat' ? 'chatcmpl' : 'cmpl'}-${randomUUID()}`;
      const created = Math.floor(Date.now() / 1000);
      const stream = req.stream ? this.#openStream(reply) : undefined;
      const head = { id, object: kind === 'chat' ? 'chat.completion.chunk' : 'text_completion', created, model: this.modelName };
      let firstToken: number | undefined;
      const onText = (index: number, text: string, tokens: number) => {
        if (tokens > 0) this.metrics.addTokens(tokens);
        if (firstToken === undefined && tokens > 0) {
          firstToken = performance.now();
          this.metrics.firstToken.observe((firstToken - received) / 1000);
        }
        if (!stream || text.length === 0) return;
        const choice = kind === 'chat' ? { index, delta: { content: text }, logprobs: null, finish_reason: null } : { index, text, logprobs: null, finish_reason: null };
        stream.send({ ...head, choices: [choice], ...(req.includeUsage ? { usage: null } : {}) });
      };
      if (stream && kind === 'chat')
        for (const job of jobs)
          stream.send({ ...head, choices: [{ index: job.index, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null }], ...(req.includeUsage ? { usage: null } : {}) });

      const settled = await Promise.allSettled(
        jobs.map(async (job, i) => {
          const choice = await this.#runChoice(sessions[i]!, job, req, maxTokens[Math.floor(job.index / req.n)]!, controller.signal, onText);
          if (stream) {
            const end = kind === 'chat' ? { index: job.index, delta: {}, logprobs: null, finish_reason: choice.finishReason } : { index: job.index, text: '', logprobs: null, finish_reason: choice.finishReason };
            stream.send({ ...head, choices: [end], ...(req.includeUsage ? { usage: null } : {}) });
          }
          return choice;
        }),
      );
      const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
      const choices = settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : [])).sort((a, b) => a.index - b.index);
      const ended = performance.now();
      this.metrics.e2eLatency.observe((ended - received) / 1000);
      if (controller.signal.aborted && !(controller.signal.reason instanceof ApiError)) {
        if (!stream) reply.hijack();  // the client left: nothing to answer
        return undefined;
      }
      if (failed) {
        const e = toApiError(controller.signal.aborted ? controller.signal.reason : failed.reason);
        if (!stream) throw e;
        stream.send(e.toJSON());
        stream.end();
        return undefined;
      }
      const usage = {
        prompt_tokens: prompts.reduce((sum, p) => sum + p.length, 0),
        completion_tokens: choices.reduce((sum, c) => sum + c.tokens, 0),
        total_tokens: 0,
      };
      usage.total_tokens = usage.prompt_tokens + usage.completion_tokens;
      const extension = this.#extension(sessions[0]!, choices, (started - received) / 1000, firstToken === undefined ? null : (firstToken - received) / 1000);
      if (stream) {
        if (req.includeUsage) stream.send({ ...head, choices: [], usage, redrafter: extension });
        stream.end();
        return undefined;
      }
      const out =
        kind === 'chat'
          ? choices.map((c) => ({ index: c.index, message: { role: 'assistant', content: c.text, refusal: null }, logprobs: null, finish_reason: c.finishReason }))
          : choices.map((c) => ({ index: c.index, text: c.text, logprobs: null, finish_reason: c.finishReason }));
      return { id, object: kind === 'chat' ? 'chat.completion' : 'text_completion', created, model: this.modelName, choices: out, usage, redrafter: extension };
    } finally {
      pool.release(sessions);
      this.#inFlight.delete(flight);
      settle();
    }
  }

  async #runChoice(
    session: Session,
    job: Job,
    req: GenerationRequest,
    maxTokens: number,
    signal: AbortSignal,
    onText: (index: number, text: string, tokens: number) => void,
  ): Promise<ChoiceResult> {
    session.reset();
    const it = session.generate(job.prompt, {
      maxTokens,
      temperature: req.temperature,
      topP: req.topP,
      topK: req.topK,
      seed: job.seed,
      stop: req.stop,
      signal,
    });
    let result: GenerationResult;
    try {
      for (;;) {
        const r = await it.next();
        if (r.done) {
          result = r.value;
          break;
        }
        onText(job.index, r.value.text, r.value.tokens.length);
      }
    } catch (err) {
      this.metrics.requestSuccess.inc({ finished_reason: signal.aborted ? 'abort' : 'error' });
      throw err;
    }
    const finishReason = openAiFinish(result.finishReason);
    const draft = draftCounts(result.stats, session.beamWidth, session.beamLength);
    const s = result.stats;
    this.metrics.recordGeneration({
      finishReason,
      promptTokens: job.prompt.length,
      tokens: result.tokens.length,
      decodeSeconds: Math.max(0, s.totalSeconds - s.prefillSeconds),
      draft,
    });
    return { index: job.index, text: result.text, finishReason, tokens: result.tokens.length, result, draft };
  }

  /** The `redrafter` field of a response: how the choices were generated (sums over choices). */
  #extension(session: Session, choices: ChoiceResult[], queueSeconds: number, firstTokenSeconds: number | null) {
    const sum = (f: (c: ChoiceResult) => number) => choices.reduce((total, c) => total + f(c), 0);
    const steps = sum((c) => c.result.stats.steps);
    const stepTokens = sum((c) => c.result.stats.tokensPerStepHistogram.reduce((t, count, k) => t + count * k, 0));
    return {
      beam_width: session.beamWidth,
      beam_length: session.beamLength,
      decoding_steps: steps,
      drafts: sum((c) => c.draft.drafts),
      draft_tokens: sum((c) => c.draft.draftTokens),
      accepted_tokens: sum((c) => c.draft.acceptedTokens),
      tokens_per_step: steps > 0 ? stepTokens / steps : 0,
      prompt_tokens_reused: sum((c) => c.result.stats.reusedPromptTokens),
      queue_seconds: queueSeconds,
      time_to_first_token_seconds: firstTokenSeconds,
    };
  }

  /** Takes the response over for server-sent events. */
  #openStream(reply: FastifyReply): { send: (data: unknown) => void; end: () => void } {
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive' });
    return {
      send: (data) => {
        if (!res.destroyed) res.write(`data: ${JSON.stringify(data)}\n\n`);
      },
      end: () => {
        if (!res.destroyed) res.end('data: [DONE]\n\n');
      },
    };
  }
}

/**
 * Starts listening at once (GET /health answers 503 while the model loads), then loads the engine; `server.ready`
 * settles when it is loaded. Rejects when the address cannot be bound.
 */
export async function startServer(options: ServerOptions): Promise<RedrafterServer> {
  const server = new RedrafterServer(options);
  await server.app.listen({ host: options.host ?? '127.0.0.1', port: options.port ?? 8080 });
  options.log?.(`listening on ${server.url}`);
  void server.load();
  return server;
}
