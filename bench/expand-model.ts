// Builds the benchmark model of issue 6: a function-preserving expansion of stories260K (and its drafter) into a
// TinyLlama-1.1B-shaped model (see bench/expand-plan.ts for the mapping), written as GGUF f32 and f16 through the
// project's GGUF writer, with the expanded drafter in Apple's layout beside it.
//
//   node --import tsx bench/expand-model.ts --out DIR [--dim 2048 --ffn 5632 --layers 22 --heads 32 --kv-heads 4]
//        [--source stories260K.bin --tokenizer tok512.bin --drafter models/stories260K-drafter] [--types f32,f16]
//
// Writes DIR/model-f32.gguf, DIR/model-f16.gguf, DIR/drafter/{config.json,model.safetensors}, DIR/expansion.json.
// With --drafter-only DIR2 instead of --out, writes only the expanded drafter, into DIR2 (config.json +
// model.safetensors; no model, no expansion.json), e.g. to expand a retrained drafter for an existing expanded model.
import { Command } from 'commander';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { benchModel } from './bench-addon.js';
import { SafetensorsReader, SafetensorsWriter } from '../lib/safetensors.js';
import {
  type DrafterJsonConfig,
  type ExpansionPlan,
  type ExpansionTarget,
  expandDrafterTensor,
  expandedDrafterConfig,
  expandedTensors,
  parameterCount,
  planExpansion,
} from './expand-plan.js';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const modelsDir = process.env.REDRAFTER_MODELS ?? resolve(repoRoot, '..', 'shared', 'models');

export const tinyLlamaShape: ExpansionTarget = { dim: 2048, hiddenDim: 5632, nLayers: 22, nHeads: 32, nKvHeads: 4 };

export interface ExpandOptions {
  source: string;
  tokenizer: string;
  /** Apple-format drafter directory of the source model, or null for none. */
  drafter: string | null;
  out: string;
  target: ExpansionTarget;
  types: ('f32' | 'f16')[];
  /** Progress lines on stderr. */
  log?: (line: string) => void;
}

export interface ExpandResult {
  models: Record<string, string>;
  drafter: string | null;
  parameters: number;
}

/** Expands the Apple-layout drafter in `drafterDir` by `plan` into `outDir` (config.json + model.safetensors, f32). */
async function writeExpandedDrafter(drafterDir: string, outDir: string, plan: ExpansionPlan): Promise<void> {
  mkdirSync(outDir, { recursive: true });
  const cfg = JSON.parse(readFileSync(join(drafterDir, 'config.json'), 'utf8')) as DrafterJsonConfig;
  const newCfg = expandedDrafterConfig(cfg, plan);
  await using reader = await SafetensorsReader.open(join(drafterDir, 'model.safetensors'));
  const expanded = [];
  for (const name of reader.names()) {
    const info = reader.info(name);
    expanded.push(expandDrafterTensor(name, [...info.shape], await reader.readFloat32(name), cfg, plan));
  }
  const writer = await SafetensorsWriter.create(
    join(outDir, 'model.safetensors'),
    expanded.map((x) => ({ name: x.name, dtype: 'F32' as const, shape: x.shape })),
    { format: 'pt' },
  );
  for (const x of expanded) await writer.write(x.name, x.data);
  await writer.finish();
  writeFileSync(join(outDir, 'config.json'), JSON.stringify(newCfg, null, 2) + '\n');
}

/**
 * The drafter alone: expands `drafter` (a drafter of `source`) for `target` into `out`, writing no model and no
 * expansion record. Same tensors as expandModel's drafter for the same source, drafter and target.
 */
export async function expandDrafterOnly(o: { source: string; drafter: string; out: string; target: ExpansionTarget }):
  Promise<string> {
  const src = benchModel().readModelTensors(o.source);
  await writeExpandedDrafter(o.drafter, o.out, planExpansion(src.config, o.target));
  return o.out;
}

