// `redrafter inspect FILE`: a model's config, tensors (name, type, shape, size) and tokenizer; also tokenizer files,
// drafter directories (config.json + model.safetensors) and any .safetensors file.
import type { Command } from 'commander';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { readDrafterConfig, type DrafterConfig } from '../drafter/config.js';
import { codedError, ErrorCodes, type RedrafterError } from '../errors.js';
import { inspectModelFile, type ModelFileSummary } from '../model-file.js';
import { SafetensorsReader } from '../safetensors.js';

function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 ** 3) return `${(n / 1024 ** 2).toFixed(1)} MiB`;
  return `${(n / 1024 ** 3).toFixed(2)} GiB`;
}

type TensorRow = { name: string; type: string; shape: readonly number[]; bytes: number };

/** The tensors table: a line of counts and bytes by type, then one line per tensor. */
function formatTensors(tensors: readonly TensorRow[]): string[] {
  if (tensors.length === 0) return [];
  const lines: string[] = [];
  const byType = new Map<string, { count: number; bytes: number }>();
  let total = 0;
  for (const t of tensors) {
    const e = byType.get(t.type) ?? { count: 0, bytes: 0 };
    e.count += 1;
    e.bytes += t.bytes;
    byType.set(t.type, e);
    total += t.bytes;
  }
  const types = [...byType].map(([type, e]) => `${e.count} ${type} (${bytes(e.bytes)})`).join(', ');
  lines.push(`tensors: ${tensors.length}, ${bytes(total)}: ${types}`);
  const width = Math.max(...tensors.map((t) => t.name.length));
  for (const t of tensors)
    lines.push(`  ${t.name.padEnd(width)}  ${t.type.padEnd(8)} [${t.shape.join(', ')}]  ${bytes(t.bytes)}`);
  return lines;
}

/** What a .safetensors file holds, and for a drafter directory its config.json. */
export interface SafetensorsSummary {
  path: string;
  kind: 'drafter' | 'safetensors';
  format: 'safetensors';
  fileBytes: number;
  /** A drafter directory: config.json as written, and as redrafter reads it. */
  config?: { file: string; json: Record<string, unknown>; drafter: DrafterConfig; parameters: number };
  tensors: TensorRow[];
  metadata: { key: string; value: string }[];
}

async function readSafetensors(file: string): Promise<Omit<SafetensorsSummary, 'kind' | 'path'>> {
  const reader = await SafetensorsReader.open(file);
  try {
    const tensors = [...reader.tensors.values()]
      .sort((a, b) => a.fileOffset - b.fileOffset)
      .map((t) => ({ name: t.name, type: t.dtype, shape: [...t.shape], bytes: t.byteLength }));
    const metadata = Object.entries(reader.metadata).map(([key, value]) => ({ key, value }));
    return { format: 'safetensors', fileBytes: reader.fileBytes, tensors, metadata };
  } finally {
    await reader.close();
  }
}

/** A drafter directory (Apple's layout: config.json + model.safetensors) or a .safetensors file; undefined for other
 *  files (the native inspector reads those). */
export async function inspectSafetensors(path: string): Promise<SafetensorsSummary | undefined> {
  const info = await stat(path).catch(() => undefined);
  if (info?.isDirectory()) {
    const configFile = join(path, 'config.json');
    const weights = join(path, 'model.safetensors');
    const [c, w] = await Promise.all([stat(configFile).catch(() => undefined), stat(weights).catch(() => undefined)]);
    if (!c || !w) {
      throw codedError(ErrorCodes.INVALID_ARGUMENT, `${path}: a directory, but not a drafter (config.json + model.safetensors)`);
    }
    const drafter = readDrafterConfig(path);  // validated natively; the JSON below is only shown
    const json: unknown = JSON.parse(await readFile(configFile, 'utf8'));
    const file = await readSafetensors(weights);
    const parameters = file.tensors.reduce((n, t) => n + t.shape.reduce((a, b) => a * b, 1), 0);
    return { path, kind: 'drafter', ...file, config: { file: configFile, json: json as Record<string, unknown>, drafter, parameters } };
  }
  if (!path.endsWith('.safetensors')) return undefined;
  return { path, kind: 'safetensors', ...(await readSafetensors(path)) };
}

