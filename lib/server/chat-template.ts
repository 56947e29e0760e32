// Chat messages as prompt token ids. The template, first found: --chat-template FILE (a Jinja chat template, as
// Hugging Face's tokenizer_config.json chat_template), else the engine's own (engine.encodeChat: a GGUF's
// tokenizer.chat_template, a Hugging Face tokenizer's chat_template). Rendering is lib/chat-template.ts's.
import { readFile } from 'node:fs/promises';
import { ChatTemplate, type ChatMessage } from '../chat-template.js';
import type { Engine } from '../engine.js';
import { ErrorCodes, isRedrafterError } from '../errors.js';
import type { TextCodec } from '../text-stream.js';
import { Tokenizer } from '../tokenizer.js';
import { HfTextCodec } from '../trtllm/text-codec.js';
import { ApiError, badRequest } from './errors.js';

export interface ChatFormatter {
  /** Where the template came from, for the startup log and /v1/models. */
  readonly source: string;
  encode(messages: readonly ChatMessage[]): Promise<Int32Array>;
}

function tokenText(codec: TextCodec, id: number): string {
  if (id < 0) return '';
  if (codec instanceof Tokenizer) return codec.token(id).text;
  if (codec instanceof HfTextCodec) return codec.tokenizer.decode([id], { skipSpecialTokens: false });
  return '';
}

function refused(err: unknown): ApiError {
  return badRequest('messages', `the chat template refused the messages: ${(err as Error).message}`);
}

/** A formatter that renders a template file and encodes the text with the engine's tokenizer. */
function fileFormatter(template: ChatTemplate, codec: TextCodec): ChatFormatter {
  const tokens = { bosToken: tokenText(codec, codec.bos), eosToken: tokenText(codec, codec.eos) };
  // special: control-token text becomes its token (lib/tokenizer.ts EncodeOptions; Hugging Face codecs always do)
  const encodeOptions: { bos: boolean; special: boolean } = { bos: false, special: true };
  return {
    source: template.origin,
    async encode(messages) {
      let text: string;
      try {
        text = template.render(messages, tokens);
      } catch (err) {
        throw refused(err);
      }
      return Int32Array.from(codec.encode(text, encodeOptions));
    },
  };
}

/** How chat requests are encoded on `engine`; a formatter whose encode() answers 400 saying why when there is none. */
export async function loadChatFormatter(engine: Engine, options: { file?: string }): Promise<ChatFormatter> {
  if (options.file !== undefined) {
    let source: string;
    try {
      source = await readFile(options.file, 'utf8');
    } catch (err) {
      throw new Error(`--chat-template ${options.file}: cannot read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    }
    return fileFormatter(new ChatTemplate(source, `--chat-template ${options.file}`), engine.codec);
  }
  const own = engine.codec instanceof Tokenizer ? engine.codec.chatTemplate : undefined;
  return {
    source: own ? own.origin : 'the tokenizer',
    async encode(messages) {
      try {
        return await engine.encodeChat(messages);
      } catch (err) {
        if (isRedrafterError(err) && err.code === ErrorCodes.UNSUPPORTED) throw noTemplate(err.message);
        if (isRedrafterError(err)) throw err;
        throw refused(err);  // the template's own error (Jinja raise_exception, an unknown filter, ...)
      }
    },
  };
}

function noTemplate(why: string): ApiError {
  return new ApiError(400, `${why}: start the server with --chat-template FILE to use /v1/chat/completions`, {
    param: 'messages',
    code: 'chat_template_missing',
  });
}
