// `redrafter bench`: the command line and the printed table of the harness in ../bench.ts.
import { Option, type Command } from 'commander';
import { existsSync } from 'node:fs';
import { cpus } from 'node:os';
import { runBench, type BenchReport, type VariantSummary } from '../bench.js';
import { drafterWeightTypes, type DrafterWeightType } from '../drafter/drafter.js';
import { invalidArgument } from '../errors.js';
import {
  adaptiveDraftOption,
  beamLengthOption,
  beamWidthOption,
  intArg,
  intListArg,
  noAdaptiveDraftOption,
  threadsOption,
} from './args.js';

/** --drafter-weights, or its former forms --drafter-f16 (f16) / --no-drafter-f16 (f32), which must agree with it. */
function drafterWeightsOption(weights: DrafterWeightType | undefined, f16: boolean | undefined): DrafterWeightType | undefined {
  if (f16 === undefined) return weights;
  const former = f16 ? 'f16' : 'f32';
  if (weights !== undefined && weights !== former)
    throw invalidArgument(f16 ? '--drafter-f16' : '--no-drafter-f16',
      `is a former form of --drafter-weights and differs from it (${former} vs ${weights})`);
  return former;
}

function formatReport(r: BenchReport): string {
  const f = (x: number, d = 2) => x.toFixed(d);
  const row = (name: string, s: VariantSummary | null) =>
    s
      ? `${name.padEnd(28)} ${f(s.tokensPerSecond.median).padStart(8)} [${f(s.tokensPerSecond.min)}-${f(s.tokensPerSecond.max)}]`.padEnd(60) +
        f(s.tokensPerStep)
      : `${name.padEnd(28)} (not run)`;
  const ratio = (x: number | null) => (x === null ? 'n/a' : `${f(x)}x`);
  const yes = (x: boolean | null) => (x === null ? 'n/a' : x ? 'yes' : 'NO');
  const lines = [
    `model    ${r.model.path} (${r.model.weightType ?? '?'}, dim ${r.model.dim}, ${r.model.nLayers} layers)`,
    `machine  ${r.machine.cpu}, ${r.machine.cores} cores, ${r.machine.threads} threads, ${r.machine.isa ?? '?'} kernels`,
    `runs     ${r.settings.prompts} prompt(s) x ${r.settings.maxTokens} tokens, ${r.settings.repeats} interleaved repeats, greedy`,
    '',
    `${'decoding'.padEnd(28)} ${'tokens/s median [min-max]'.padEnd(31)} tokens/step`,
    row('autoregressive (redrafter)', r.ar),
    row(`ReDrafter W=${r.settings.beamWidth} L=${r.settings.beamLength}${r.settings.adaptiveDraft ? ' adaptive' : ''}${r.settings.drafterWeightType && r.settings.drafterWeightType !== 'f32' ? ` ${r.settings.drafterWeightType}-drafter` : ''}`, r.redrafter),
    row('autoregressive (llama.cpp)', r.llamaCpp) + (r.llamaCppSkipped ? `: ${r.llamaCppSkipped}` : ''),
    '',
    `ReDrafter / AR          ${ratio(r.ratios.redrafterOverAr)}`,
    `ReDrafter / llama.cpp   ${ratio(r.ratios.redrafterOverLlamaCpp)}`,
    `AR / llama.cpp          ${ratio(r.ratios.arOverLlamaCpp)}`,
    `identical greedy output ReDrafter = AR: ${yes(r.identical.redrafterEqualsAr)}; llama.cpp = AR: ${yes(r.identical.llamaCppEqualsAr)}`,
  ];
  if (r.roofline) {
    const m = r.roofline;
    lines.push(
      '',
      `roofline ${f(m.readGBs, 1)} GB/s read, ${f(m.fmaGflops, 0)} GFLOP/s f32 FMA (${m.threads} threads, ${m.isa}); ` +
        `autoregressive decoding reads ${f((m.weightBytes * r.ar.tokensPerSecond.median) / 1e9, 1)} GB/s of weights = ` +
        `${f(100 * m.arBandwidth, 0)}% of the read bandwidth`,
    );
  }
  if (r.stepBreakdownMs) {
    const b = r.stepBreakdownMs;
    const pct = (x: number) => `${f(x, 1)} ms (${f((100 * x) / Math.max(1e-9, b.total), 0)}%)`;
    lines.push(
      '',
      `ReDrafter step (mean over all runs): ${f(b.total, 1)} ms; an autoregressive step: ${f(b.arStep, 1)} ms`,
      `  drafting (beam search)      ${pct(b.drafting)}`,
      `  tree building               ${pct(b.treeBuilding)}`,
      `  verification forward        ${pct(b.forward)}`,
      `  acceptance                  ${pct(b.acceptance)}`,
      `  KV commit                   ${pct(b.commit)}`,
      `  engine glue (sched., resp.) ${pct(b.glue)}`,
      `  Node (JS side, streaming)   ${pct(b.node)}`,
    );
  }
  if (r.forwardCost.length) {
    lines.push('', 'forward of T tokens relative to T=1 (after a 32-token prefix, all T rows out):');
    lines.push('  T        ' + r.forwardCost.map((c) => String(c.tokens).padStart(7)).join(''));
    lines.push('  ms       ' + r.forwardCost.map((c) => f(c.seconds * 1000, 1).padStart(7)).join(''));
    lines.push('  relative ' + r.forwardCost.map((c) => f(c.relative).padStart(7)).join(''));
    if (r.roofline?.forward.length)
      lines.push('  / bound  ' + r.roofline.forward.map((c) => f(c.overBound).padStart(7)).join('') +
        '   (bound: the larger of T=1 and the flops at 80% of the FMA peak)');
  }
  return lines.join('\n') + '\n';
}

