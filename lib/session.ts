// A conversation with an engine: its history is kept by the native session (native/core/executor/conversations.h),
// its KV cache and drafting state by the backend, reused across turns; a turn sends only its new prompt tokens.
// generate() starts a generation (queued behind the session's earlier ones) and returns a GenerationStream: an async
// iterable of { text, tokens } chunks (several tokens per ReDrafter step) with `result`, the whole text, tokens,
// finish reason and statistics. complete() is generate().result.
//
// A prompt may be chat messages: the session keeps the chat (its messages and the replies generated) and renders it
// through the model's chat template (codec.renderChat, lib/chat-template.ts); a later turn sends only what the
// template writes after the previous reply (its end-of-turn token, the new messages, the assistant's header), so
// the KV cache of the earlier turns is reused as it is, the replies' generated tokens included.
import type { ChatMessage } from './chat-template.js';
import { codedError, ErrorCodes, invalidArgument, type ErrorCode, type RedrafterError } from './errors.js';
import { resolveGenerateOptions, type GenerateOptions, type ResolvedGenerateOptions } from './generation-options.js';
import type { NativeResponse, NativeSession } from './native.js';
import { toGenerationStats, type GenerationStats } from './stats.js';
import { StopStringFilter, type TextCodec } from './text-stream.js';

/** Why generation ended: end of sequence, a stop string, maxTokens or the context limit. (An abort, a dispose or an
 *  error rejects instead: see GenerationStream.) */
export type FinishReason = 'eos' | 'stop' | 'length' | 'context';

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

/** What a generation had produced when it was aborted, disposed or failed (the tokens are in session.history). */
export interface PartialGeneration {
  text: string;
  tokens: number[];
}

/** The error a generation ends with when it does not finish: an AbortError (ERR_REDRAFTER_ABORTED), a DISPOSED error
 *  (ERR_REDRAFTER_DISPOSED) or a backend error, with what was generated before. */
export interface GenerationError extends RedrafterError {
  partial: PartialGeneration;
}

/** A prompt: text (encoded with BOS at the start of a conversation), token ids appended as they are, or the chat
 *  messages of a turn (at least one; the session keeps the chat's earlier messages and its replies). */
export type Prompt = string | readonly number[] | Int32Array | readonly ChatMessage[];

/** Text prompts longer than this (UTF-8 bytes) are tokenized off the event loop, after a length check that needs
 *  no tokenizing (a text of n bytes has at least n / codec.maxTokenBytes tokens). */
const ASYNC_ENCODE_BYTES = 16 * 1024;

/** A prompt's token ids (validated when generate() is called), or a text, encoded when its turn comes (whether it
 *  starts with BOS depends on the history then). */
type PromptSource = number[] | { text: string; bytes: number } | { chat: ChatMessage[] };

/** The chat a session holds: its messages (replies included), the template's text of it up to the last reply (its
 *  generation prompt included), and the history length that text and the last reply's tokens make. */
interface ChatState {
  messages: ChatMessage[];
  text: string;
  historyLength: number;
}

/** Stands for the last reply while the next turn is rendered: what the template writes after it is the new turn's
 *  text (a private-use character, so no template trims it and no reply holds it). */
const REPLY_MARK = '\u{E000}redrafter-reply\u{E000}';

/** A chat turn's prompt tokens: `replace`: the template rendered the earlier turns differently (the whole chat is
 *  sent again; the backend still reuses the KV of the longest prefix it shares with the old one). */
interface ChatTurn {
  messages: ChatMessage[];
  text: string;
  replace: boolean;
}

/** What a session needs from its engine. @internal */
export interface SessionHost {
  readonly codec: TextCodec;
  readonly contextLength: number;
  readonly disposed: boolean;
  /** The backend refuses prompt + maxTokens beyond the context (TensorRT-LLM's max_seq_len): the session lowers
   *  maxTokens to the room left and reports the end as 'context'. */
  readonly maxTokensWithinContext?: boolean;
  assertOpen(): void;
  /** Routes the request's responses to `onResponse` until its final one. */
  track(requestId: number, onResponse: (r: NativeResponse) => void, done: Promise<unknown>): void;
}

