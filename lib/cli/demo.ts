// `redrafter demo` (`npm start`): the README's main job. With the stories260K fixture and its drafter, stream a
// story with ReDrafter, then decode the same prompt plainly and compare tokens per step and speed.
import { Option, type Command } from 'commander';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadEngine } from '../engine.js';
import type { GenerationResult } from '../session.js';
import { intArg } from './generate.js';

const packageRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

interface DemoOptions {
  models?: string;
  drafter?: string;
  prompt: string;
  maxTokens: number;
  beamWidth: number;
  beamLength: number;
  threads?: number;
  backend: 'cpu' | 'cuda';
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
    .option('--beam-width <n>', 'beams drafted per step', intArg(1), 8)
    .option('--beam-length <n>', "tokens per beam, the LLM's own included", intArg(2), 5)
    .option('--threads <n>', 'CPU threads (default: all)', intArg(0, 1024))
    .addOption(new Option('--backend <name>', 'the engine backend').choices(['cpu', 'cuda']).default('cpu'))
    .action(async (o: DemoOptions) => {
      const models = resolve(o.models ?? process.env.REDRAFTER_MODELS ?? join(packageRoot, '..', 'shared', 'models'));
      const model = join(models, 'stories260K.bin');
      const tokenizer = join(models, 'tok512.bin');
      for (const f of [model, tokenizer])
        if (!existsSync(f)) throw new Error(`${f} not found: pass --models DIR or set REDRAFTER_MODELS to the fixtures folder`);
      const drafter = resolve(o.drafter ?? join(packageRoot, 'models', 'stories260K-drafter'));
      if (!existsSync(join(drafter, 'config.json')))
        throw new Error(
          `no drafter at ${drafter}: train one with \`redrafter train-drafter --model ${model} --tokenizer ${tokenizer} --out ${drafter}\` or pass --drafter DIR`,
        );

      await using engine = await loadEngine({ model, tokenizer, drafter, backend: o.backend, threads: o.threads });
      const options = { maxTokens: o.maxTokens, temperature: 0 };
      process.stdout.write(`stories260K + ReDrafter (beam width ${o.beamWidth}, beam length ${o.beamLength}), greedy:\n\n`);
      const drafting = engine.createSession({ beamWidth: o.beamWidth, beamLength: o.beamLength });
      const stream = drafting.generate(o.prompt, options);
      process.stdout.write(o.prompt);
      let drafted: GenerationResult;
      for (;;) {
        const r = await stream.next();
        if (r.done) {
          drafted = r.value;
          break;
        }
        process.stdout.write(r.value.text);
      }
      process.stdout.write('\n\n');

      // Speed against plain decoding of the same prompt: interleaved repeats, medians of decode tokens/s.
      const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
      const widths = [...new Set([1, 2, 4, o.beamWidth])].filter((w) => w <= engine.info.maxBeamWidth);
      const speeds = new Map<number, number[]>(widths.map((w) => [w, []]));
      const plainSpeeds: number[] = [];
      const perStep = new Map<number, number>();
      let plain: GenerationResult | undefined;
      let same = true;
      for (let repeat = 0; repeat < 3; ++repeat) {
        plain = await engine.createSession({ beamWidth: 0 }).complete(o.prompt, options);
        plainSpeeds.push(plain.stats.decodeTokensPerSecond);
        for (const w of widths) {
          const r = await engine.createSession({ beamWidth: w, beamLength: o.beamLength }).complete(o.prompt, options);
          speeds.get(w)!.push(r.stats.decodeTokensPerSecond);
          perStep.set(w, r.stats.tokensPerStep);
          same &&= r.tokens.length === plain.tokens.length && r.tokens.every((t, i) => t === plain!.tokens[i]);
        }
      }
      same &&= drafted.tokens.length === plain!.tokens.length && drafted.tokens.every((t, i) => t === plain!.tokens[i]);
      const d = drafted.stats;
      const plainSpeed = median(plainSpeeds);
      const lines = [
        `ReDrafter W=${o.beamWidth} L=${o.beamLength}: ${d.generatedTokens} tokens in ${d.steps} steps, ` +
          `${d.tokensPerStep.toFixed(2)} tokens/step (histogram ${histogram(d.tokensPerStepHistogram)}); ` +
          `drafting ${(d.draftingSeconds * 1000).toFixed(1)} ms, verification ${(d.verificationSeconds * 1000).toFixed(1)} ms`,
        '',
        `decoding speed, medians of 3 interleaved runs (beam length ${o.beamLength}):`,
        `  plain decoding      1.00 tokens/step  ${plainSpeed.toFixed(0).padStart(6)} tokens/s`,
        ...widths.map((w) => {
          const v = median(speeds.get(w)!);
          return `  ReDrafter W=${String(w).padEnd(3)}    ${perStep.get(w)!.toFixed(2)} tokens/step  ${v.toFixed(0).padStart(6)} tokens/s  ` +
            `${(v / plainSpeed).toFixed(2)}x`;
        }),
        `lossless: ${same ? 'every drafted story is token for token the plain greedy story' : 'MISMATCH with plain greedy decoding'}`,
        '',
      ];
      process.stdout.write(lines.join('\n'));
      if (!same) process.exitCode = 1;
    });
}
