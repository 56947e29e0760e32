// Hugging Face tokenizers for TensorRT-LLM engines: tokenizer.json (+ tokenizer_config.json, generation_config.json)
// through @huggingface/tokenizers (loaded on first use; a missing package is a clear ERR_REDRAFTER_UNSUPPORTED error),
// chat templates through lib/chat-template.ts.
import { existsSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { ChatTemplate, type ChatMessage } from '../chat-template.js';
import { codedError, ErrorCodes, type RedrafterError } from '../errors.js';

export type { ChatMessage };

/**
 * The Vicuna v1.1 conversation format (FastChat's "vicuna_v1.1" template, separators " " and "</s>":
 * "<system> USER: <u1> ASSISTANT: <a1></s>USER: <u2> ASSISTANT:"), which the ReDrafter paper's Vicuna base models and drafters were
 * trained on. Vicuna's tokenizer_config.json has no chat_template; pass chatTemplate: 'vicuna' to use this one.
 */
export const VICUNA_CHAT_TEMPLATE =
  "{% if messages[0]['role'] == 'system' %}{% set system = messages[0]['content'] %}{% set turns = messages[1:] %}" +
  "{% else %}{% set system = 'A chat between a curious user and an artificial intelligence assistant. " +
  "The assistant gives helpful, detailed, and polite answers to the user\\'s questions.' %}{% set turns = messages %}{% endif %}" +
  "{{ system + ' ' }}" +
  "{% for m in turns %}{% if m['role'] == 'user' %}{{ 'USER: ' + m['content'] + ' ' }}" +
  "{% elif m['role'] == 'assistant' %}{{ 'ASSISTANT: ' + m['content'] + eos_token }}{% endif %}{% endfor %}" +
  "{% if add_generation_prompt %}{{ 'ASSISTANT:' }}{% endif %}";

interface HfTokenizerImpl {
  encode(text: string, options?: { add_special_tokens?: boolean }): { ids: number[] };
  decode(ids: number[], options?: { skip_special_tokens?: boolean }): string;
  token_to_id(token: string): number | undefined;
  get_vocab(withAdded?: boolean): Map<string, number>;
}
interface TokenizersModule {
  Tokenizer: new (tokenizerJson: object, config: object) => HfTokenizerImpl;
}

async function importOptional<T>(name: string, what: string): Promise<T> {
  const specifier: string = name;  // not resolved at type-check time: an optional dependency
  try {
    return (await import(specifier)) as T;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ERR_MODULE_NOT_FOUND') {
      throw codedError(ErrorCodes.UNSUPPORTED, `${what} needs the npm package ${name} (npm install ${name})`);
    }
    throw err;
  }
}

