// `npm start` (redrafter demo) runs the core operators on its worked example: check what it prints.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { renderOpsDemo } from '../lib/cli/ops-demo.ts';

test('the demo packs the beams, verifies greedily and plans the KV commit', () => {
  const text = renderOpsDemo();
  assert.match(text, /Packed tree: 16 beam tokens -> 10 after deduplicating shared prefixes/);
  assert.match(text, /Greedy verification: beam 1 accepted 3 drafted token\(s\) \[cat sat down\], then the LLM's own "\."/);
  assert.match(text, /keep packed path \[0, 1, 2, 4\] -> slots 12\.\.15\n  move slot 16 -> 15\n  new cache length: 16/);
  // the mask row of the second "on" (packed 9) sees the root, dog, sat and itself
  assert.match(text, / 9 {2}on {4}# \. \. \. \. \. \. # # #/);
  assert.match(text, /seed 1: accepted \[/);
});
