// Load time and resident memory of Model.load (with the packed layer matrices of model/weight_packing.h, or
// whatever the addon in use does), then after one forward of one token (when a row-major model's mapped pages are
// touched). One process per measurement, so run it fresh each time:
//   node --import tsx bench/load-memory.ts MODEL [--threads N]
// ($REDRAFTER_ADDON picks another build of the addon, e.g. main's, for before/after.)
import { Command } from 'commander';
import { existsSync, readFileSync } from 'node:fs';
import { Model } from '../lib/model.js';

const program = new Command()
  .argument('<model>')
  .option('--threads <n>', 'threads', '2')
  .parse();
const mb = (bytes: number) => (bytes / 2 ** 20).toFixed(0);
const before = process.memoryUsage().rss;
const t0 = performance.now();
const model = await Model.load(program.args[0], { threads: Number(program.opts().threads) });
const loadMs = performance.now() - t0;
const loaded = process.memoryUsage().rss;
const context = model.createContext({ capacity: 16 });
const t1 = performance.now();
await context.forward([1]);
const forwardMs = performance.now() - t1;
const after = process.memoryUsage().rss;
// peak resident memory (Linux): whether packing ever held both copies
const hwm = existsSync('/proc/self/status') ? /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8')) : null;
console.log(`load ${loadMs.toFixed(0)} ms, RSS before ${mb(before)} MB, after load ${mb(loaded)} MB, ` +
  `after one forward ${mb(after)} MB (first forward ${forwardMs.toFixed(0)} ms)` +
  (hwm ? `, peak ${mb(Number(hwm[1]) * 1024)} MB` : ''));
context.dispose();
model.dispose();
