// Text out of a token stream: the tokenizer's incremental decoder, and stop strings cut where they begin.

/** How a backend's tokenizer turns text into tokens and back (lib/tokenizer.ts's Tokenizer is one). */
export interface TextCodec {
  readonly bos: number;
  readonly eos: number;
  /** Every token id that ends generation (default: [eos]); none are part of the output. */
  readonly eosTokenIds?: readonly number[];
  readonly vocabSize: number;
  /** Token ids of `text`, with BOS first when `bos`; `special`: control-token texts (a rendered chat template's
   *  <|eot_id|>) become their tokens (codecs that always do so ignore it). */
  encode(text: string, options: { bos?: boolean; special?: boolean }): Int32Array | readonly number[];
  /** encode() off the event loop, where the codec can (sessions use it for long prompts). */
  encodeAsync?(text: string, options: { bos?: boolean; special?: boolean }): Promise<Int32Array | readonly number[]>;
  /** The longest token in bytes, where known: a text of n bytes has at least n / maxTokenBytes tokens. */
  readonly maxTokenBytes?: number;
  /** An incremental decoder: push() returns only whole UTF-8 characters; `previous` is the token before. */
  createDecoder(previous: number): { push(token: number): string; flush(): string };
  /** Chat messages as text through the tokenizer's chat template (tokenizers that have one; throws
   *  ERR_REDRAFTER_UNSUPPORTED when there is none): encode it with { bos: false, special: true }. */
  renderChat?(messages: readonly { role: string; content: string }[], options: { addGenerationPrompt?: boolean }): string | Promise<string>;
  /** Chat messages as prompt token ids through the tokenizer's chat template (tokenizers that have one). */
  encodeChat?(messages: readonly { role: string; content: string }[], options: { addGenerationPrompt?: boolean }): Promise<Int32Array>;
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
