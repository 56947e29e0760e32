// A conversation with an engine: its KV cache and drafting state live in the backend and are reused across turns.
// generate() streams { text, tokens } chunks (several tokens per ReDrafter step); complete() returns the whole text,
// the finish reason and statistics.
import { ErrorCodes, invalidArgument, type ErrorCode, type RedrafterError } from './errors.js';
import { resolveGenerateOptions, type GenerateOptions, type ResolvedGenerateOptions } from './generation-options.js';
import type { NativeResponse, NativeSession } from './native.js';
import { toGenerationStats, type GenerationStats } from './stats.js';
import { StopStringFilter, type TextCodec } from './text-stream.js';

/** Why generation ended: end of sequence, a stop string, maxTokens, the context limit, or abort (dispose). */
export type FinishReason = 'eos' | 'stop' | 'length' | 'context' | 'abort';

export interface GenerateChunk {
  /** The text that became complete with these tokens (never half a character; may be empty). */
  text: string;
  tokens: number[];
}

export interface GenerationResult {
  text: string;
  tokens: number[];
  finishReason: FinishReason;
  stats: GenerationStats;
}

/** A prompt: text (encoded with BOS at the start of a conversation), or token ids appended as they are. */
export type Prompt = string | readonly number[] | Int32Array;

/** Text prompts longer than this (UTF-8 bytes) are tokenized off the event loop, after a length check that needs
 *  no tokenizing (a text of n bytes has at least n / codec.maxTokenBytes tokens). */
const ASYNC_ENCODE_BYTES = 16 * 1024;

/** A prompt's token ids: ready, or a long text still to be encoded off the event loop. */
type PromptSource = number[] | { text: string; bytes: number; bos: boolean };

/** What a session needs from its engine. @internal */
export interface SessionHost {
  readonly codec: TextCodec;
  readonly contextLength: number;
  /** The backend refuses prompt + maxTokens beyond the context (TensorRT-LLM's max_seq_len): the session lowers
   *  maxTokens to the room left and reports the end as 'context'. */
  readonly maxTokensWithinContext?: boolean;
  assertOpen(): void;
  /** Routes the request's responses to `onResponse` until its final one. */
  track(requestId: number, onResponse: (r: NativeResponse) => void, done: Promise<unknown>): void;
}

function codedError(message: string, code: ErrorCode, name = 'Error'): RedrafterError {
  const e = new Error(message) as RedrafterError;
  e.code = code;
  if (name !== 'Error') e.name = name;
  return e;
}

function abortError(signal: AbortSignal): RedrafterError {
  const e = codedError('generation was aborted', ErrorCodes.ABORTED, 'AbortError');
  (e as Error).cause = signal.reason;
  return e;
}

export class Session {
  readonly beamWidth: number;
  readonly beamLength: number;
  readonly #host: SessionHost;
  readonly #native: NativeSession;
  #history: number[] = [];
  #busy = false;
  #disposed = false;
  #previous: Promise<unknown> = Promise.resolve();  // the last request's end (its final response)

  /**
   * Whether the engine may draft less (or not at all) on steps where that is faster (SessionOptions.adaptiveDraft):
   * 'greedy' = for greedy requests only.
   */
  readonly adaptiveDraft: boolean | 'greedy';

  /** @internal use engine.createSession */
  constructor(host: SessionHost, nativeSession: NativeSession, beamWidth: number, beamLength: number, adaptiveDraft: boolean | 'greedy' = false) {
    this.adaptiveDraft = adaptiveDraft;
    this.#host = host;
    this.#native = nativeSession;
    this.beamWidth = beamWidth;
    this.beamLength = beamLength;
  }

  /** The conversation so far as token ids (prompts and generated tokens). */
  get history(): readonly number[] {
    return this.#history;
  }

  /** Forgets the conversation (the next prompt starts with BOS). */
  reset(): void {
    this.#assertUsable();
    this.#history = [];
  }