async function readJson(path: string): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw codedError(ErrorCodes.IO, `${path}: cannot read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  try {
    const value = JSON.parse(text) as unknown;
    if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new Error('not a JSON object');
    return value as Record<string, unknown>;
  } catch (err) {
    throw codedError(ErrorCodes.INVALID_MODEL, `${path}: not a valid tokenizer file (${(err as Error).message})`);
  }
}

/** A special-token entry of tokenizer_config.json: "text" or { "content": "text", ... }. */
function tokenText(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (value && typeof value === 'object' && typeof (value as { content?: unknown }).content === 'string') {
    return (value as { content: string }).content;
  }
  return undefined;
}

export class HfTokenizer {
  private constructor(
    private readonly impl: HfTokenizerImpl,
    private readonly config: Record<string, unknown>,
    /** chat_template.jinja beside tokenizer.json (transformers' newer layout); preferred to tokenizer_config's. */
    private readonly templateFile: { text: string; path: string } | undefined,
    /** Token ids that end generation (tokenizer_config eos_token, generation_config eos_token_id). */
    readonly eosTokenIds: readonly number[],
    readonly bosTokenId: number | undefined,
    readonly vocabSize: number,
    readonly path: string,
  ) {}

  /**
   * Loads `path`: a tokenizer.json file, or a directory holding tokenizer.json and optionally tokenizer_config.json
   * (special tokens, chat_template) and generation_config.json (eos_token_id).
   */
  static async load(path: string): Promise<HfTokenizer> {
    if (!existsSync(path)) throw codedError(ErrorCodes.IO, `${path}: the tokenizer does not exist`);
    const dir = statSync(path).isDirectory() ? path : dirname(path);
    const file = statSync(path).isDirectory() ? join(path, 'tokenizer.json') : path;
    const tokenizerJson = await readJson(file);
    if (typeof tokenizerJson.model !== 'object' || tokenizerJson.model === null) {
      throw codedError(ErrorCodes.INVALID_MODEL, `${file}: not a Hugging Face tokenizer.json (no "model")`);
    }
    const configPath = join(dir, 'tokenizer_config.json');
    const config = existsSync(configPath) ? await readJson(configPath) : {};
    const templatePath = join(dir, 'chat_template.jinja');
    let templateFile: { text: string; path: string } | undefined;
    if (existsSync(templatePath)) {
      try {
        templateFile = { text: await readFile(templatePath, 'utf8'), path: templatePath };
      } catch (err) {
        throw codedError(ErrorCodes.IO, `${templatePath}: cannot read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
      }
    }
    const { Tokenizer } = await importOptional<TokenizersModule>('@huggingface/tokenizers', 'a tokenizer.json tokenizer');
    let impl: HfTokenizerImpl;
    try {
      impl = new Tokenizer(tokenizerJson, config);
    } catch (err) {
      throw codedError(ErrorCodes.INVALID_MODEL, `${file}: unsupported tokenizer (${(err as Error).message})`);
    }
    const idOf = (value: unknown) => {
      const text = tokenText(value);
      return text === undefined ? undefined : impl.token_to_id(text);
    };
    const eos = new Set<number>();
    const configEos = idOf(config.eos_token);
    if (configEos !== undefined) eos.add(configEos);
    const genPath = join(dir, 'generation_config.json');
    if (existsSync(genPath)) {
      const gen = await readJson(genPath);
      for (const id of [gen.eos_token_id].flat()) if (Number.isInteger(id)) eos.add(id as number);
    }
    const vocab = impl.get_vocab(true);
    let maxId = -1;
    for (const id of vocab.values()) maxId = Math.max(maxId, id);
    return new HfTokenizer(impl, config, templateFile, [...eos], idOf(config.bos_token), maxId + 1, file);
  }

  /** Token ids of `text` (with the tokenizer's special tokens, e.g. BOS, unless addSpecialTokens is false). */
  encode(text: string, options: { addSpecialTokens?: boolean } = {}): Int32Array {
    return Int32Array.from(this.impl.encode(text, { add_special_tokens: options.addSpecialTokens ?? true }).ids);
  }

  decode(ids: ArrayLike<number>, options: { skipSpecialTokens?: boolean } = {}): string {
    return this.impl.decode(Array.from(ids), { skip_special_tokens: options.skipSpecialTokens ?? true });
  }

  /** The model's chat template: chat_template.jinja when present, else tokenizer_config.json chat_template. */
  get chatTemplate(): string | undefined {
    if (this.templateFile) return this.templateFile.text;
    const t = this.config.chat_template;
    if (typeof t === 'string') return t;
    // a list of named templates: use "default"
    if (Array.isArray(t)) {
      const named = t.find((x) => (x as { name?: string }).name === 'default') as { template?: string } | undefined;
      return named?.template;
    }
    return undefined;
  }

  /**
   * Renders a chat as transformers' apply_chat_template does, with the model's template (chat_template.jinja, else
   * tokenizer_config.json chat_template), or `options.template`: 'vicuna' (VICUNA_CHAT_TEMPLATE) or template text.
   */
  async applyChatTemplate(
    messages: readonly ChatMessage[],
    options: { addGenerationPrompt?: boolean; template?: 'vicuna' | string } = {},
  ): Promise<string> {
    let template = this.chatTemplate;
    let origin = this.templateFile ? this.templateFile.path : `${this.path} chat_template`;
    if (options.template !== undefined) {
      template = options.template === 'vicuna' ? VICUNA_CHAT_TEMPLATE : options.template;
      origin = options.template === 'vicuna' ? 'the Vicuna v1.1 template' : 'the template given';
    }
    if (!template) {
      throw codedError(ErrorCodes.UNSUPPORTED, `${this.path}: the tokenizer has no chat template (no chat_template.jinja, no ` +
        "tokenizer_config.json chat_template); Vicuna models take template 'vicuna'");
    }
    return new ChatTemplate(template, origin).render(messages, {
      addGenerationPrompt: options.addGenerationPrompt,
      bosToken: tokenText(this.config.bos_token) ?? '',
      eosToken: tokenText(this.config.eos_token) ?? '',
    });
  }

  /** A decoder for streamed tokens: text grows as tokens arrive, holding back incomplete characters. */
  streamDecoder(): (tokens: ArrayLike<number>) => string {
    const all: number[] = [];
    let emitted = '';
    return (tokens) => {
      for (let i = 0; i < tokens.length; i++) all.push(tokens[i]!);
      let text = this.decode(all);
      // a multi-byte character split across tokens decodes as U+FFFD until its last byte arrives
      while (text.endsWith('\uFFFD')) text = text.slice(0, -1);
      if (!text.startsWith(emitted)) return '';
      const delta = text.slice(emitted.length);
      emitted = text;
      return delta;
    };
  }
}