/** Writes the expanded model(s) and drafter into options.out. */
export async function expandModel(o: ExpandOptions): Promise<ExpandResult> {
  const log = o.log ?? (() => undefined);
  const src = benchModel().readModelTensors(o.source);
  const plan = planExpansion(src.config, o.target);
  mkdirSync(o.out, { recursive: true });
  const t = o.target;
  const parameters = parameterCount(t, src.config.vocabSize, !src.config.tiedClassifier);
  const models: Record<string, string> = {};
  for (const type of o.types) {
    const path = join(o.out, `model-${type}.gguf`);
    const tensors = expandedTensors(plan, src.tensors);
    let done = 0;
    const started = Date.now();
    benchModel().writeGguf(path, {
      type,
      tokenizer: o.tokenizer,
      name: `stories260K-expanded-${t.dim}x${t.nLayers}`,
      config: {
        ...t,
        vocabSize: src.config.vocabSize,
        contextLength: src.config.contextLength,
        normEps: plan.normEps,
        ropeTheta: src.config.ropeTheta,
      },
      tensors: tensors.map((x) => ({
        ...x,
        produce: () => {
          const data = x.produce();
          done++;
          if (done % 9 === 0 || done === tensors.length) {
            log(`${path}: ${done}/${tensors.length} tensors, ${((Date.now() - started) / 1000).toFixed(0)} s`);
          }
          return data;
        },
      })),
    });
    models[type] = path;
  }
  let drafterOut: string | null = null;
  if (o.drafter) {
    drafterOut = join(o.out, 'drafter');
    await writeExpandedDrafter(o.drafter, drafterOut, plan);
  }
  const recordPath = join(o.out, 'expansion.json');
  if (existsSync(recordPath)) {  // keep the models an earlier run (e.g. --types f32,f16) wrote here
    try {
      const before = JSON.parse(readFileSync(recordPath, 'utf8')) as { models?: Record<string, string> };
      for (const [k, v] of Object.entries(before.models ?? {})) if (!(k in models) && existsSync(v)) models[k] = v;
    } catch {
      // an unreadable record is rewritten
    }
  }
  writeFileSync(
    recordPath,
    JSON.stringify(
      {
        source: o.source,
        tokenizer: o.tokenizer,
        drafter: o.drafter,
        sourceConfig: src.config,
        target: t,
        headDim: plan.targetHeadDim,
        normEps: plan.normEps,
        layerOf: plan.layerOf,
        queryHeadOf: plan.queryHeadOf,
        parameters,
        models,
        expandedDrafter: drafterOut,
      },
      null,
      2,
    ) + '\n',
  );
  return { models, drafter: drafterOut, parameters };
}

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new RangeError(`expected a positive integer, got '${value}'`);
  return n;
}

async function main(argv: string[]): Promise<void> {
  const defaultDrafter = join(repoRoot, 'models', 'stories260K-drafter');
  const program = new Command()
    .name('expand-model')
    .description('Function-preserving expansion of stories260K (and its drafter) into a wide, deep benchmark model')
    .option('--out <dir>', 'output directory')
    .option('--drafter-only <dir>', 'write only the expanded drafter, into this directory (instead of --out)')
    .option('--source <file>', 'source model', join(modelsDir, 'stories260K.bin'))
    .option('--tokenizer <file>', 'source tokenizer', join(modelsDir, 'tok512.bin'))
    .option('--drafter <dir>', 'source drafter (Apple layout); "none" to skip', defaultDrafter)
    .option('--dim <n>', 'residual width D', positiveInt, tinyLlamaShape.dim)
    .option('--ffn <n>', 'FFN width', positiveInt, tinyLlamaShape.hiddenDim)
    .option('--layers <n>', 'layers', positiveInt, tinyLlamaShape.nLayers)
    .option('--heads <n>', 'query heads', positiveInt, tinyLlamaShape.nHeads)
    .option('--kv-heads <n>', 'KV heads', positiveInt, tinyLlamaShape.nKvHeads)
    .option('--types <list>', 'comma-separated GGUF matrix types (f32, f16; none: the drafter only)', 'f32,f16');
  program.parse(argv);
  const o = program.opts();
  const target = { dim: o.dim, hiddenDim: o.ffn, nLayers: o.layers, nHeads: o.heads, nKvHeads: o.kvHeads };
  if (o.drafterOnly !== undefined) {
    if (o.out !== undefined) throw new RangeError('--drafter-only and --out exclude each other');
    if (o.drafter === 'none') throw new RangeError('--drafter-only needs a --drafter');
    const drafterDir = resolve(o.drafter);
    if (!existsSync(join(drafterDir, 'config.json'))) throw new Error(`--drafter: ${drafterDir} has no config.json`);
    const out = await expandDrafterOnly({ source: resolve(o.source), drafter: drafterDir, out: resolve(o.drafterOnly), target });
    process.stdout.write(JSON.stringify({ drafter: out }) + '\n');
    return;
  }
  if (o.out === undefined) throw new RangeError('--out <dir> (or --drafter-only <dir>) is required');
  const types = String(o.types).split(',').map((s) => s.trim()).filter((s) => s !== '' && s !== 'none');
  for (const ty of types) if (ty !== 'f32' && ty !== 'f16') throw new RangeError(`--types: unknown type '${ty}'`);
  let drafter: string | null = o.drafter === 'none' ? null : resolve(o.drafter);
  if (drafter && !existsSync(join(drafter, 'config.json'))) {
    if (o.drafter !== defaultDrafter) throw new Error(`--drafter: ${drafter} has no config.json`);
    process.stderr.write(`no drafter at ${drafter}: writing the model only\n`);
    drafter = null;
  }
  const result = await expandModel({
    source: resolve(o.source),
    tokenizer: resolve(o.tokenizer),
    drafter,
    out: resolve(o.out),
    target,
    types: types as ('f32' | 'f16')[],
    log: (line) => process.stderr.write(line + '\n'),
  });
  process.stdout.write(JSON.stringify(result) + '\n');
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv).catch((err: Error) => {
    process.stderr.write(`expand-model: ${err.message}\n`);
    process.exitCode = 1;
  });
}
