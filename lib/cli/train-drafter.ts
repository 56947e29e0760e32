// `redrafter train-drafter`: trains a recurrent drafter for a model by self-distillation and saves it in Apple's
// layout (config.json + model.safetensors). Ctrl-C saves what was trained so far.
import type { Command } from 'commander';
import { Option } from 'commander';
import cliProgress from 'cli-progress';
import { availableParallelism } from 'node:os';
import { Model } from '../model.js';
import { inspectModelFile } from '../model-file.js';
import { Tokenizer } from '../tokenizer.js';
import { saveDrafter, type DrafterDType } from '../drafter/drafter.js';
import {
  defaultEvaluationPrompts,
  defaultTrainingPrompts,
  startDrafterTraining,
  type TrainDrafterOptions,
  type TrainingProgress,
  type TrainingResult,
} from '../drafter/training.js';
import { intArg as int, noProgressOption, numberArg as num, threadsOption } from './args.js';
import { progressShown } from './progress.js';

interface CliOptions {
  model: string;
  tokenizer?: string;
  out: string;
  tokens: number;
  epochs: number;
  steps?: number;
  batchSize: number;
  learningRate: number;
  exitDim?: number;
  blocks: number;
  rnn: boolean;
  unroll?: number;
  distill: number;
  evalBeamWidth: number;
  evalBeamLength: number;
  evalTexts: number;
  sequenceLength: number;
  greedyFraction: number;
  seed: number;
  threads?: number;
  dtype: string;
  json: boolean;
  progress: boolean;
}

export function register(program: Command): void {
  program
    .command('train-drafter')
    .description('train a recurrent drafter for a model by self-distillation (the model writes its own training text)')
    .requiredOption('--model <file>', 'the target model (llama2.c .bin or GGUF)')
    .option('--tokenizer <file>', "its tokenizer (default: a GGUF model's own): enables text prompts for training and held-out evaluation")
    .requiredOption('--out <dir>', 'output drafter directory (config.json + model.safetensors)')
    .option('--tokens <n>', 'token budget of the self-distilled corpus', int(3), 96000)
    .option('--epochs <n>', 'passes over the corpus', num(1e-6, 1e6), 6)
    .option('--steps <n>', 'optimiser steps (overrides --epochs)', int(1))
    .option('--batch-size <n>', 'positions per optimiser step', int(1, 1 << 20), 256)
    .option('--learning-rate <x>', 'peak AdamW learning rate (warmup then cosine decay)', num(0, 10), 3e-3)
    .option('--exit-dim <n>', 'width of the residual blocks (default 2 x the model hidden size: no input_proj)', int(1))
    .option('--blocks <n>', 'residual blocks (num_draft_layers)', int(0, 64), 2)
    .option('--no-rnn', 'running sum of embeddings instead of the recurrent state')
    .option('--unroll <n>', 'drafted tokens learned per position (default max(4, --eval-beam-length - 1))', int(1, 64))
    .option('--distill <x>', "weight of the model's own next-token distribution in the target (0: hard labels only)",
      num(0, 1), 0)
    .option('--eval-beam-width <n>', 'beam width W of the acceptance evaluation', int(1, 1024), 8)
    .option('--eval-beam-length <n>', "beam length L of the acceptance evaluation (the LLM's own token included)", int(2, 64), 5)
    .option('--eval-texts <n>', 'held-out texts of the evaluation, at most (0: none; with a tokenizer, one per held-out prompt)', int(0, 1 << 20), 32)
    .option('--sequence-length <n>', 'tokens per generated text', int(3), 160)
    .option('--greedy-fraction <x>', 'share of texts continued greedily after a sampled prefix', num(0, 1), 0.75)
    .option('--seed <n>', 'seed of the corpus, the initialisation and the batch order', int(0, 2 ** 52), 0)
    .addOption(threadsOption())
    .addOption(new Option('--dtype <type>', 'stored precision').choices(['f32', 'f16', 'bf16']).default('f32'))
    .option('--json', 'print the report as one JSON object on stdout', false)
    .addOption(noProgressOption())
    .action(async (opts: CliOptions) => {
      await trainDrafterCommand(opts);
    });
}

function formatAccuracy(acc: readonly number[] | undefined): string {
  return acc && acc.length ? acc.map((a) => (a * 100).toFixed(0)).join('/') + '%' : '-';
}

