// The command line's one number parser and the options several commands share, so that each concept has one
// spelling, one range and one description across commands (`build` keeps trtllm-build's own names).
import { InvalidArgumentError, Option, type Command } from 'commander';
import type { Backend } from '../engine.js';

/** An integer in [min, max] (decimal digits, optional sign; nothing else). */
export function intArg(min: number, max = Number.MAX_SAFE_INTEGER) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^\s*[-+]?\d+\s*$/.test(value) || !Number.isSafeInteger(n)) throw new InvalidArgumentError(`must be an integer, got '${value}'.`);
    if (n < min || n > max) throw new InvalidArgumentError(`must be in [${min}, ${max}], got ${n}.`);
    return n;
  };
}

/** A finite number in [min, max]. */
export function numberArg(min: number, max: number) {
  return (value: string): number => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isFinite(n)) throw new InvalidArgumentError(`must be a number, got '${value}'.`);
    if (n < min || n > max) throw new InvalidArgumentError(`must be in [${min}, ${max}], got ${n}.`);
    return n;
  };
}

/** A comma-separated list of integers in [min, max] ('' is the empty list). */
export function intListArg(min: number, max: number) {
  const one = intArg(min, max);
  return (value: string): number[] => value.split(',').filter((s) => s.trim() !== '').map(one);
}

/** A repeatable string option's accumulator. */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/** --threads: CPU threads, the caller included (default: all hardware threads). */
export function threadsOption(): Option {
  return new Option('--threads <n>', 'CPU threads (default: all hardware threads)').argParser(intArg(1, 1024));
}

/** --beam-width: beams drafted per step (default: the engine's, by the model's size; docs/speed.md). */
export function beamWidthOption(min = 0): Option {
  return new Option('--beam-width <n>', `beams drafted per step${min === 0 ? ' (0: plain decoding)' : ''} (default: the engine's, by the model's size)`)
    .argParser(intArg(min, 1024));
}

/** --beam-length: tokens per beam, the LLM's own included. */
export function beamLengthOption(): Option {
  return new Option('--beam-length <n>', "tokens per beam, the LLM's own included (default: the engine's, by the model's size)")
    .argParser(intArg(2, 64));
}

/** --adaptive-draft (with noAdaptiveDraftOption; neither: pinned when a beam shape is given, else the engine's default). */
export function adaptiveDraftOption(): Option {
  return new Option('--adaptive-draft', 'let the engine draft a smaller shape or none on steps where that is measured to be ' +
    "faster (default: off when --beam-width or --beam-length is given, else the engine's: on for greedy runs of models under 30M parameters)");
}

export function noAdaptiveDraftOption(): Option {
  return new Option('--no-adaptive-draft', 'every step drafts the beam shape');
}

/** SessionOptions from the shape flags: only what the user gave, so the engine's defaults govern the rest. */
export function sessionShape(o: { beamWidth?: number; beamLength?: number; adaptiveDraft?: boolean }) {
  return {
    ...(o.beamWidth === undefined ? {} : { beamWidth: o.beamWidth }),
    ...(o.beamLength === undefined ? {} : { beamLength: o.beamLength }),
    ...(o.adaptiveDraft === undefined ? {} : { adaptiveDraft: o.adaptiveDraft }),
  };
}

/** --no-progress: no progress bars (they are drawn only when stderr is a terminal anyway). */
export function noProgressOption(): Option {
  return new Option('--no-progress', 'no progress bars (shown only when stderr is a terminal)');
}

/** What addEngineOptions and addSamplingOptions parse. */
export interface EngineCliOptions {
  model?: string;
  engineDir?: string;
  tokenizer?: string;
  drafter?: string;
  draft: boolean;
  threads?: number;
  contextLength?: number;
  backend: Backend;
  progress: boolean;
}

export interface SamplingCliOptions {
  maxTokens: number;
  temperature: number;
  topK: number;
  topP: number;
  seed: number;
  stop?: string[];
  beamWidth?: number;
  beamLength?: number;
  adaptiveDraft?: boolean;
}

/** The model and engine flags of the commands that generate (generate, chat). */
export function addEngineOptions(command: Command): Command {
  return command
    .option('--model <file>', 'cpu, cuda: model file (llama2.c .bin, GGUF)')
    .option('--engine-dir <dir>', 'tensorrt-llm: the engine directory trtllm-build wrote (its drafter built in)')
    .option('--tokenizer <file>', "tokenizer: a llama2.c model's tokenizer.bin (a GGUF model carries its own); tensorrt-llm: tokenizer.json or its directory")
    .option('--drafter <dir>', 'drafter directory (config.json + model.safetensors)')
    .option('--no-draft', 'plain autoregressive decoding, even with --drafter')
    .addOption(threadsOption())
    .option('--context-length <n>', "KV capacity in tokens (default: the model's)", intArg(1))
    .addOption(new Option('--backend <name>', 'the engine backend').choices(['cpu', 'cuda', 'tensorrt-llm', 'auto']).default('auto'))
    .addOption(noProgressOption());
}

/** The sampling, stop and beam-shape flags of the commands that generate (generate, chat). */
export function addSamplingOptions(command: Command, maxTokensDefault: number): Command {
  return command
    .option('--max-tokens <n>', 'new tokens at most', intArg(1), maxTokensDefault)
    .option('--temperature <t>', '0 = greedy; > 0 samples', numberArg(0, 1e6), 0)
    .option('--top-k <k>', 'sample among the k most likely tokens (0 = off)', intArg(0), 0)
    .option('--top-p <p>', 'nucleus sampling mass (1 = off)', numberArg(Number.MIN_VALUE, 1), 1)
    .option('--seed <n>', 'sampling seed', intArg(0), 0)
    .addOption(beamWidthOption())
    .addOption(beamLengthOption())
    .addOption(adaptiveDraftOption())
    .addOption(noAdaptiveDraftOption())
    .option('--stop <text>', 'stop before this text (repeatable)', collect);
}

/** GenerateOptions from the sampling flags. */
export function generateOptionsOf(o: SamplingCliOptions, signal?: AbortSignal) {
  return { maxTokens: o.maxTokens, temperature: o.temperature, topK: o.topK, topP: o.topP, seed: o.seed, stop: o.stop, signal };
}