function abortError(signal: AbortSignal): RedrafterError {
  const e = codedError(ErrorCodes.ABORTED, 'generation was aborted', 'AbortError');
  (e as Error).cause = signal.reason;
  return e;
}

/** How a stream's producer learns that its consumer stopped iterating. @internal */
interface StreamControl {
  push(chunk: GenerateChunk): void;
  /** `listener` is called (once) when the consumer stops iterating before the end. */
  onStop(listener: () => void): void;
  isStopped(): boolean;
}

/**
 * A generation in progress: iterate it for the chunks as they are generated (`for await`), or await `result` for
 * the whole of it; both may be used. It runs whether or not it is iterated (chunks not read yet are kept).
 * - It ends with `result` resolving to { text, tokens, finishReason, stats } and the iteration ending.
 * - An aborted `signal` rejects `result` and throws from the iteration (after the chunks already generated) an
 *   AbortError (code ERR_REDRAFTER_ABORTED) with `partial: { text, tokens }`; disposing the session or its engine
 *   rejects them with code ERR_REDRAFTER_DISPOSED and `partial`; a backend error with its code and `partial`.
 * - Stopping the iteration early (`break`) cancels the generation: `result` rejects with an AbortError.
 * An unobserved `result` never causes an unhandled rejection.
 */
export class GenerationStream implements AsyncIterableIterator<GenerateChunk> {
  readonly result: Promise<GenerationResult>;
  readonly #chunks: GenerateChunk[] = [];
  readonly #waiters: (() => void)[] = [];
  readonly #stopListeners: (() => void)[] = [];
  #ended = false;
  #failed = false;
  #thrown = false;
  #error: unknown;
  #value: GenerationResult | undefined;
  #stopped = false;