const defaultPrompts = ['Once upon a time', 'Lily and Ben went to the park', 'The little dog was sad because'];

export function register(program: Command): void {
  program
    .command('bench')
    .description('ReDrafter vs autoregressive decoding on one engine, and llama.cpp on the same GGUF')
    .requiredOption('--model <file>', 'model file (GGUF for the llama.cpp comparison)')
    .option('--tokenizer <file>', 'tokenizer (default: the GGUF model\'s own)')
    .option('--drafter <dir>', 'drafter directory (Apple layout); without it only autoregressive decoding runs')
    .option('--prompt <text...>', 'prompt(s)', defaultPrompts)
    .option('--max-tokens <n>', 'tokens generated per run', intArg(2, 1 << 20), 64)
    .option('--repeats <n>', 'interleaved repeats', intArg(1, 1000), 3)
    .addOption(threadsOption())
    .addOption(beamWidthOption())
    .addOption(beamLengthOption())
    .addOption(adaptiveDraftOption())
    .addOption(noAdaptiveDraftOption())
    .addOption(new Option('--drafter-weights <type>', "the precision the drafter drafts with (default: q8_0 for drafters of 16 MB and more, else f32)")
      .choices([...drafterWeightTypes]))
    .option('--drafter-f16', 'the former form of --drafter-weights f16')
    .option('--no-drafter-f16', 'the former form of --drafter-weights f32')
    .option('--llama-cpp', 'compare with llama.cpp (node-llama-cpp, a devDependency; default: when it is installed and --model is a GGUF)')
    .option('--no-llama-cpp', 'skip the llama.cpp comparison')
    .option('--forward-cost <list>', 'token counts T for the forward-cost curve ("" to skip)', intListArg(1, 512), [1, 2, 4, 8, 16, 32])
    .addOption(new Option('--backend <name>', 'the engine backend').choices(['cpu', 'cuda']).default('cpu'))
    .option('--no-roofline', "skip measuring the machine's read bandwidth and FMA peak")
    .option('--json', 'print one JSON object instead of the table')
    .action(async (opts) => {
      if (!existsSync(opts.model)) throw new Error(`--model ${opts.model}: no such file`);
      const report = await runBench({
        model: opts.model,
        tokenizer: opts.tokenizer,
        drafter: opts.drafter,
        prompts: opts.prompt,
        maxTokens: opts.maxTokens,
        repeats: opts.repeats,
        threads: opts.threads ?? cpus().length,
        beamWidth: opts.beamWidth,
        beamLength: opts.beamLength,
        adaptiveDraft: opts.adaptiveDraft,
        drafterWeightType: drafterWeightsOption(opts.drafterWeights, opts.drafterF16),
        llamaCpp: opts.llamaCpp,
        backend: opts.backend,
        forwardCost: opts.forwardCost,
        roofline: opts.roofline,
        log: opts.json ? undefined : (line) => process.stderr.write(line + '\n'),
        notice: (line) => process.stderr.write(line + '\n'),
      });
      process.stdout.write(opts.json ? JSON.stringify(report) + '\n' : formatReport(report));
      const bad = report.identical.redrafterEqualsAr === false || report.identical.llamaCppEqualsAr === false;
      if (bad) process.exitCode = 1;
    });
}
