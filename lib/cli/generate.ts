// `redrafter generate`: stream a continuation of a prompt, with ReDrafter drafting or plain decoding.
import type { Command } from 'commander';
import { loadEngine, type Engine } from '../engine.js';
import { invalidArgument, isRedrafterError } from '../errors.js';
import type { GenerationError, GenerationResult, Session } from '../session.js';
import type { GenerationStats } from '../stats.js';
import { addEngineOptions, addSamplingOptions, generateOptionsOf, sessionShape, type EngineCliOptions, type SamplingCliOptions } from './args.js';
import { withProgress } from './progress.js';

/** "W=8 L=5 x30, W=1 L=4 x2, plain x1": the beam shapes the steps ran. */
export function formatBeamShapes(stats: GenerationStats): string {
  return stats.beamShapes
    .map((s) => `${s.beamWidth === 0 ? 'plain' : `W=${s.beamWidth} L=${s.beamLength}`} x${s.steps}`)
    .join(', ');
}

interface GenerateCliOptions extends EngineCliOptions, SamplingCliOptions {
  prompt: string;
  json?: boolean;
}

/** The engine the engine flags name (with a progress bar while it loads) and a session shaped by the beam flags. */
export async function openCliSession(o: EngineCliOptions & SamplingCliOptions): Promise<{ engine: Engine; session: Session }> {
  if (o.model === undefined && o.engineDir === undefined)
    throw invalidArgument('--model', '(cpu) or --engine-dir (tensorrt-llm) is required');
  const drafter = o.draft ? o.drafter : undefined;
  const engine = await withProgress(`loading ${o.model ?? o.engineDir}`, () => loadEngine({
    model: o.model,
    engineDir: o.engineDir,
    tokenizer: o.tokenizer,
    drafter: drafter ?? null,
    backend: o.backend,
    threads: o.threads,
    contextLength: o.contextLength,
  }), o.progress);
  try {
    // a TensorRT-LLM engine drafts with its built-in drafter and beam shape (the flags must match it if given);
    // without drafting, beam flags are refused as the API refuses them
    const plain = engine.info.backend === 'tensorrt-llm' && !o.draft;
    const session = engine.createSession(
      plain && o.beamWidth === undefined && o.beamLength === undefined ? { beamWidth: 0 } : sessionShape(o),
    );
    return { engine, session };
  } catch (err) {
    await engine.dispose();
    throw err;
  }
}

/** "[eos] 12 tokens in 5 steps, 2.40 tokens/step, 80.1 tokens/s; shapes ...": a generation's one-line summary. */
export function formatResultLine(result: GenerationResult): string {
  const s = result.stats;
  return `[${result.finishReason}] ${s.generatedTokens} tokens in ${s.steps} steps, ` +
    `${s.tokensPerStep.toFixed(2)} tokens/step, ${s.tokensPerSecond.toFixed(1)} tokens/s` +
    (s.beamShapes.length > 0 ? `; shapes ${formatBeamShapes(s)}` : '');
}

export function register(program: Command): void {
  const command = program
    .command('generate')
    .description('stream a continuation of --prompt (ReDrafter drafting with --drafter, else plain decoding)')
    .option('--prompt <text>', 'the prompt (default: empty, the story starts from BOS)', '')
    .option('--json', 'print one JSON object on stdout, { text, tokens, finishReason, stats }, and stream the text to stderr');
  addEngineOptions(command);
  addSamplingOptions(command, 256);
  command
    .action(async (o: GenerateCliOptions) => {
      const opened = await openCliSession(o);
      await using engine = opened.engine;
      const session = opened.session;
      const controller = new AbortController();
      const onSigint = () => {
        process.exitCode = 130;  // the text so far is printed, but the run was cut short
        controller.abort();
      };
      process.once('SIGINT', onSigint);
      // the text streams to stdout, or with --json to stderr (stdout then holds the one JSON object)
      const text = o.json ? process.stderr : process.stdout;
      try {
        const stream = session.generate(o.prompt, generateOptionsOf(o, controller.signal));
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
        if (o.json) process.stdout.write(JSON.stringify(result) + '\n');
        else process.stderr.write(formatResultLine(result) + '\n');
      } finally {
        process.off('SIGINT', onSigint);
      }
    });
}
