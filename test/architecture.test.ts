// The house rules of docs/ARCHITECTURE.md, checked on the source tree: every `#include "..."` in native/, plugins/,
// test/cpp/ and bench/ and every relative import in lib/, bench/ and test/ goes along an allowed arrow; product code
// never includes test code; the folders' include graph and the modules' import graph have no cycles. A failure names
// the file and line of each offending include or import.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = normalize(join(dirname(fileURLToPath(import.meta.url)), '..'));

// ---- the rooms and the allowed arrows (the same table as docs/ARCHITECTURE.md) -------------------------------------

/** C++ rooms, by folder (the longest matching prefix wins). */
const cppRooms: [prefix: string, room: string][] = [
  ['native/core/', 'core'],
  ['native/model/', 'model'],
  ['native/tokenizer/', 'tokenizer'],
  ['native/tools/', 'tools'],
  ['native/cpu/', 'cpu'],
  ['native/cuda/', 'cuda'],
  ['native/trtllm/', 'trtllm'],
  ['native/addon/', 'addon'],
  ['plugins/', 'plugins'],
  ['bench/', 'bench'],
  ['test/', 'test'],
];

/** room -> the rooms it may include (besides itself). */
export const cppArrows: Record<string, string[]> = {
  core: [],
  model: ['core'],
  tokenizer: ['core', 'model'],
  tools: ['core', 'model', 'tokenizer'],
  cpu: ['core', 'model'],
  cuda: ['core', 'model'],
  trtllm: ['core'],
  plugins: ['core', 'cuda'],
  addon: ['core', 'model', 'tokenizer', 'tools', 'cpu', 'cuda', 'trtllm'],
  bench: ['core', 'model', 'tokenizer', 'tools', 'cpu', 'cuda', 'trtllm', 'addon'],
  test: ['core', 'model', 'tokenizer', 'tools', 'cpu', 'cuda', 'trtllm', 'addon', 'plugins', 'bench'],
};

/** Shared test support inside a product room (`<room>/testing/`): included only by tests, benchmarks and these
 *  check programs. */
const testingIncluders = ['native/cuda/gpu_check.cu'];

/** TypeScript rooms, by folder. */
const tsRooms: [prefix: string, room: string][] = [
  ['lib/cli/', 'cli'],
  ['lib/', 'lib'],
  ['bench/', 'bench'],
  ['test/', 'test'],
];

export const tsArrows: Record<string, string[]> = {
  lib: [],
  cli: ['lib'],
  bench: ['lib'],
  test: ['lib', 'cli', 'bench'],
};

// ---- listing ---------------------------------------------------------------------------------------------------------

function files(dir: string, exts: string[]): string[] {
  const abs = join(root, dir);
  if (!existsSync(abs)) return [];
  return readdirSync(abs, { withFileTypes: true })
    .sort((a, b) => a.name.localeCompare(b.name))
    .flatMap((e) => {
      const p = `${dir}/${e.name}`;
      if (e.isDirectory()) return e.name === 'node_modules' || e.name.startsWith('build') ? [] : files(p, exts);
      return exts.some((x) => e.name.endsWith(x)) ? [p] : [];
    });
}

function roomOf(path: string, rooms: [string, string][]): string | undefined {
  let best: [string, string] | undefined;
  for (const r of rooms) if (path.startsWith(r[0]) && (!best || r[0].length > best[0].length)) best = r;
  return best?.[1];
}

export interface Edge {
  from: string; // repository-relative file
  line: number;
  to: string; // repository-relative file
  text: string; // the include or import as written
}

const cppExts = ['.h', '.hpp', '.cuh', '.cpp', '.cc', '.cu'];

/** Where `#include "name"` in `file` resolves: beside the file, then the include folders the builds pass (-Inative,
 *  -Inative/cuda, -Iplugins, -Itest/cpp). Undefined for names outside the repository (SDK headers). */
