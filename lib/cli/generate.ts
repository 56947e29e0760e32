// `redrafter generate`: stream a continuation of a prompt, with ReDrafter drafting or plain decoding.
import { Option, type Command } from 'commander';
import { loadEngine, type Backend } from '../engine.js';
import { invalidArgument, isRedrafterError } from '../errors.js';
import type { GenerationError, GenerationResult } from '../session.js';
import type { GenerationStats } from '../stats.js';
import {
  adaptiveDraftOption,
  beamLengthOption,
  beamWidthOption,
  collect,
  intArg,
  noAdaptiveDraftOption,
  noProgressOption,
  numberArg,
  sessionShape,
  threadsOption,
} from './args.js';
import { withProgress } from './progress.js';

/** "W=8 L=5 x30, W=1 L=4 x2, plain x1": the beam shapes the steps ran. */
export function formatBeamShapes(stats: GenerationStats): string {
  return stats.beamShapes
    .map((s) => `${s.beamWidth === 0 ? 'plain' : `W=${s.beamWidth} L=${s.beamLength}`} x${s.steps}`)
    .join(', ');
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
  adaptiveDraft?: boolean;
  threads?: number;
  contextLength?: number;
  stop?: string[];
  backend: Backend;
  json?: boolean;
  progress: boolean;
}

export function register(program: Command): void {
  program
    .command('generate')
    .description('stream a continuation of --prompt (ReDrafter drafting with --drafter, else plain decoding)')
    .option('--model <file>', 'cpu, cuda: model file (llama2.c .bin, GGUF)')
    .option('--engine-dir <dir>', 'tensorrt-llm: the engine directory trtllm-build wrote (its drafter built in)')
    .option('--tokenizer <file>', "tokenizer: a llama2.c model's tokenizer.bin (a GGUF model carries its own); tensorrt-llm: tokenizer.json or its directory")
    .option('--drafter <dir>', 'drafter directory (config.json + model.safetensors)')
    .option('--no-draft', 'plain autoregressive decoding, even with --drafter')
    .option('--prompt <text>', 'the prompt (default: empty, the story starts from BOS)', '')
    .option('--max-tokens <n>', 'new tokens at most', intArg(1), 256)
    .option('--temperature <t>', '0 = greedy; > 0 samples', numberArg(0, 1e6), 0)
    .option('--top-k <k>', 'sample among the k most likely tokens (0 = off)', intArg(0), 0)
    .option('--top-p <p>', 'nucleus sampling mass (1 = off)', numberArg(Number.MIN_VALUE, 1), 1)
    .option('--seed <n>', 'sampling seed', intArg(0), 0)
    .addOption(beamWidthOption())
    .addOption(beamLengthOption())
    .addOption(adaptiveDraftOption())
    .addOption(noAdaptiveDraftOption())
    .option('--stop <text>', 'stop before this text (repeatable)', collect)
    .addOption(threadsOption())
    .option('--context-length <n>', "KV capacity in tokens (default: the model's)", intArg(1))
    .addOption(new Option('--backend <name>', 'the engine backend').choices(['cpu', 'cuda', 'tensorrt-llm', 'auto']).default('auto'))
    .option('--json', 'print one JSON object on stdout, { text, tokens, finishReason, stats }, and stream the text to stderr')
    .addOption(noProgressOption())
    .action(async (o: GenerateCliOptions) => {
      if (o.model === undefined && o.engineDir === undefined)
        throw invalidArgument('--model', '(cpu) or --engine-dir (tensorrt-llm) is required');
      const drafter = o.draft ? o.drafter : undefined;
      await using engine = await withProgress(`loading ${o.model ?? o.engineDir}`, () => loadEngine({
        model: o.model,
        engineDir: o.engineDir,
        tokenizer: o.tokenizer,
        drafter: drafter ?? null,
        backend: o.backend,
        threads: o.threads,
        contextLength: o.contextLength,
      }), o.progress);
      // a TensorRT-LLM engine drafts with its built-in drafter and beam shape (the flags must match it if given);
      // without drafting, beam flags are refused as the API refuses them
      const plain = engine.info.backend === 'tensorrt-llm' && !o.draft;
      const session = engine.createSession(
        plain && o.beamWidth === undefined && o.beamLength === undefined ? { beamWidth: 0 } : sessionShape(o),
      );
      const controller = new AbortController();
      const onSigint = () => {
        process.exitCode = 130;  // the text so far is printed, but the run was cut short
        controller.abort();
      };
      process.once('SIGINT', onSigint);
      // the text streams to stdout, or with --json to stderr (stdout then holds the one JSON object)
      const text = o.json ? process.stderr : process.stdout;
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
        let result: GenerationResult;
        try {
          for await (const chunk of stream) text.write(chunk.text);
          result = await stream.result;
        } catch (err) {
          const e = err as GenerationError;
          if (o.json && isRedrafterError(err) && e.partial) {
            text.write('\n');
            process.stdout.write(JSON.stringify({ ...e.partial, error: { code: e.code, message: e.message } }) + '\n');
          }
          throw err;
        }
        text.write('\n');
        const s = result.stats;
        if (o.json) {
          process.stdout.write(JSON.stringify(result) + '\n');
        } else {
          process.stderr.write(
            `[${result.finishReason}] ${s.generatedTokens} tokens in ${s.steps} steps, ` +
              `${s.tokensPerStep.toFixed(2)} tokens/step, ${s.tokensPerSecond.toFixed(1)} tokens/s` +
              (s.beamShapes.length > 0 ? `; shapes ${formatBeamShapes(s)}` : '') + '\n',
          );
        }
      } finally {
        process.off('SIGINT', onSigint);
      }
    });
}
