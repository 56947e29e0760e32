// `redrafter convert MODEL OUT --tokenizer TOK [--to gguf] [--type f32|f16|bf16|q8_0|q4_0|q4_k|q5_k|q6_k|q4_k_m]
// [--chat-template FILE]`: writes a GGUF llama.cpp loads (--dtype: the former name of --type).
import { readFile } from 'node:fs/promises';
import { Option, type Command } from 'commander';
import { convertModelFile, ggufTypes, type GgufType } from '../model-file.js';
import { invalidArgument } from '../errors.js';
import { noProgressOption } from './args.js';
import { itemBar } from './progress.js';

export function register(program: Command): void {
  program
    .command('convert')
    .description('convert a llama2.c checkpoint (or a GGUF) and its tokenizer into a GGUF file for llama.cpp')
    .argument('<model>', 'llama2.c checkpoint (.bin v0, v1 or runq v2) or GGUF')
    .argument('<out>', 'the GGUF file to write')
    .option('--tokenizer <file>', 'tokenizer.bin (or a GGUF); needed for llama2.c checkpoints')
    .addOption(new Option('--to <format>', 'output format').choices(['gguf']).default('gguf'))
    .addOption(new Option('--type <type>', 'matrix type (norms stay f32; q4_k_m: llama.cpp\'s mix of q4_k and q6_k)').choices([...ggufTypes]))
    .addOption(new Option('--dtype <type>', 'the former name of --type').choices([...ggufTypes]).hideHelp())
    .option('--chat-template <file>', "a Jinja chat template to store as tokenizer.chat_template (default: the tokenizer's own)")
    .addOption(noProgressOption())
    .action(async (model: string, out: string, opts: { tokenizer?: string; to: string; type?: GgufType; dtype?: GgufType; chatTemplate?: string; progress: boolean }) => {
      if (opts.to !== 'gguf') throw invalidArgument('--to', 'must be gguf', 'range');
      if (opts.type !== undefined && opts.dtype !== undefined && opts.type !== opts.dtype)
        throw invalidArgument('--dtype', `is the former name of --type and differs from it (${opts.dtype} vs ${opts.type})`);
      const type = opts.type ?? opts.dtype ?? 'f32';
      const chatTemplate = opts.chatTemplate === undefined ? undefined : await readFile(opts.chatTemplate, 'utf8');
      const started = Date.now();
      const bar = itemBar('converting [{bar}] {value}/{total} tensors', opts.progress);
      let result;
      try {
        result = await convertModelFile({
          model,
          tokenizer: opts.tokenizer,
          out,
          type,
          chatTemplate,
          onProgress: bar ? (done, total) => bar.update(done, total) : undefined,
        });
      } finally {
        bar?.stop();
      }
      const seconds = ((Date.now() - started) / 1000).toFixed(1);
      process.stdout.write(`wrote ${result.out}: ${result.tensors} tensors, ${result.type}, ${result.bytes} bytes in ${seconds} s\n`);
      if (result.fallbacks.length > 0)
        process.stdout.write(`  ${result.fallbacks.length} tensors written as q8_0 or f16 (their columns are not whole ${type} blocks): ${result.fallbacks.join(', ')}\n`);
    });
}