  /** @internal use session.generate */
  constructor(run: (control: StreamControl) => Promise<GenerationResult>) {
    const control: StreamControl = {
      push: (chunk) => {
        if (this.#stopped) return;
        this.#chunks.push(chunk);
        this.#wake();
      },
      onStop: (listener) => this.#stopListeners.push(listener),
      isStopped: () => this.#stopped,
    };
    this.result = run(control).then(
      (value) => {
        this.#value = value;
        this.#end();
        return value;
      },
      (err: unknown) => {
        this.#error = err;
        this.#failed = true;
        this.#end();
        throw err;
      },
    );
    this.result.catch(() => undefined);  // observed here: a caller that only iterates gets the error from next()
  }

  async next(): Promise<IteratorResult<GenerateChunk, GenerationResult>> {
    for (;;) {
      const chunk = this.#chunks.shift();
      if (chunk) return { value: chunk, done: false };
      if (this.#ended) {
        if (this.#failed && !this.#thrown && !this.#stopped) {
          this.#thrown = true;
          throw this.#error;
        }
        return { value: this.#value as GenerationResult, done: true };
      }
      await new Promise<void>((resolve) => this.#waiters.push(resolve));
    }
  }

  /** Stops the iteration; a generation still running is cancelled (`result` rejects with an AbortError). */
  async return(): Promise<IteratorResult<GenerateChunk, GenerationResult>> {
    this.#chunks.length = 0;
    if (!this.#stopped && !this.#ended) {
      this.#stopped = true;
      for (const listener of this.#stopListeners.splice(0)) listener();
    }
    this.#stopped = true;
    return { value: this.#value as GenerationResult, done: true };
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  #wake(): void {
    for (const w of this.#waiters.splice(0)) w();
  }

  #end(): void {
    this.#ended = true;
    this.#wake();
  }
}

export class Session {
  readonly beamWidth: number;
  readonly beamLength: number;
  readonly #host: SessionHost;
  readonly #native: NativeSession;
  #disposed = false;
  /** Resolves when the last generation queued so far has ended (its final response included). */
  #tail: Promise<void> = Promise.resolve();
  /** The chat the history holds, when its turns were chat messages. */
  #chat: ChatState | undefined;

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

  /** The conversation so far as token ids (prompts and generated tokens), a copy of the native session's. */
  get history(): readonly number[] {
    return Array.from(this.#native.history());
  }

  /** Forgets the conversation (the next prompt starts with BOS, the next chat turn a new chat). */
  reset(): void {
    this.#assertUsable();
    this.#native.reset();
    this.#chat = undefined;
  }

  /**
   * Starts the continuation of the conversation with `prompt` and returns it as a GenerationStream: iterate it for
   * { text, tokens } chunks, or await its `result`. Invalid options and prompt token ids throw here
   * (TypeError/RangeError naming the field). A call while an earlier generation of this session is still running
   * queues behind it (calls run in the order they were made, each continuing the conversation the earlier ones
   * left). An aborted `signal` ends it within one step (or at once while it is queued) with an AbortError carrying
   * `partial`; the session stays usable.
   */
  generate(prompt: Prompt, options?: GenerateOptions): GenerationStream {
    this.#assertUsable();
    const o = resolveGenerateOptions(options);
    const source = this.#promptSource(prompt);
    const turn = this.#tail;
    let release!: () => void;
    this.#tail = new Promise<void>((resolve) => (release = resolve));
    // the next call's turn comes when this one has ended and so has every call before it
    return new GenerationStream((control) => this.#run(source, o, control, turn).finally(() => void turn.then(release)));
  }

  /** Generates to the end: generate(prompt, options).result. */
  async complete(prompt: Prompt, options?: GenerateOptions): Promise<GenerationResult> {
    return this.generate(prompt, options).result;
  }

  /** Ends the generation in flight and the queued ones (they reject with ERR_REDRAFTER_DISPOSED) and frees the
   *  session's KV cache. */
  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    this.#native.release();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  #assertUsable(): void {
    if (this.#disposed) throw codedError(ErrorCodes.DISPOSED, 'the session was disposed');
    this.#host.assertOpen();
  }

  /** A prompt's token ids, validated before anything is queued or recorded; a text is kept to be encoded when its
   *  turn comes. */
  #promptSource(prompt: Prompt): PromptSource {
    if (typeof prompt === 'string') return { text: prompt, bytes: Buffer.byteLength(prompt, 'utf8') };
    if (!(prompt instanceof Int32Array) && !Array.isArray(prompt))
      throw invalidArgument('prompt', 'must be a string, an array of token ids or an array of chat messages');
    if (Array.isArray(prompt) && prompt.length > 0 && typeof prompt[0] === 'object') {
      const messages: ChatMessage[] = [];
      for (const [i, m] of (prompt as readonly unknown[]).entries()) {
        const e = m as ChatMessage | null;
        if (typeof e !== 'object' || e === null || typeof e.role !== 'string' || typeof e.content !== 'string')
          throw invalidArgument(`prompt[${i}]`, 'must be a chat message { role: string, content: string }');
        messages.push({ role: e.role, content: e.content });
      }
      if (!this.#host.codec.renderChat)
        throw codedError(ErrorCodes.UNSUPPORTED, "chat messages need a tokenizer with a chat template; this engine's has none");
      return { chat: messages };
    }
    const vocab = this.#host.codec.vocabSize;
    const tokens = Array.from(prompt);
    for (const [i, t] of tokens.entries()) {
      if (typeof t !== 'number' || !Number.isInteger(t)) throw invalidArgument(`prompt[${i}]`, `must be a token id, got ${String(t)}`);
      if (t < 0 || t >= vocab)
        throw invalidArgument(`prompt[${i}]`, `must be a token id in [0, ${vocab}) (the vocabulary size), got ${t}`, 'range');
    }
    return tokens;
  }

  /** The prompt's token ids when its turn has come: short texts encoded here, long ones refused by their byte length
   *  alone when they cannot fit the context, else encoded off the event loop. */
  async #encode(source: PromptSource): Promise<number[]> {
    if (Array.isArray(source)) return source;
    if ('chat' in source) throw new Error('unreachable: chat turns are encoded by #encodeChat');
    const codec = this.#host.codec;
    const past = this.#native.historyLength();
    const bos = past === 0;
    if (source.bytes <= ASYNC_ENCODE_BYTES || !codec.encodeAsync) return Array.from(codec.encode(source.text, { bos }));
    const room = this.#host.contextLength - past;
    const atLeast = codec.maxTokenBytes ? Math.floor(source.bytes / codec.maxTokenBytes) : 0;
    if (atLeast > room)
      throw codedError(
        ErrorCodes.CONTEXT_OVERFLOW,
        `prompt of ${source.bytes} bytes has at least ${atLeast} tokens, more than the ${room} left in the context ` +
          `length ${this.#host.contextLength}`,
      );
    return Array.from(await codec.encodeAsync(source.text, { bos }));
  }

  /**
   * A chat turn's prompt tokens when its turn has come: the whole chat rendered on an empty history; else what the
   * template writes after the previous reply (rendered with REPLY_MARK in its place), appended to the history as it is
   * (the replies' tokens as generated), when the template renders the earlier turns as it did before; else the whole
   * chat again (ChatTurn.replace).
   */
  async #encodeChat(messages: ChatMessage[]): Promise<{ prompt: number[]; turn: ChatTurn }> {
    const codec = this.#host.codec;
    const render = async (m: readonly ChatMessage[]) => {
      const text = await codec.renderChat!(m, { addGenerationPrompt: true });
      if (typeof text !== 'string') throw invalidArgument('prompt', '(chat messages): the chat template rendered no text');
      return text;
    };
    const encode = async (text: string) =>
      Array.from(codec.encodeAsync ? await codec.encodeAsync(text, { bos: false, special: true })
        : codec.encode(text, { bos: false, special: true }));
    const past = this.#native.historyLength();
    const chat = this.#chat;
    if (past > 0 && chat?.historyLength !== past)
      throw invalidArgument('prompt', `(chat messages) continue a chat, but this session's conversation (${past} tokens) ` +
        'came from text or token prompts: reset() it first');
    const prior = past > 0 ? chat!.messages : [];
    const all = [...prior, ...messages];
    const text = await render(all);
    if (past === 0) return { prompt: await encode(text), turn: { messages: all, text, replace: false } };
    const marked = await render([...prior.slice(0, -1), { role: 'assistant', content: REPLY_MARK }, ...messages]);
    const at = marked.indexOf(REPLY_MARK);
    if (at >= 0 && marked.slice(0, at) === chat!.text)
      return { prompt: await encode(marked.slice(at + REPLY_MARK.length)), turn: { messages: all, text, replace: false } };
    return { prompt: await encode(text), turn: { messages: all, text, replace: true } };
  }

  /** Why a request the backend ended with 'abort' did not finish. */
  #abortReason(o: ResolvedGenerateOptions, control: StreamControl): RedrafterError {
    if (o.signal?.aborted) return abortError(o.signal);
    if (control.isStopped()) return codedError(ErrorCodes.ABORTED, 'generation was cancelled: its stream was closed before the end', 'AbortError');
    if (this.#disposed) return codedError(ErrorCodes.DISPOSED, 'the session was disposed during generation');
    if (this.#host.disposed) return codedError(ErrorCodes.DISPOSED, 'the engine was disposed during generation');
    return codedError(ErrorCodes.ABORTED, 'generation was aborted by the backend', 'AbortError');
  }

  /** Runs one generation once `turn` (the end of the session's previous one) has come. */
  async #run(source: PromptSource, o: ResolvedGenerateOptions, control: StreamControl, turn: Promise<void>): Promise<GenerationResult> {
    const kept: number[] = [];
    let text = '';
    let requestId = -1;
    let chatTurn: ChatTurn | undefined;
    let lastInput = -1;
    let final: NativeResponse | undefined;
    const queue: NativeResponse[] = [];
    let wake: (() => void) | undefined;
    let resolveDone!: (r: NativeResponse) => void;
    const done = new Promise<NativeResponse>((resolve) => (resolveDone = resolve));
    // an abort (or the consumer leaving) while queued ends the wait at once; once enqueued, it cancels the request
    let interrupt: (() => void) | undefined;
    const onInterrupt = () => {
      if (requestId >= 0) this.#native.cancel(requestId);
      else interrupt?.();
    };
    o.signal?.addEventListener('abort', onInterrupt, { once: true });
    control.onStop(onInterrupt);
    try {
      if (o.signal?.aborted || control.isStopped()) throw this.#abortReason(o, control);
      await new Promise<void>((resolve, reject) => {
        interrupt = () => reject(this.#abortReason(o, control));
        turn.then(resolve);
      });
      interrupt = undefined;
      this.#assertUsable();
      let prompt: number[];
      if (!Array.isArray(source) && 'chat' in source) ({ prompt, turn: chatTurn } = await this.#encodeChat(source.chat));
      else prompt = await this.#encode(source);
      if (o.signal?.aborted || control.isStopped()) throw this.#abortReason(o, control);
      this.#assertUsable();
      if (chatTurn?.replace) {
        this.#native.reset();
        this.#chat = undefined;
      }
      const inputLength = this.#native.historyLength() + prompt.length;  // the whole context the backend runs
      if (inputLength === 0) throw invalidArgument('prompt', 'must not be empty', 'range');
      if (inputLength > this.#host.contextLength)
        throw codedError(
          ErrorCodes.CONTEXT_OVERFLOW,
          `prompt has ${inputLength} tokens (history included), more than the context length ${this.#host.contextLength}`,
        );
      const room = this.#host.contextLength - inputLength;
      const fitted = this.#host.maxTokensWithinContext === true && o.maxTokens > room;
      if (fitted && room <= 0)
        throw codedError(
          ErrorCodes.CONTEXT_OVERFLOW,
          `prompt has ${inputLength} tokens (history included): no room is left in the context length ${this.#host.contextLength}`,
        );
      const codec = this.#host.codec;
      lastInput = prompt.length > 0 ? prompt[prompt.length - 1]! : this.#native.lastToken();
      requestId = this.#native.enqueue({
        promptTokenIds: Int32Array.from(prompt),
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
      this.#host.track(
        requestId,
        (r) => {
          queue.push(r);
          if (r.isFinal) resolveDone(r);
          wake?.();
        },
        done,
      );

      const decoder = codec.createDecoder(lastInput);
      const filter = new StopStringFilter(o.stop);
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
        if (chunk.tokens.length > 0 || chunk.text.length > 0) control.push(chunk);
      }
      if (final.finishReason === 'error')
        throw codedError((final.errorCode ?? ErrorCodes.INTERNAL) as ErrorCode, final.error ?? 'generation failed');
      if (final.finishReason === 'abort' && !stopped) throw this.#abortReason(o, control);
      let finishReason: FinishReason = stopped ? 'stop' : (final.finishReason as FinishReason);
      if (finishReason === 'length' && fitted && kept.length >= room) finishReason = 'context';
      return { text, tokens: [...kept], finishReason, stats: toGenerationStats(final.stats!, this) };
    } catch (err) {
      if (err instanceof Error && !('partial' in err)) (err as GenerationError).partial = { text, tokens: [...kept] };
      throw err;
    } finally {
      o.signal?.removeEventListener('abort', onInterrupt);
      // The native session committed the request's context and output to the history before its final response came
      // (or left it as it was, for a request the backend refused); a stop string keeps only the tokens before it.
      if (requestId >= 0 && final && final.finishReason !== 'error') {
        this.#native.keepOutput(requestId, kept.length);
        this.#chat = chatTurn && !this.#disposed ? this.#chatAfter(chatTurn, kept, lastInput) : undefined;
      }
    }
  }

  /** The chat once a turn's reply (`kept`: the tokens the history keeps) was generated. */
  #chatAfter(turn: ChatTurn, kept: readonly number[], lastInput: number): ChatState {
    const decoder = this.#host.codec.createDecoder(lastInput);
    let reply = '';
    for (const t of kept) reply += decoder.push(t);
    reply += decoder.flush();
    return {
      messages: [...turn.messages, { role: 'assistant', content: reply }],
      text: turn.text,
      historyLength: this.#native.historyLength(),
    };
  }
}