  /**
   * Streams the continuation of the conversation with `prompt`: an async iterator of { text, tokens } chunks.
   * Invalid options throw here (TypeError/RangeError naming the field); an aborted `signal` makes the iterator
   * throw an AbortError (code ERR_REDRAFTER_ABORTED) within one step, and the session stays usable.
   */
  generate(prompt: Prompt, options?: GenerateOptions): AsyncGenerator<GenerateChunk, GenerationResult, undefined> {
    this.#assertUsable();
    const o = resolveGenerateOptions(options);
    return this.#stream(this.#promptSource(prompt), o);
  }

  /** Generates to the end and returns the text, tokens, finish reason and statistics. */
  async complete(prompt: Prompt, options?: GenerateOptions): Promise<GenerationResult> {
    const it = this.generate(prompt, options);
    for (;;) {
      const r = await it.next();
      if (r.done) return r.value;
    }
  }

  /** Ends a generation in flight and frees the session's KV cache. */
  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    this.#native.release();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  #assertUsable(): void {
    if (this.#disposed) throw codedError('the session was disposed', ErrorCodes.DISPOSED);
    this.#host.assertOpen();
  }

  /** The prompt's token ids (short texts are encoded here), validated before anything is enqueued or recorded. */
  #promptSource(prompt: Prompt): PromptSource {
    const codec = this.#host.codec;
    if (typeof prompt === 'string') {
      const bos = this.#history.length === 0;
      const bytes = Buffer.byteLength(prompt, 'utf8');
      if (bytes > ASYNC_ENCODE_BYTES && codec.encodeAsync) return { text: prompt, bytes, bos };
      return Array.from(codec.encode(prompt, { bos }));
    }
    if (!(prompt instanceof Int32Array) && !Array.isArray(prompt))
      throw invalidArgument('prompt', 'must be a string or an array of token ids');
    const vocab = codec.vocabSize;
    const tokens = Array.from(prompt);
    for (const [i, t] of tokens.entries()) {
      if (typeof t !== 'number' || !Number.isInteger(t)) throw invalidArgument(`prompt[${i}]`, `must be a token id, got ${String(t)}`);
      if (t < 0 || t >= vocab)
        throw invalidArgument(`prompt[${i}]`, `must be a token id in [0, ${vocab}) (the vocabulary size), got ${t}`, 'range');
    }
    return tokens;
  }

  /** Token ids of a long text: refused by its byte length alone when it cannot fit the context, else encoded off
   *  the event loop. */
  async #encodeLong(source: { text: string; bytes: number; bos: boolean }): Promise<number[]> {
    const codec = this.#host.codec;
    const room = this.#host.contextLength - this.#history.length;
    const atLeast = codec.maxTokenBytes ? Math.floor(source.bytes / codec.maxTokenBytes) : 0;
    if (atLeast > room)
      throw codedError(
        `prompt of ${source.bytes} bytes has at least ${atLeast} tokens, more than the ${room} left in the context ` +
          `length ${this.#host.contextLength}`,
        ErrorCodes.CONTEXT_OVERFLOW,
      );
    return Array.from(await codec.encodeAsync!(source.text, { bos: source.bos }));
  }

  async *#stream(source: PromptSource, o: ResolvedGenerateOptions): AsyncGenerator<GenerateChunk, GenerationResult> {
    if (this.#busy) throw codedError('the session is busy: one generation at a time per session', ErrorCodes.INVALID_ARGUMENT);
    this.#busy = true;
    let input: number[] = [];
    const kept: number[] = [];
    let requestId = -1;
    let final: NativeResponse | undefined;
    const queue: NativeResponse[] = [];
    let wake: (() => void) | undefined;
    let resolveDone!: (r: NativeResponse) => void;
    const done = new Promise<NativeResponse>((resolve) => (resolveDone = resolve));
    const onAbort = () => {
      if (requestId >= 0) this.#native.cancel(requestId);
    };
    try {
      await this.#previous;  // a cancelled predecessor ends within one step
      this.#assertUsable();
      if (o.signal?.aborted) throw abortError(o.signal);
      input = [...this.#history, ...(Array.isArray(source) ? source : await this.#encodeLong(source))];
      if (o.signal?.aborted) throw abortError(o.signal);
      if (input.length === 0) throw invalidArgument('prompt', 'must not be empty', 'range');
      if (input.length > this.#host.contextLength)
        throw codedError(
          `prompt has ${input.length} tokens (history included), more than the context length ${this.#host.contextLength}`,
          ErrorCodes.CONTEXT_OVERFLOW,
        );
      const room = this.#host.contextLength - input.length;
      const fitted = this.#host.maxTokensWithinContext === true && o.maxTokens > room;
      if (fitted && room <= 0)
        throw codedError(
          `prompt has ${input.length} tokens (history included): no room is left in the context length ${this.#host.contextLength}`,
          ErrorCodes.CONTEXT_OVERFLOW,
        );
      const codec = this.#host.codec;
      requestId = this.#native.enqueue({
        inputTokenIds: Int32Array.from(input),
        maxTokens: fitted ? room : o.maxTokens,
        temperature: o.temperature,
        topK: o.topK,
        topP: o.topP,
        seed: o.seed,
        beamWidth: this.beamWidth,
        beamLength: this.beamLength,
        acceptance: o.acceptance,
        adaptive: this.adaptiveDraft === 'greedy' ? o.temperature === 0 : this.adaptiveDraft,
        endIds: Int32Array.from((codec.eosTokenIds ?? [codec.eos]).filter((id) => id >= 0)),
      });
      this.#previous = done;
      this.#host.track(
        requestId,
        (r) => {
          queue.push(r);
          if (r.isFinal) resolveDone(r);
          wake?.();
        },
        done,
      );
      o.signal?.addEventListener('abort', onAbort, { once: true });

      const decoder = this.#host.codec.createDecoder(input[input.length - 1] ?? -1);
      const filter = new StopStringFilter(o.stop);
      let text = '';
      let stopped = false;
      while (!final) {
        while (queue.length === 0) await new Promise<void>((resolve) => (wake = resolve));
        wake = undefined;
        const r = queue.shift()!;
        if (r.isFinal) final = r;
        if (stopped) continue;
        const chunk: GenerateChunk = { text: '', tokens: [] };
        for (const t of r.tokens) {
          chunk.tokens.push(t);
          kept.push(t);
          const f = filter.push(decoder.push(t));
          chunk.text += f.text;
          if (f.stopped) {
            stopped = true;
            this.#native.cancel(requestId);
            break;
          }
        }
        if (r.isFinal && !stopped) {
          const f = filter.push(decoder.flush());
          chunk.text += f.text + (f.stopped ? '' : filter.flush());
          stopped ||= f.stopped;
        }
        text += chunk.text;
        if (chunk.tokens.length > 0 || chunk.text.length > 0) yield chunk;
      }
      if (final.finishReason === 'error')
        throw codedError(final.error ?? 'generation failed', (final.errorCode ?? ErrorCodes.INTERNAL) as ErrorCode);
      if (final.finishReason === 'abort' && o.signal?.aborted) throw abortError(o.signal);
      let finishReason: FinishReason = stopped ? 'stop' : (final.finishReason as FinishReason);
      if (finishReason === 'length' && fitted && kept.length >= room) finishReason = 'context';
      return { text, tokens: [...kept], finishReason, stats: toGenerationStats(final.stats) };
    } finally {
      o.signal?.removeEventListener('abort', onAbort);
      if (requestId >= 0 && !final) this.#native.cancel(requestId);  // the consumer stopped early
      // a request the backend refused (final error) leaves the conversation as it was
      if (requestId >= 0 && final?.finishReason !== 'error') this.#history = [...input, ...kept];
      this.#busy = false;
    }
  }
}