function resolveInclude(file: string, name: string): string | undefined {
  for (const dir of [dirname(file), 'native', 'native/cuda', 'plugins', 'test/cpp']) {
    const p = normalize(join(dir, name));
    if (!p.startsWith('..') && existsSync(join(root, p))) return p.split('\\').join('/');
  }
  return undefined;
}

export function cppEdges(): Edge[] {
  const sources = ['native', 'plugins', 'test/cpp', 'bench'].flatMap((d) => files(d, cppExts));
  const edges: Edge[] = [];
  for (const file of sources) {
    readFileSync(join(root, file), 'utf8')
      .split('\n')
      .forEach((text, i) => {
        const m = /^\s*#\s*include\s+"([^"]+)"/.exec(text);
        if (!m) return;
        const to = resolveInclude(file, m[1]);
        if (to) edges.push({ from: file, line: i + 1, to, text: text.trim() });
      });
  }
  return edges;
}

const tsExts = ['.ts', '.mts'];

function resolveImport(file: string, spec: string): string | undefined {
  if (!spec.startsWith('.')) return undefined;
  const base = normalize(join(dirname(file), spec)).split('\\').join('/');
  for (const p of [base, base.replace(/\.m?js$/, '.ts'), `${base}.ts`, `${base}/index.ts`])
    if (existsSync(join(root, p)) && tsExts.some((x) => p.endsWith(x))) return p;
  return undefined;
}

export function tsEdges(): Edge[] {
  const sources = ['lib', 'bench', 'test'].flatMap((d) => files(d, tsExts));
  const edges: Edge[] = [];
  const patterns = [/\bfrom\s+['"]([^'"]+)['"]/g, /\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)/g, /^\s*import\s+['"]([^'"]+)['"]/g];
  for (const file of sources) {
    readFileSync(join(root, file), 'utf8')
      .split('\n')
      .forEach((text, i) => {
        for (const re of patterns) {
          for (const m of text.matchAll(re)) {
            const to = resolveImport(file, m[1]);
            if (to) edges.push({ from: file, line: i + 1, to, text: text.trim() });
          }
        }
      });
  }
  return edges;
}

// ---- the rules -------------------------------------------------------------------------------------------------------

const where = (e: Edge) => `${e.from}:${e.line}: ${e.text}`;

export function forbiddenArrows(edges: Edge[], rooms: [string, string][], arrows: Record<string, string[]>): string[] {
  const out: string[] = [];
  for (const e of edges) {
    const a = roomOf(e.from, rooms);
    const b = roomOf(e.to, rooms);
    if (!a || !b) {
      if (a && !b && a !== 'test' && a !== 'bench') out.push(`${where(e)}  (${a} -> ${e.to}, outside every room)`);
      continue;
    }
    if (a !== b && !arrows[a]?.includes(b)) out.push(`${where(e)}  (${a} -> ${b} is not an allowed arrow)`);
  }
  return out;
}

/** Product code (not test/, not bench/) including test code, or a room's testing/ support outside the check programs. */
export function productIncludesTests(edges: Edge[]): string[] {
  const out: string[] = [];
  for (const e of edges) {
    if (e.from.startsWith('test/') || e.from.startsWith('bench/')) continue;
    if (e.to.startsWith('test/')) out.push(`${where(e)}  (product code includes test code)`);
    else if (e.to.includes('/testing/') && !e.from.includes('/testing/') && !testingIncluders.includes(e.from))
      out.push(`${where(e)}  (product code includes test support ${e.to})`);
  }
  return out;
}

