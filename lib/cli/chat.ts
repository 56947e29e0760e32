// `redrafter chat`: a conversation through the model's chat template (GGUF tokenizer.chat_template), one session
// for the whole chat, so each turn reuses the KV cache of the turns before it. On a terminal it reads turns with
// readline (Ctrl-C ends the reply being generated, Ctrl-C at the prompt or Ctrl-D ends the chat); from a pipe it
// reads one user turn per line and writes each reply followed by a newline (with --json: one JSON object per turn).
import type { Command } from 'commander';
import { createInterface } from 'node:readline';
import type { ChatMessage } from '../chat-template.js';
import { ErrorCodes, isRedrafterError } from '../errors.js';
import type { GenerationError, GenerationResult } from '../session.js';
import { addEngineOptions, addSamplingOptions, generateOptionsOf, type EngineCliOptions, type SamplingCliOptions } from './args.js';
import { formatResultLine, openCliSession } from './generate.js';

interface ChatCliOptions extends EngineCliOptions, SamplingCliOptions {
  system?: string;
  json?: boolean;
  stats: boolean;
}

export function register(program: Command): void {
  const command = program
    .command('chat')
    .description("chat with a model through its chat template: one user turn per line (a terminal's prompt, or a pipe's lines); " +
      'every turn reuses the KV cache of the turns before it')
    .option('--system <text>', 'a system message that opens the chat')
    .option('--json', 'one JSON object per turn on stdout, { text, tokens, finishReason, stats }, instead of the text')
    .option('--no-stats', "no per-turn summary on stderr (tokens, prompt tokens reused, speed)");
  addEngineOptions(command);
  addSamplingOptions(command, 512);
  command.action(async (o: ChatCliOptions) => {
    const opened = await openCliSession(o);
    await using engine = opened.engine;
    using session = opened.session;
    const interactive = process.stdin.isTTY === true && process.stdout.isTTY === true && !o.json;
    const lines = createInterface({ input: process.stdin, output: interactive ? process.stdout : undefined, terminal: interactive });
    let controller: AbortController | undefined;
    let ended = false;
    // Ctrl-C: ends the reply being generated; at the prompt, ends the chat
    const onSigint = () => {
      if (controller) controller.abort();
      else {
        ended = true;
        lines.close();
      }
    };
    lines.on('SIGINT', onSigint);
    process.on('SIGINT', onSigint);
    let pending: ChatMessage[] = o.system !== undefined ? [{ role: 'system', content: o.system }] : [];
    try {
      if (interactive) {
        lines.setPrompt('> ');
        lines.prompt();
      }
      for await (const line of lines) {
        if (ended) break;
        if (line.trim() === '') {
          if (interactive) lines.prompt();
          continue;
        }
        pending.push({ role: 'user', content: line });
        controller = new AbortController();
        const stream = session.generate(pending, generateOptionsOf(o, controller.signal));
        let result: GenerationResult | undefined;
        try {
          for await (const chunk of stream) if (!o.json) process.stdout.write(chunk.text);
          result = await stream.result;
        } catch (err) {
          const e = err as GenerationError;
          // an interrupted reply stays in the chat as far as it got; the chat goes on
          if (!(isRedrafterError(err) && e.code === ErrorCodes.ABORTED && interactive)) throw err;
          process.stdout.write(' [interrupted]');
        } finally {
          controller = undefined;
        }
        pending = [];
        if (o.json) process.stdout.write(JSON.stringify(result) + '\n');
        else process.stdout.write('\n');
        if (result && o.stats) {
          const s = result.stats;
          process.stderr.write(`${formatResultLine(result)}; prompt ${s.promptTokens} tokens, ${s.reusedPromptTokens} reused\n`);
        }
        if (interactive) lines.prompt();
      }
    } finally {
      process.off('SIGINT', onSigint);
      lines.close();
    }
  });
}
