// Tokenizers from TypeScript: a llama2.c tokenizer.bin or a GGUF's embedded vocabulary (SentencePiece or byte-level
// BPE), encoding exactly as llama.cpp does and decoding incrementally without splitting UTF-8 characters.
import { ChatTemplate, type ChatMessage } from './chat-template.js';
import { codedError, ErrorCodes, invalidArgument, type RedrafterError } from './errors.js';
import {
  native,
  type NativeTokenDecoder,
  type NativeTokenEntry,
  type NativeTokenizer,
  type NativeTokenizerInfo,
} from './native.js';

export type TokenizerInfo = NativeTokenizerInfo;
export type TokenEntry = NativeTokenEntry;

export interface EncodeOptions {
  /** Prepend BOS (default: the file's tokenizer.ggml.add_bos_token; true for a tokenizer.bin). */
  bos?: boolean;
  /** Turn control-token texts in the input (such as "<s>") into those tokens, as llama.cpp's parse_special (default false). */
  special?: boolean;
}

function tokenIds(value: Int32Array | readonly number[], field: string): Int32Array {
  if (value instanceof Int32Array) return value;
  if (!Array.isArray(value)) throw invalidArgument(field, 'must be an Int32Array or an array of token ids');
  for (const [i, v] of value.entries())
    if (!Number.isInteger(v) || v < 0 || v >= 2 ** 31)
      throw invalidArgument(`${field}[${i}]`, `must be a token id, got ${String(v)}`);
  return Int32Array.from(value);
}

/** Streams text out of generated tokens: push() returns only whole UTF-8 characters. */
export class TokenDecoder {
  readonly #native: NativeTokenDecoder;

  /** @internal use tokenizer.createDecoder */
  constructor(nativeDecoder: NativeTokenDecoder) {
    this.#native = nativeDecoder;
  }

  /** The text completed by `token` (empty while a character's bytes are still arriving). */
  push(token: number): string {
    return this.#native.push(token);
  }

  /** Whatever is still held (an incomplete character), as U+FFFD; resets. */
  flush(): string {
    return this.#native.flush();
  }

  /** Whether bytes of an incomplete character are held. */
  get pending(): boolean {
    return this.#native.pending;
  }
}

export class Tokenizer {
  readonly #native: NativeTokenizer;
  #chatTemplate: ChatTemplate | null | undefined;  // compiled on first use; null: the file has none

  /** @internal use Tokenizer.load */
  constructor(nativeTokenizer: NativeTokenizer) {
    this.#native = nativeTokenizer;
  }

  /** Loads a llama2.c tokenizer.bin or the vocabulary of a GGUF model (detected from the file). */
  static async load(path: string): Promise<Tokenizer> {
    if (typeof path !== 'string' || path.length === 0) throw invalidArgument('path', 'must be a non-empty string');
    return new Tokenizer(await native().Tokenizer.load(path));
  }

  /** @internal the addon object, for other parts of the library */
  get nativeTokenizer(): NativeTokenizer {
    return this.#native;
  }

  get info(): TokenizerInfo {
    return this.#native.info;
  }
  get vocabSize(): number {
    return this.#native.info.vocabSize;
  }
  get bos(): number {
    return this.#native.info.bos;
  }
  get eos(): number {
    return this.#native.info.eos;
  }
  /** Every token that ends generation: EOS and end-of-turn tokens such as <|eot_id|> and <|im_end|> (as llama.cpp). */
  get eosTokenIds(): readonly number[] {
    return this.#native.info.eogTokens;
  }

  /** Token ids of `text`, with SentencePiece's dummy space prefix and byte fallback. */
  encode(text: string, options: EncodeOptions = {}): Int32Array {
    if (typeof text !== 'string') throw invalidArgument('text', 'must be a string');
    if (typeof options !== 'object' || options === null) throw invalidArgument('options', 'must be an object');
    return this.#native.encode(text, options);
  }

  /** encode() off the event loop: for long texts, whose encoding takes milliseconds or more. */
  async encodeAsync(text: string, options: EncodeOptions = {}): Promise<Int32Array> {
    if (typeof text !== 'string') throw invalidArgument('text', 'must be a string');
    if (typeof options !== 'object' || options === null) throw invalidArgument('options', 'must be an object');
    return this.#native.encodeAsync(text, options);
  }

  /** The model's chat template (GGUF tokenizer.chat_template), or undefined when the file has none. */
  get chatTemplate(): ChatTemplate | undefined {
    if (this.#chatTemplate === undefined) {
      const source = this.#native.info.chatTemplate;
      this.#chatTemplate = source ? new ChatTemplate(source, `${this.#native.info.path} tokenizer.chat_template`) : null;
    }
    return this.#chatTemplate ?? undefined;
  }

  /**
   * A chat as prompt token ids through the model's chat template (rendered as transformers' apply_chat_template;
   * the template writes BOS, and control-token texts in it become their tokens). ERR_REDRAFTER_UNSUPPORTED when the
   * file has no template.
   */
  async encodeChat(messages: readonly ChatMessage[], options: { addGenerationPrompt?: boolean } = {}): Promise<Int32Array> {
    return this.encodeAsync(this.renderChat(messages, options), { bos: false, special: true });
  }

  /** A chat as text through the model's chat template (what encodeChat encodes, with { bos: false, special: true }).
   *  ERR_REDRAFTER_UNSUPPORTED when the file has no template. */
  renderChat(messages: readonly ChatMessage[], options: { addGenerationPrompt?: boolean } = {}): string {
    const template = this.chatTemplate;
    if (!template) {
      throw codedError(ErrorCodes.UNSUPPORTED, `${this.#native.info.path}: the model has no chat template (GGUF tokenizer.chat_template)`);
    }
    return template.render(messages, {
      addGenerationPrompt: options.addGenerationPrompt,
      bosToken: this.bos >= 0 ? this.token(this.bos).text : '',
      eosToken: this.eos >= 0 ? this.token(this.eos).text : '',
    });
  }

  /** The longest token text in bytes: a text of n bytes has at least n / maxTokenBytes tokens. */
  get maxTokenBytes(): number {
    return this.#native.info.maxTokenLength;
  }

  /**
   * The text of `tokens`. `previous` is the token before tokens[0] (default none): a piece right after BOS drops
   * its leading space (llama2.c's rule), so decode(encode(text)) === text.
   */
  decode(tokens: Int32Array | readonly number[], previous = -1): string {
    return this.#native.decode(tokenIds(tokens, 'tokens'), previous);
  }

  /** The vocabulary entry of `id`. */
  token(id: number): TokenEntry {
    return this.#native.token(id);
  }

  /** An incremental decoder; `previous` is the token before the first one pushed (e.g. the prompt's last). */
  createDecoder(previous = -1): TokenDecoder {
    return new TokenDecoder(this.#native.createDecoder(previous));
  }
}