async function trainDrafterCommand(opts: CliOptions): Promise<void> {
  const threads = opts.threads ?? availableParallelism();
  // the tokenizer given, else a GGUF model's own: its BOS starts the texts and its end-of-generation tokens end them
  // (EOS, <|eot_id|>, <|im_end|>); without one, llama2.c's BOS 1 and EOS 2
  const tokenizer = opts.tokenizer ?? ((await inspectModelFile(opts.model)).tokenizerModel ? opts.model : undefined);
  const tok = tokenizer === undefined ? undefined : await Tokenizer.load(tokenizer);
  const stopTokens = tok ? [...new Set([...tok.eosTokenIds, ...(tok.bos >= 0 ? [tok.bos] : [])])] : [1, 2];
  const model = await Model.load(opts.model, { threads });
  try {
    const options: TrainDrafterOptions = {
      tokens: opts.tokens,
      epochs: opts.epochs,
      steps: opts.steps,
      batchSize: opts.batchSize,
      learningRate: opts.learningRate,
      exitDim: opts.exitDim,
      numDraftLayers: opts.blocks,
      rnn: opts.rnn,
      unroll: opts.unroll,
      distill: opts.distill,
      evalWidth: opts.evalBeamWidth,
      evalLength: opts.evalBeamLength,
      evalTexts: opts.evalTexts,
      sequenceLength: Math.min(opts.sequenceLength, model.config.contextLength || opts.sequenceLength),
      greedyFraction: opts.greedyFraction,
      seed: opts.seed,
      threads,
      stopTokens,
    };
    if (tokenizer !== undefined) {
      options.tokenizer = tokenizer;
      options.prompts = [...defaultTrainingPrompts];
      options.evalPrompts = defaultEvaluationPrompts.slice(0, opts.evalTexts);
    }
    const show = progressShown(opts.progress);
    // no bars object at all when they are not shown (stopping one writes a line break)
    const bars = show ? new cliProgress.MultiBar(
      {
        stream: process.stderr,
        hideCursor: true,
        clearOnComplete: false,
        format: '{phase} |{bar}| {value}/{total} {unit} | {info} | ETA {eta_formatted}',
        etaBuffer: 50,
        fps: 5,
      },
      cliProgress.Presets.shades_classic,
    ) : undefined;
    const current: { phase?: string; bar?: cliProgress.SingleBar } = {};
    const onProgress = (p: TrainingProgress): void => {
      if (!show) return;
      if (p.phase === 'evaluate') {
        if (current.phase !== p.phase) {
          current.bar?.update(current.bar.getTotal());
          current.phase = p.phase;
          bars!.log('evaluating on held-out prompts: loss, top-1 and the exact greedy acceptance\n');
        }
        return;
      }
      if (current.phase !== p.phase) {
        current.bar?.update(current.bar.getTotal());
        current.phase = p.phase;
        const unit = p.phase === 'generate' ? 'tokens' : p.phase === 'train' ? 'steps' : '';
        current.bar = bars!.create(p.total, 0, { phase: p.phase.padEnd(8), unit, info: '' });
      }
      const info = p.phase === 'train'
        ? `loss ${p.loss?.toFixed(3)} | top-1 ${formatAccuracy(p.accuracy)} | epoch ${p.epoch}`
        : 'the model writes its training text';
      current.bar!.setTotal(p.total);
      current.bar!.update(p.done, { info });
    };

    const started = Date.now();
    const run = startDrafterTraining(model, options, onProgress);
    let interrupts = 0;
    const onSigint = (): void => {
      interrupts++;
      if (interrupts > 1) process.exit(130);
      process.exitCode = 130;  // whatever is saved below, the run was cut short: scripts must not take it as done
      process.stderr.write('\nredrafter: interrupted; saving the drafter trained so far (Ctrl-C again to quit)\n');
      run.stop();
    };
    process.on('SIGINT', onSigint);
    let result: TrainingResult;
    try {
      result = await run.result;
    } finally {
      process.off('SIGINT', onSigint);
      bars?.stop();
    }
    const seconds = (Date.now() - started) / 1000;
    if (!result.config || !result.tensors) {
      const err = new Error('interrupted before training began: nothing was saved') as Error & { code: string };
      err.code = 'ERR_REDRAFTER_ABORTED';
      throw err;
    }
    const dtype = opts.dtype.toUpperCase() as DrafterDType;
    const summary = {
      command: `redrafter train-drafter ${process.argv.slice(3).join(' ')}`,
      seed: opts.seed,
      seconds: Math.round(seconds * 10) / 10,
      ...result.report,
    };
    await saveDrafter(opts.out, result.config, result.tensors, {
      dtype,
      metadata: { 'redrafter.training': JSON.stringify(summary) },
    });
    if (opts.json) {
      process.stdout.write(`${JSON.stringify({ out: opts.out, config: result.config, ...summary })}\n`);
      return;
    }
    const r = result.report;
    const lines = [
      `saved ${opts.out} (${dtype}; exit_dim ${result.config.exitDim}, ${result.config.numDraftLayers} blocks, rnn ${result.config.rnn})${r.stopped ? ' [interrupted]' : ''}`,
      `corpus: ${r.corpusTexts} texts, ${r.corpusTokens} tokens written by the model in ${r.generateSeconds.toFixed(1)} s`,
      `training: ${r.steps}/${r.plannedSteps} steps of ${r.batchSize} positions in ${r.trainSeconds.toFixed(1)} s; last batch loss ${r.lastBatch?.loss.toFixed(3)}, top-1 ${formatAccuracy(r.lastBatch?.accuracy)}`,
    ];
    if (r.heldOut) {
      const a = r.heldOut.acceptance;
      lines.push(
        `held-out (${r.heldOut.texts} greedy texts, ${r.heldOut.tokens} tokens): loss ${r.heldOut.loss.toFixed(3)}, top-1 ${formatAccuracy(r.heldOut.accuracy)}`,
        `greedy acceptance W=${a.beamWidth} L=${a.beamLength}: ${a.tokensPerStep.toFixed(3)} tokens/step (histogram ${a.histogram.join(' ')})`,
      );
    } else if (!r.stopped) {
      lines.push('held-out evaluation: every sampled prompt starts a training text; pass --tokenizer for text prompts');
    }
    lines.push(`total ${seconds.toFixed(1)} s`);
    process.stdout.write(`${lines.join('\n')}\n`);
  } finally {
    model.dispose();
  }
}
