// `redrafter generate`: stream a continuation of a prompt, with ReDrafter drafting or plain decoding.
import { InvalidArgumentError, Option, type Command } from 'commander';
import { loadEngine, type Backend } from '../engine.js';
import { invalidArgument } from '../errors.js';

export function intArg(min: number, max = Number.MAX_SAFE_INTEGER) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^\s*-?\d+\s*$/.test(value) || !Number.isSafeInteger(n)) throw new InvalidArgumentError('must be an integer.');
    if (n < min || n > max) throw new InvalidArgumentError(`must be in [${min}, ${max}].`);
    return n;
  };
}

export function numberArg(min: number, max: number) {
  return (value: string): number => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isFinite(n)) throw new InvalidArgumentError('must be a number.');
    if (n < min || n > max) throw new InvalidArgumentError(`must be in [${min}, ${max}].`);
    return n;
  };
}

function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

interface GenerateCliOptions {
  model?: string;
  engineDir?: string;
  tokenizer?: string;
  drafter?: string;
  draft: boolean;
  prompt: string;
  maxTokens: number;
  temperature: number;
  topK: number;
  topP: number;
  seed: number;
  beamWidth?: number;
  beamLength?: number;
  threads?: number;
  contextLength?: number;
  stop?: string[];
  backend: Backend;
  json?: boolean;
}

export function register(program: Command): void {
  program
    .command('generate')
    .description('stream a continuation of --prompt (ReDrafter drafting with --drafter, else plain decoding)')
    .option('--model <file>', 'cpu, cuda: model file (llama2.c .bin, GGUF)')
    .option('--engine-dir <dir>', 'tensorrt-llm: the engine directory trtllm-build wrote (its drafter built in)')
    .option('--tokenizer <file>', "tokenizer (llama2.c tokenizer.bin, default the model's own; tensorrt-llm: tokenizer.json or its directory)")
    .option('--drafter <dir>', 'drafter directory (config.json + model.safetensors)')
    .option('--no-draft', 'plain autoregressive decoding, even with --drafter')
    .option('--prompt <text>', 'the prompt (default: empty, the story starts from BOS)', '')
    .option('--max-tokens <n>', 'new tokens at most', intArg(1), 256)
    .option('--temperature <t>', '0 = greedy; > 0 samples', numberArg(0, 1e6), 0)
    .option('--top-k <k>', 'sample among the k most likely tokens (0 = off)', intArg(0), 0)
    .option('--top-p <p>', 'nucleus sampling mass (1 = off)', numberArg(Number.MIN_VALUE, 1), 1)
    .option('--seed <n>', 'sampling seed', intArg(0), 0)
    .option('--beam-width <n>', "beams drafted per step (default: the engine's, by model size; docs/speed.md)", intArg(0))
    .option('--beam-length <n>', "tokens per beam, the LLM's own included (default: the engine's, by model size)", intArg(2))
    .option('--stop <text>', 'stop before this text (repeatable)', collect)
    .option('--threads <n>', 'CPU threads (default: all)', intArg(0, 1024))
    .option('--context-length <n>', "KV capacity in tokens (default: the model's)", intArg(1))
    .addOption(new Option('--backend <name>', 'the engine backend').choices(['cpu', 'cuda', 'tensorrt-llm', 'auto']).default('auto'))
    .option('--json', 'after the text, print one JSON line: { tokens, text, finishReason, stats }')
    .action(async (o: GenerateCliOptions) => {
      if (o.model === undefined && o.engineDir === undefined)
        throw invalidArgument('--model', '(cpu) or --engine-dir (tensorrt-llm) is required');
      const drafter = o.draft ? o.drafter : undefined;
      await using engine = await loadEngine({
        model: o.model,
        engineDir: o.engineDir,
        tokenizer: o.tokenizer,
        drafter: drafter ?? null,
        backend: o.backend,
        threads: o.threads,
        contextLength: o.contextLength,
      });
      // a TensorRT-LLM engine drafts with its built-in drafter and beam shape (the flags must match it if given);
      // without drafting, beam flags are refused as the API refuses them
      const plain = engine.info.backend === 'tensorrt-llm' && !o.draft;
      const session = engine.createSession(
        plain && o.beamWidth === undefined && o.beamLength === undefined
          ? { beamWidth: 0 }
          : { beamWidth: o.beamWidth, beamLength: o.beamLength },
      );
      const controller = new AbortController();
      const onSigint = () => {
        process.exitCode = 130;  // the text so far is printed, but the run was cut short
        controller.abort();
      };
      process.once('SIGINT', onSigint);
      try {
        const stream = session.generate(o.prompt, {
          maxTokens: o.maxTokens,
          temperature: o.temperature,
          topK: o.topK,
          topP: o.topP,
          seed: o.seed,
          stop: o.stop,
          signal: controller.signal,
        });
        for (;;) {
          const r = await stream.next();
          if (r.done) {
            if (o.json) {
              process.stdout.write('\n' + JSON.stringify(r.value) + '\n');
            } else {
              const s = r.value.stats;
              process.stdout.write('\n');
              process.stderr.write(
                `[${r.value.finishReason}] ${s.generatedTokens} tokens in ${s.steps} steps, ` +
                  `${s.tokensPerStep.toFixed(2)} tokens/step, ${s.tokensPerSecond.toFixed(1)} tokens/s\n`,
              );
            }
            break;
          }
          process.stdout.write(r.value.text);
        }
      } finally {
        process.off('SIGINT', onSigint);
      }
    });
}
