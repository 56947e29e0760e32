// The server's --parallel sessions and the queue in front of them. Each choice of a request runs on its own session;
// the engine steps the sessions' requests together (in-flight batching: the CPU engine's maxActiveRequests, TensorRT-
// LLM's maxBatchSize are set to --parallel). Sessions live as long as the server, so their KV caches are allocated
// once; a request gets the idle sessions whose caches hold the longest prefix of its prompt (the engine reuses it).
// Requests that find too few idle sessions wait in FIFO order, up to the queue limit; beyond it they are refused.
import type { Session } from '../session.js';
import { ApiError } from './errors.js';

interface Waiter {
  prompts: readonly (readonly number[])[];
  resolve: (sessions: Session[]) => void;
  reject: (err: unknown) => void;
  signal: AbortSignal | undefined;
  onAbort: () => void;
}

function commonPrefix(a: readonly number[], b: readonly number[]): number {
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i < n && a[i] === b[i]) ++i;
  return i;
}

export class SessionPool {
  readonly #idle: Session[];
  readonly #queue: Waiter[] = [];
  readonly #maxQueue: number;
  readonly #size: number;
  #closed: ApiError | undefined;

  constructor(sessions: Session[], maxQueue: number) {
    this.#idle = [...sessions];
    this.#size = sessions.length;
    this.#maxQueue = maxQueue;
  }

  /** Sessions generating. */
  get busy(): number {
    return this.#size - this.#idle.length;
  }

  /** Requests waiting for sessions. */
  get waiting(): number {
    return this.#queue.length;
  }

  /**
   * One session per prompt (prompts.length <= the pool's size), at once or after the requests queued before; 429
   * when the queue is full, 503 after close(); an aborted `signal` leaves the queue and rejects with its reason.
   */
  acquire(prompts: readonly (readonly number[])[], signal?: AbortSignal): Promise<Session[]> {
    if (this.#closed) return Promise.reject(this.#closed);
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.#queue.length === 0 && this.#idle.length >= prompts.length) return Promise.resolve(this.#take(prompts));
    if (this.#queue.length >= this.#maxQueue)
      return Promise.reject(new ApiError(429, `the server is busy: ${this.#queue.length} requests are already queued; try again later`));
    return new Promise<Session[]>((resolve, reject) => {
      const waiter: Waiter = {
        prompts,
        resolve,
        reject,
        signal,
        onAbort: () => {
          const at = this.#queue.indexOf(waiter);
          if (at >= 0) this.#queue.splice(at, 1);
          reject(signal!.reason);
          this.#dispatch();  // a large request leaving the head may let smaller ones start
        },
      };
      signal?.addEventListener('abort', waiter.onAbort, { once: true });
      this.#queue.push(waiter);
    });
  }

  /** Gives sessions back (their generations have ended or were cancelled) and starts queued requests. */
  release(sessions: readonly Session[]): void {
    this.#idle.push(...sessions);
    this.#dispatch();
  }

  /** Refuses queued and later requests with `error`. */
  close(error: ApiError): void {
    this.#closed = error;
    for (const w of this.#queue.splice(0)) {
      w.signal?.removeEventListener('abort', w.onAbort);
      w.reject(error);
    }
  }

  #dispatch(): void {
    while (this.#queue.length > 0 && this.#idle.length >= this.#queue[0]!.prompts.length) {
      const w = this.#queue.shift()!;
      w.signal?.removeEventListener('abort', w.onAbort);
      w.resolve(this.#take(w.prompts));
    }
  }

  /** For each prompt, the idle session whose history shares the longest prefix with it. */
  #take(prompts: readonly (readonly number[])[]): Session[] {
    return prompts.map((prompt) => {
      let best = 0;
      let bestLength = -1;
      for (const [i, s] of this.#idle.entries()) {
        const n = commonPrefix(s.history, prompt);
        if (n > bestLength) {
          best = i;
          bestLength = n;
        }
      }
      return this.#idle.splice(best, 1)[0]!;
    });
  }
}
