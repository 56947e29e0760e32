// Chat templates: a Jinja template (Hugging Face's tokenizer_config.json chat_template, GGUF's tokenizer.chat_template
// or a file) rendered with @huggingface/jinja as transformers' apply_chat_template renders it. The one home of that
// rendering for every tokenizer and the server.
import { Template } from '@huggingface/jinja';
import { codedError, ErrorCodes, type RedrafterError } from './errors.js';

/** One message of a chat. */
export interface ChatMessage {
  role: string;
  content: string;
}

export interface ChatRenderOptions {
  /** End with the template's prompt for the assistant's turn (default true). */
  addGenerationPrompt?: boolean;
  /** The texts of the tokenizer's BOS and EOS tokens (the template's bos_token, eos_token). */
  bosToken?: string;
  eosToken?: string;
}

export class ChatTemplate {
  readonly #template: Template;

  /** Throws ERR_REDRAFTER_INVALID_MODEL naming `origin` (the file or metadata key) when `source` is not a template. */
  constructor(readonly source: string, readonly origin: string) {
    try {
      this.#template = new Template(source);
    } catch (err) {
      throw codedError(ErrorCodes.INVALID_MODEL, `${origin}: not a valid Jinja chat template (${(err as Error).message})`);
    }
  }

  /** The chat as text; the template writes the special tokens, so encode it without adding BOS. */
  render(messages: readonly ChatMessage[], options: ChatRenderOptions = {}): string {
    return this.#template.render({
      messages,
      add_generation_prompt: options.addGenerationPrompt ?? true,
      bos_token: options.bosToken ?? '',
      eos_token: options.eosToken ?? '',
    });
  }
}
