// Token ids -> text, incrementally: never half a UTF-8 character, and stop strings cut where they begin.

/** How a backend's tokenizer turns tokens into text (the CPU engine's native TextTokenizer is one). */
export interface TextCodec {
  readonly bos: number;
  readonly eos: number;
  /** Token ids of `text`, with BOS first when `addBos`. */
  encode(text: string, addBos: boolean): Int32Array | readonly number[];
  /** The bytes `token` stands for when it follows `previous` (-1: none). */
  piece(token: number, previous: number): Uint8Array;
}

/** Decodes a token stream: bytes of an incomplete character are held until it completes. */
export class TokenTextDecoder {
  readonly #codec: TextCodec;
  readonly #decoder = new TextDecoder('utf-8');
  #previous: number;

  constructor(codec: TextCodec, previous = -1) {
    this.#codec = codec;
    this.#previous = previous;
  }

  push(token: number): string {
    const bytes = this.#codec.piece(token, this.#previous);
    this.#previous = token;
    return this.#decoder.decode(bytes, { stream: true });
  }

  /** Whatever is still held (an incomplete character at the very end) as U+FFFD. */
  flush(): string {
    return this.#decoder.decode();
  }
}

/**
 * Holds back text that may be the start of a stop string; reports the text before the first stop string.
 */
export class StopStringFilter {
  readonly #stops: readonly string[];
  #held = '';

  constructor(stops: readonly string[]) {
    this.#stops = stops;
  }

  /** New text in; out: what may be shown now, and whether a stop string completed (`text` ends before it). */
  push(text: string): { text: string; stopped: boolean } {
    const combined = this.#held + text;
    if (this.#stops.length === 0) return { text: combined, stopped: false };
    let cut = -1;
    for (const stop of this.#stops) {
      const at = combined.indexOf(stop);
      if (at >= 0 && (cut < 0 || at < cut)) cut = at;
    }
    if (cut >= 0) {
      this.#held = '';
      return { text: combined.slice(0, cut), stopped: true };
    }
    // Keep the longest suffix that is a proper prefix of a stop string.
    let keep = 0;
    for (const stop of this.#stops)
      for (let n = Math.min(stop.length - 1, combined.length); n > keep; --n)
        if (combined.endsWith(stop.slice(0, n))) {
          keep = n;
          break;
        }
    this.#held = combined.slice(combined.length - keep);
    return { text: combined.slice(0, combined.length - keep), stopped: false };
  }

  /** The end of the stream: whatever was held is text after all. */
  flush(): string {
    const held = this.#held;
    this.#held = '';
    return held;
  }
}
