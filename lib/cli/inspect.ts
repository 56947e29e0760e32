// `redrafter inspect FILE`: a model's config, tensors (name, type, shape, size) and tokenizer; also tokenizer files.
import type { Command } from 'commander';
import { inspectModelFile, type ModelFileSummary } from '../model-file.js';

function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 ** 3) return `${(n / 1024 ** 2).toFixed(1)} MiB`;
  return `${(n / 1024 ** 3).toFixed(2)} GiB`;
}

export function formatSummary(s: ModelFileSummary, options: { metadata?: boolean } = {}): string {
  const lines: string[] = [];
  const version = s.version ? ` v${s.version}` : '';
  lines.push(`${s.path}: ${s.kind}, ${s.format}${version}, ${bytes(s.fileBytes)} (${s.fileBytes} bytes)`);
  if (s.unsupported) lines.push(`not supported by redrafter: ${s.unsupported}`);
  if (s.config) {
    const c = s.config;
    lines.push('config:');
    lines.push(`  dim ${c.dim}, hidden ${c.hiddenDim}, layers ${c.nLayers}, heads ${c.nHeads} (kv ${c.nKvHeads}, head size ${c.headDim})`);
    lines.push(`  vocab ${c.vocabSize}, context ${c.contextLength}, rms eps ${Number(c.normEps.toPrecision(6))}, rope theta ${c.ropeTheta}`);
    lines.push(`  classifier ${c.tiedClassifier ? 'tied to the token embedding' : 'separate (untied)'}`);
  }
  if (s.tensors.length > 0) {
    const byType = new Map<string, { count: number; bytes: number }>();
    let total = 0;
    for (const t of s.tensors) {
      const e = byType.get(t.type) ?? { count: 0, bytes: 0 };
      e.count += 1;
      e.bytes += t.bytes;
      byType.set(t.type, e);
      total += t.bytes;
    }
    const types = [...byType].map(([type, e]) => `${e.count} ${type} (${bytes(e.bytes)})`).join(', ');
    lines.push(`tensors: ${s.tensors.length}, ${bytes(total)}: ${types}`);
    const width = Math.max(...s.tensors.map((t) => t.name.length));
    for (const t of s.tensors)
      lines.push(`  ${t.name.padEnd(width)}  ${t.type.padEnd(8)} [${t.shape.join(', ')}]  ${bytes(t.bytes)}`);
  }
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
    .description("print a model's config, tensors and tokenizer (llama2.c .bin, GGUF, tokenizer.bin)")
    .argument('<file>', 'model or tokenizer file')
    .option('--json', 'print the summary as JSON')
    .option('--metadata', 'also list GGUF metadata keys and values')
    .action(async (file: string, opts: { json?: boolean; metadata?: boolean }) => {
      const summary = await inspectModelFile(file);
      process.stdout.write(opts.json ? `${JSON.stringify(summary, null, 2)}\n` : `${formatSummary(summary, opts)}\n`);
    });
}
