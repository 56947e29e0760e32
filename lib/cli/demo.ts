// `redrafter demo` (`npm start`): the README's main job. With the stories260K fixture and its drafter, stream a
// story with ReDrafter, then decode the same prompt plainly and compare tokens per step and speed.
import { Option, type Command } from 'commander';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { packageRoot, stories260KDrafterDir } from '../bundled.js';
import { loadEngine } from '../engine.js';
import type { SessionOptions } from '../generation-options.js';
import type { GenerationResult } from '../session.js';
import {
  adaptiveDraftOption,
  beamLengthOption,
  beamWidthOption,
  intArg,
  noAdaptiveDraftOption,
  noProgressOption,
  sessionShape,
  threadsOption,
} from './args.js';
import { formatBeamShapes } from './generate.js';
import { withProgress } from './progress.js';


interface DemoOptions {
  models?: string;
  drafter?: string;
  prompt: string;
  maxTokens: number;
  beamWidth?: number;
  beamLength?: number;
  adaptiveDraft?: boolean;
  threads?: number;
  backend: 'cpu' | 'cuda';
  progress: boolean;
}

function histogram(h: number[]): string {
  return h.map((count, k) => (k > 0 && count > 0 ? `${k}:${count}` : '')).filter(Boolean).join(' ');
}

export function register(program: Command): void {
  program
    .command('demo')
    .description('stream a story from stories260K with ReDrafter, then compare with plain decoding')
    .option('--models <dir>', 'the model fixtures folder (default: $REDRAFTER_MODELS or ../shared/models)')
    .option('--drafter <dir>', 'the drafter (default: models/stories260K-drafter in the package)')
    .option('--prompt <text>', 'the story opening', 'Once upon a time')
    .option('--max-tokens <n>', 'tokens to generate', intArg(1), 200)
    .addOption(beamWidthOption(1))
    .addOption(beamLengthOption())
    .addOption(adaptiveDraftOption())
    .addOption(noAdaptiveDraftOption())
    .addOption(threadsOption())
    .addOption(noProgressOption())
    .addOption(new Option('--backend <name>', 'the engine backend').choices(['cpu', 'cuda']).default('cpu'))
    .action(async (o: DemoOptions) => {
      const models = resolve(o.models ?? process.env.REDRAFTER_MODELS ?? join(packageRoot, '..', 'shared', 'models'));
      const model = join(models, 'stories260K.bin');
      const tokenizer = join(models, 'tok512.bin');
      for (const f of [model, tokenizer])
        if (!existsSync(f)) throw new Error(`${f} not found: pass --models DIR or set REDRAFTER_MODELS to the fixtures folder`);
      const drafter = resolve(o.drafter ?? stories260KDrafterDir);
      if (!existsSync(join(drafter, 'config.json')))
        throw new Error(
          `no drafter at ${drafter}: train one with \`redrafter train-drafter --model ${model} --tokenizer ${tokenizer} --out ${drafter}\` or pass --drafter DIR`,
        );

      await using engine = await withProgress(`loading stories260K and its drafter (${o.backend})`,
        () => loadEngine({ model, tokenizer, drafter, backend: o.backend, threads: o.threads }), o.progress);
      const options = { maxTokens: o.maxTokens, temperature: 0 };
      // the shape the user gave, else the engine's default for this model
      const shape: SessionOptions = sessionShape(o);
      const drafting = engine.createSession(shape);
      const name = (w: number, l: number, adaptive: boolean | 'greedy') => `W=${w} L=${l}${adaptive ? ' adaptive' : ''}`;
      const own = name(drafting.beamWidth, drafting.beamLength, drafting.adaptiveDraft);
      const given = Object.keys(shape).length > 0 ? '' : ": the engine's default for this model";
      process.stdout.write(`stories260K + ReDrafter (${own}${given}), greedy:\n\n`);
      process.stdout.write(o.prompt);
      const stream = drafting.generate(o.prompt, options);
      for await (const chunk of stream) process.stdout.write(chunk.text);
      const drafted: GenerationResult = await stream.result;
      process.stdout.write('\n\n');

      // Speed against plain decoding of the same prompt: interleaved repeats, medians of decode tokens/s. The rows:
      // the demo's own session, then fixed chains and trees of its beam length.
      const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
      const variants: { label: string; options: SessionOptions }[] = [{ label: own, options: shape }];
      for (const w of [1, 2, 4].filter((w) => w <= engine.info.maxBeamWidth)) {
        const label = name(w, drafting.beamLength, false);
        if (label !== own) variants.push({ label, options: { beamWidth: w, beamLength: drafting.beamLength, adaptiveDraft: false } });
      }
      const speeds = variants.map(() => [] as number[]);
      const perStep = variants.map(() => 0);
      const plainSpeeds: number[] = [];
      let plain: GenerationResult | undefined;
      let same = true;
      for (let repeat = 0; repeat < 3; ++repeat) {
        plain = await engine.createSession({ beamWidth: 0 }).complete(o.prompt, options);
        plainSpeeds.push(plain.stats.decodeTokensPerSecond);
        for (const [i, v] of variants.entries()) {
          const r = await engine.createSession(v.options).complete(o.prompt, options);
          speeds[i]!.push(r.stats.decodeTokensPerSecond);
          perStep[i] = r.stats.tokensPerStep;
          same &&= r.tokens.length === plain.tokens.length && r.tokens.every((t, k) => t === plain!.tokens[k]);
        }
      }
      same &&= drafted.tokens.length === plain!.tokens.length && drafted.tokens.every((t, i) => t === plain!.tokens[i]);
      const d = drafted.stats;
      const plainSpeed = median(plainSpeeds);
      const width = Math.max(...variants.map((v) => v.label.length));
      const lines = [
        `ReDrafter ${own}: ${d.generatedTokens} tokens in ${d.steps} steps, ` +
          `${d.tokensPerStep.toFixed(2)} tokens/step (histogram ${histogram(d.tokensPerStepHistogram)}); ` +
          `drafting ${(d.draftingSeconds * 1000).toFixed(1)} ms, verification ${(d.verificationSeconds * 1000).toFixed(1)} ms`,
        `  shapes run: ${formatBeamShapes(d)}`,
        '',
        'decoding speed, medians of 3 interleaved runs:',
        `  plain decoding${' '.repeat(width + 2 - 'plain decoding'.length + 'ReDrafter '.length)}1.00 tokens/step  ${plainSpeed.toFixed(0).padStart(6)} tokens/s`,
        ...variants.map((v, i) => {
          const speed = median(speeds[i]!);
          return `  ReDrafter ${v.label.padEnd(width)}  ${perStep[i]!.toFixed(2)} tokens/step  ${speed.toFixed(0).padStart(6)} tokens/s  ` +
            `${(speed / plainSpeed).toFixed(2)}x`;
        }),
        `lossless: ${same ? 'every drafted story is token for token the plain greedy story' : 'MISMATCH with plain greedy decoding'}`,
        '',
      ];
      process.stdout.write(lines.join('\n'));
      if (!same) process.exitCode = 1;
    });
}
