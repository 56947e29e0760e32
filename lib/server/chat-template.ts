// Chat messages as prompt token ids. Where the template comes from, first found:
//   1. --chat-template FILE (a Jinja chat template, as Hugging Face's tokenizer_config.json chat_template),
//   2. the engine's tokenizer (engine.encodeChat: a Hugging Face tokenizer with a chat_template),
//   3. the GGUF model's tokenizer.chat_template metadata (CPU engine).
// Templates are rendered with @huggingface/jinja as transformers' apply_chat_template does (messages,
// add_generation_prompt, bos_token, eos_token) and the text is encoded without adding BOS (the template writes it);
// special-token text in it (such as "<s>") becomes its token.
import { readFile } from 'node:fs/promises';
import { Template } from '@huggingface/jinja';
import type { Engine } from '../engine.js';
import { ErrorCodes, isRedrafterError } from '../errors.js';
import { inspectModelFile } from '../model-file.js';
import type { TextCodec } from '../text-stream.js';
import { Tokenizer } from '../tokenizer.js';
import { HfTextCodec } from '../trtllm/text-codec.js';
import { ApiError, badRequest } from './errors.js';
import type { ChatMessage } from './request.js';

export interface ChatFormatter {
  /** Where the template came from, for the startup log and /v1/models. */
  readonly source: string;
  encode(messages: readonly ChatMessage[]): Promise<Int32Array>;
}

/** GGUF metadata strings longer than this are cut by inspectModel (native/cpu/model/inspect.cpp scalarText). */
const inspectStringLimit = 200;

function tokenText(codec: TextCodec, id: number): string {
  if (id < 0) return '';
  if (codec instanceof Tokenizer) return codec.token(id).text;
  if (codec instanceof HfTextCodec) return codec.tokenizer.decode([id], { skipSpecialTokens: false });
  return '';
}

function compile(source: string, where: string): Template {
  try {
    return new Template(source);
  } catch (err) {
    throw new Error(`${where}: not a valid Jinja chat template (${(err as Error).message})`);
  }
}

/** A formatter that renders `template` and encodes the text with the engine's tokenizer. */
function templateFormatter(template: Template, codec: TextCodec, source: string): ChatFormatter {
  const bosToken = tokenText(codec, codec.bos);
  const eosToken = tokenText(codec, codec.eos);
  // special: control-token text becomes its token (lib/tokenizer.ts EncodeOptions; Hugging Face codecs always do)
  const encodeOptions: { bos: boolean; special: boolean } = { bos: false, special: true };
  return {
    source,
    async encode(messages) {
      let text: string;
      try {
        text = template.render({ messages, add_generation_prompt: true, bos_token: bosToken, eos_token: eosToken });
      } catch (err) {
        throw badRequest('messages', `the chat template refused the messages: ${(err as Error).message}`);
      }
      return Int32Array.from(codec.encode(text, encodeOptions));
    },
  };
}

/** The GGUF's tokenizer.chat_template, when the file has one: the whole text, or 'cut' when inspectModel cut it. */
async function ggufChatTemplate(path: string): Promise<string | 'cut' | undefined> {
  let summary;
  try {
    summary = await inspectModelFile(path);
  } catch {
    return undefined;  // not a file inspectModel reads: then it has no template we can read either
  }
  if (summary.format !== 'gguf') return undefined;
  const entry = summary.metadata.find((m) => m.key === 'tokenizer.chat_template');
  if (!entry) return undefined;
  return entry.value.length > inspectStringLimit ? 'cut' : entry.value;
}

export interface ChatTemplateOptions {
  /** --chat-template: a template file. */
  file?: string;
  /** CPU engine: the model and tokenizer files (for a GGUF's own template). */
  model?: string;
  tokenizer?: string;
}

/** How chat requests are encoded on `engine`; a formatter whose encode() answers 400 saying why when there is none. */
export async function loadChatFormatter(engine: Engine, options: ChatTemplateOptions): Promise<ChatFormatter> {
  if (options.file !== undefined) {
    let source: string;
    try {
      source = await readFile(options.file, 'utf8');
    } catch (err) {
      throw new Error(`--chat-template ${options.file}: cannot read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    }
    return templateFormatter(compile(source, `--chat-template ${options.file}`), engine.codec, options.file);
  }
  if (engine.codec.encodeChat) {
    return {
      source: 'the tokenizer',
      async encode(messages) {
        try {
          return await engine.encodeChat(messages);
        } catch (err) {
          if (isRedrafterError(err) && err.code === ErrorCodes.UNSUPPORTED) throw noTemplate(err.message);
          throw err;
        }
      },
    };
  }
  let cut = false;
  for (const path of new Set([options.model, options.tokenizer].filter((p): p is string => p !== undefined))) {
    const t = await ggufChatTemplate(path);
    if (t === 'cut') cut = true;
    else if (t !== undefined) return templateFormatter(compile(t, `${path} tokenizer.chat_template`), engine.codec, path);
  }
  const why = cut
    ? `the model's tokenizer.chat_template is longer than redrafter reads from GGUF metadata (${inspectStringLimit} characters)`
    : 'the model has no chat template';
  return {
    source: 'none',
    encode: () => Promise.reject(noTemplate(why)),
  };
}

function noTemplate(why: string): ApiError {
  return new ApiError(400, `${why}: start the server with --chat-template FILE to use /v1/chat/completions`, {
    param: 'messages',
    code: 'chat_template_missing',
  });
}
