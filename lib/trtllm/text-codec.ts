// The generation code's TextCodec over a Hugging Face tokenizer (HfTokenizer), for TensorRT-LLM engines:
// encode as transformers' tokenizer(text, add_special_tokens=bos) does, and an incremental decoder that emits only
// whole characters (the offset-window detokenization of vLLM/TGI: decode a short window of recent tokens and emit the
// growth, so a token's leading space and multi-byte characters split across tokens come out right).
import type { TextCodec } from '../text-stream.js';
import type { ChatMessage, HfTokenizer } from './hf-tokenizer.js';

/** An incremental decoder over `tokenizer`; `previous` (or -1) is the token before the first pushed one. */
export class HfTokenDecoder {
  readonly #tokenizer: HfTokenizer;
  readonly #ids: number[] = [];
  #prefixOffset = 0;  // #ids[#prefixOffset, #readOffset): context already emitted, decoded again for spacing
  #readOffset = 0;    // #ids[#readOffset, end): tokens whose text is not emitted yet

  constructor(tokenizer: HfTokenizer, previous: number) {
    this.#tokenizer = tokenizer;
    if (previous >= 0) this.#ids.push(previous);
    this.#readOffset = this.#ids.length;
  }

  /** The text that became complete with `token` ('' while a character is still incomplete). */
  push(token: number): string {
    this.#ids.push(token);
    return this.#emit(false);
  }

  /** The end of the stream: whatever is held back (an incomplete character decodes as U+FFFD). */
  flush(): string {
    return this.#readOffset < this.#ids.length ? this.#emit(true) : '';
  }

  #decode(ids: number[]): string {
    return ids.length === 0 ? '' : this.#tokenizer.decode(ids);
  }

  #emit(force: boolean): string {
    const prefix = this.#decode(this.#ids.slice(this.#prefixOffset, this.#readOffset));
    const text = this.#decode(this.#ids.slice(this.#prefixOffset));
    // a multi-byte character split across tokens decodes as U+FFFD until its last byte arrives
    if (!force && (text.length <= prefix.length || text.endsWith('\uFFFD'))) return '';
    const delta = text.startsWith(prefix) ? text.slice(prefix.length) : text.slice(Math.min(prefix.length, text.length));
    this.#prefixOffset = this.#readOffset;
    this.#readOffset = this.#ids.length;
    return delta;
  }
}

/** A TextCodec for sessions on a TensorRT-LLM engine. */
export class HfTextCodec implements TextCodec {
  readonly tokenizer: HfTokenizer;
  /** BOS id, or -1 when the tokenizer has none (tokenizer_config.json bos_token). */
  readonly bos: number;
  /** The first end id, or -1 when the tokenizer names none. */
  readonly eos: number;
  /** Every id that ends generation: tokenizer_config eos_token and generation_config eos_token_id. */
  readonly eosTokenIds: readonly number[];
  readonly vocabSize: number;

  /** `chatTemplate`: 'vicuna' or template text used instead of the model's own (loadEngine's chatTemplate option). */
  constructor(tokenizer: HfTokenizer, readonly chatTemplate?: string) {
    this.tokenizer = tokenizer;
    this.bos = tokenizer.bosTokenId ?? -1;
    this.eosTokenIds = [...tokenizer.eosTokenIds];
    this.eos = this.eosTokenIds[0] ?? -1;
    this.vocabSize = tokenizer.vocabSize;
  }

  /**
   * Token ids of `text`. With `bos`, the tokenizer's special tokens are added as its post-processor says (BOS for
   * LLaMA tokenizers, nothing for tokenizers without one), like transformers' `tokenizer(text)`; without, none are.
   * Special-token text inside `text` (e.g. a rendered chat template's `<|begin_of_text|>`) is always its token.
   */
  encode(text: string, options: { bos?: boolean } = {}): Int32Array {
    return this.tokenizer.encode(text, { addSpecialTokens: options.bos ?? false });
  }

  createDecoder(previous = -1): HfTokenDecoder {
    return new HfTokenDecoder(this.tokenizer, previous);
  }

  /**
   * A chat as prompt token ids: the chat template (chatTemplate, else chat_template.jinja, else tokenizer_config.json
   * chat_template) rendered and encoded without adding special tokens (the template writes them), as transformers'
   * apply_chat_template does.
   */
  async encodeChat(messages: readonly ChatMessage[], options: { addGenerationPrompt?: boolean } = {}): Promise<Int32Array> {
    return this.tokenizer.encode(await this.renderChat(messages, options), { addSpecialTokens: false });
  }

  /** A chat as text through the chat template (what encodeChat encodes). */
  renderChat(messages: readonly ChatMessage[], options: { addGenerationPrompt?: boolean } = {}): Promise<string> {
    return this.tokenizer.applyChatTemplate(messages, { ...options, template: this.chatTemplate });
  }
}