/** Strongly connected components with more than one node (Tarjan), each with the edges that close it. */
export function cycles(edges: { from: string; to: string; at: string }[]): string[] {
  const graph = new Map<string, Set<string>>();
  for (const e of edges) {
    if (e.from === e.to) continue;
    if (!graph.has(e.from)) graph.set(e.from, new Set());
    if (!graph.has(e.to)) graph.set(e.to, new Set());
    graph.get(e.from)!.add(e.to);
  }
  let index = 0;
  const idx = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const on = new Set<string>();
  const comps: string[][] = [];
  const visit = (v: string) => {
    idx.set(v, index);
    low.set(v, index++);
    stack.push(v);
    on.add(v);
    for (const w of graph.get(v)!) {
      if (!idx.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (on.has(w)) low.set(v, Math.min(low.get(v)!, idx.get(w)!));
    }
    if (low.get(v) === idx.get(v)) {
      const c: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        on.delete(w);
        c.push(w);
      } while (w !== v);
      if (c.length > 1) comps.push(c.sort());
    }
  };
  for (const v of [...graph.keys()].sort()) if (!idx.has(v)) visit(v);
  return comps.map((c) => {
    const inside = new Set(c);
    const closing = edges.filter((e) => e.from !== e.to && inside.has(e.from) && inside.has(e.to)).map((e) => e.at);
    return `cycle between ${c.join(', ')}:\n      ${[...new Set(closing)].join('\n      ')}`;
  });
}

const report = (problems: string[]) => (problems.length ? `\n  ${problems.join('\n  ')}\n` : '');

// ---- the tests -------------------------------------------------------------------------------------------------------

test('C++: every #include goes along an allowed arrow between rooms', () => {
  const problems = forbiddenArrows(cppEdges(), cppRooms, cppArrows);
  assert.equal(problems.length, 0, report(problems));
});

test('C++: product code (native/, plugins/) never includes test code', () => {
  const problems = productIncludesTests(cppEdges());
  assert.equal(problems.length, 0, report(problems));
});

test('C++: no cycles between folders', () => {
  const edges = cppEdges()
    .filter((e) => !e.from.startsWith('test/'))
    .map((e) => ({ from: dirname(e.from), to: dirname(e.to), at: where(e) }));
  const problems = cycles(edges);
  assert.equal(problems.length, 0, report(problems));
});

test('TypeScript: every import goes along an allowed arrow (the library imports neither CLI, benchmarks nor tests)', () => {
  const problems = forbiddenArrows(tsEdges(), tsRooms, tsArrows);
  assert.equal(problems.length, 0, report(problems));
});

test('TypeScript: no import cycles between modules', () => {
  const edges = tsEdges()
    .filter((e) => !e.text.startsWith('import type') && !/^export type\b/.test(e.text))
    .map((e) => ({ from: e.from, to: e.to, at: where(e) }));
  const problems = cycles(edges);
  assert.equal(problems.length, 0, report(problems));
});

test('the checker sees what it checks: includes and imports are found and resolved', () => {
  const cpp = cppEdges();
  const ts = tsEdges();
  // a sample of edges that must exist whatever the layout: the addon includes core's error header, the library's
  // entry imports its engine
  assert.ok(cpp.some((e) => e.from.startsWith('native/addon/') && e.to === 'native/core/error.h'), 'no addon -> core/error.h');
  assert.ok(ts.some((e) => e.from === 'lib/index.ts' && e.to === 'lib/engine.ts'), 'no lib/index.ts -> lib/engine.ts');
  // and the rules fire on a forbidden arrow, a test include and a cycle
  const fake = (from: string, to: string): Edge => ({ from, line: 1, to, text: `#include "${to}"` });
  assert.equal(forbiddenArrows([fake('native/core/a.h', 'native/cpu/b.h')], cppRooms, cppArrows).length, 1);
  assert.equal(forbiddenArrows([fake('native/cuda/a.cu', 'native/cpu/b.h')], cppRooms, cppArrows).length, 1);
  assert.equal(productIncludesTests([fake('native/cuda/a.cu', 'test/cpp/b.h')]).length, 1);
  assert.equal(cycles([
    { from: 'a', to: 'b', at: 'a:1' },
    { from: 'b', to: 'a', at: 'b:1' },
  ]).length, 1);
  assert.ok(relative(root, join(root, 'lib')) === 'lib');
});
