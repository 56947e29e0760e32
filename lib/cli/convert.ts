// `redrafter convert MODEL OUT --tokenizer TOK [--type f32|f16|bf16|q8_0] [--chat-template FILE]`: writes a GGUF
// llama.cpp loads.
import { readFile } from 'node:fs/promises';
import { Option, type Command } from 'commander';
import cliProgress from 'cli-progress';
import { convertModelFile, ggufTypes, type GgufType } from '../model-file.js';
import { invalidArgument } from '../errors.js';

export function register(program: Command): void {
  program
    .command('convert')
    .description('convert a llama2.c checkpoint (or a GGUF) and its tokenizer into a GGUF file for llama.cpp')
    .argument('<model>', 'llama2.c checkpoint (.bin v0, v1 or runq v2) or GGUF')
    .argument('<out>', 'the GGUF file to write')
    .option('--tokenizer <file>', 'tokenizer.bin (or a GGUF); needed for llama2.c checkpoints')
    .addOption(new Option('--to <format>', 'output format').choices(['gguf']).default('gguf'))
    .addOption(new Option('--type <type>', 'matrix type (norms stay f32)').choices([...ggufTypes]).default('f32'))
    .option('--chat-template <file>', "a Jinja chat template to store as tokenizer.chat_template (default: the tokenizer's own)")
    .action(async (model: string, out: string, opts: { tokenizer?: string; to: string; type: GgufType; chatTemplate?: string }) => {
      if (opts.to !== 'gguf') throw invalidArgument('--to', 'must be gguf', 'range');
      const chatTemplate = opts.chatTemplate === undefined ? undefined : await readFile(opts.chatTemplate, 'utf8');
      const started = Date.now();
      const bar = process.stderr.isTTY
        ? new cliProgress.SingleBar({ format: 'converting [{bar}] {value}/{total} tensors', stream: process.stderr },
          cliProgress.Presets.shades_classic)
        : undefined;
      let barStarted = false;
      let result;
      try {
        result = await convertModelFile({
          model,
          tokenizer: opts.tokenizer,
          out,
          type: opts.type,
          chatTemplate,
          onProgress: bar
            ? (done, total) => {
              if (!barStarted) bar.start(total, 0);
              barStarted = true;
              bar.update(done);
            }
            : undefined,
        });
      } finally {
        if (barStarted) bar?.stop();
      }
      const seconds = ((Date.now() - started) / 1000).toFixed(1);
      process.stdout.write(`wrote ${result.out}: ${result.tensors} tensors, ${result.type}, ${result.bytes} bytes in ${seconds} s\n`);
      if (result.fallbacks.length > 0)
        process.stdout.write(`  ${result.fallbacks.length} tensors kept as f16 (q8_0 needs a multiple of 32 columns): ${result.fallbacks.join(', ')}\n`);
    });
}