export function formatSafetensorsSummary(s: SafetensorsSummary, options: { metadata?: boolean } = {}): string {
  const lines: string[] = [];
  if (s.config) {
    const d = s.config.drafter;
    lines.push(`${s.path}: drafter (Apple's recurrent drafter layout), ${bytes(s.fileBytes)} of weights`);
    lines.push('config:');
    lines.push(`  vocab ${d.vocabSize}, hidden ${d.hiddenSize}, exit_dim ${d.exitDim}${d.exitDim !== 2 * d.hiddenSize ? ' (input_proj)' : ''}, ` +
      `${d.numDraftLayers} residual block(s), rnn ${d.rnn}`);
    lines.push(`  ${s.config.parameters} parameters; config.json: ${JSON.stringify(s.config.json)}`);
  } else {
    lines.push(`${s.path}: safetensors, ${bytes(s.fileBytes)} (${s.fileBytes} bytes)`);
  }
  lines.push(...formatTensors(s.tensors));
  if (s.metadata.length > 0) {
    if (options.metadata) {
      lines.push(`metadata: ${s.metadata.length} keys`);
      for (const m of s.metadata) lines.push(`  ${m.key} = ${m.value}`);
    } else {
      lines.push(`metadata: ${s.metadata.map((m) => m.key).join(', ')} (--metadata prints the values)`);
    }
  }
  return lines.join('\n');
}

export function formatSummary(s: ModelFileSummary, options: { metadata?: boolean } = {}): string {
  const lines: string[] = [];
  const version = s.version ? ` v${s.version}` : '';
  lines.push(`${s.path}: ${s.kind}, ${s.format}${version}, ${bytes(s.fileBytes)} (${s.fileBytes} bytes)`);
  if (s.architecture) lines.push(`architecture: ${s.architecture}`);
  if (s.format === 'gguf')
    lines.push(`tokenizer model: ${s.tokenizerModel ?? '(none)'}${s.tokenizerPre ? `, pre-tokenizer ${s.tokenizerPre}` : ''}; ` +
      `chat template: ${s.chatTemplate ? 'yes' : 'no'}`);
  if (s.kind === 'model') lines.push(s.runnable ? 'runs: yes' : `runs: no: ${s.unsupported ?? 'not a model'}`);
  else if (s.unsupported) lines.push(`not supported by redrafter: ${s.unsupported}`);
  if (s.config) {
    const c = s.config;
    lines.push('config:');
    lines.push(`  dim ${c.dim}, hidden ${c.hiddenDim}, layers ${c.nLayers}, heads ${c.nHeads} (kv ${c.nKvHeads}, head size ${c.headDim})`);
    lines.push(`  vocab ${c.vocabSize}, context ${c.contextLength}, rms eps ${Number(c.normEps.toPrecision(6))}, rope theta ${c.ropeTheta}`);
    lines.push(`  classifier ${c.tiedClassifier ? 'tied to the token embedding' : 'separate (untied)'}`);
  }
  lines.push(...formatTensors(s.tensors));
  if (s.tokenizer) {
    const t = s.tokenizer;
    const k = t.tokenTypes;
    lines.push(`tokenizer: ${t.format}, ${t.vocabSize} tokens (${k.normal} normal, ${k.byte} byte, ${k.control} control, ${k.unknown} unknown${k.other ? `, ${k.other} other` : ''})`);
    lines.push(`  bos ${t.bos}, eos ${t.eos}, unk ${t.unk}, longest token ${t.maxTokenLength} bytes, add bos ${t.addBos}, dummy prefix ${t.addSpacePrefix}`);
  }
  if (options.metadata && s.metadata.length > 0) {
    lines.push(`metadata: ${s.metadata.length} keys`);
    for (const m of s.metadata) lines.push(`  ${m.key} (${m.type}) = ${m.value}`);
  }
  return lines.join('\n');
}

export function register(program: Command): void {
  program
    .command('inspect')
    .description("print what a file holds: a model's config, tensors and tokenizer (llama2.c .bin, GGUF), a tokenizer.bin, " +
      'a drafter directory (config.json + model.safetensors) or a .safetensors file')
    .argument('<file>', 'model, tokenizer or .safetensors file, or drafter directory')
    .option('--json', 'print the summary as JSON')
    .option('--metadata', 'also list metadata keys and values (GGUF, safetensors __metadata__)')
    .action(async (file: string, opts: { json?: boolean; metadata?: boolean }) => {
      const safetensors = await inspectSafetensors(file);
      const summary = safetensors ?? (await inspectModelFile(file));
      const text = safetensors ? formatSafetensorsSummary(safetensors, opts) : formatSummary(summary as ModelFileSummary, opts);
      process.stdout.write(opts.json ? `${JSON.stringify(summary, null, 2)}\n` : `${text}\n`);
    });
}
