// The real model fixtures (paths: bench/fixtures.ts, shared with the benchmarks) and what the tests know of them.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fixtures, modelsDir } from '../../bench/fixtures.js';

export { fixtures, modelsDir, repoRoot } from '../../bench/fixtures.js';

/** The known-good greedy token ids from BOS (../shared/models/README.md). */
export const knownGoodFirstTokens = [403, 407, 261, 378, 432, 383, 286, 261, 376, 298];

export function requireFixtures(): void {
  for (const [name, path] of Object.entries(fixtures)) {
    if (!existsSync(path)) throw new Error(`model fixture ${name} not found at ${path} (set REDRAFTER_MODELS)`);
  }
}

/** The known-good greedy story from BOS, 256 steps: the text block under "Known-good output" in the fixtures'
 *  README (../shared/models/README.md), its one home. */
export function knownGoodStory(): string {
  const readme = readFileSync(join(modelsDir, 'README.md'), 'utf8');
  const block = /## Known-good output[\s\S]*?```\n([\s\S]*?)\n```/.exec(readme);
  if (!block) throw new Error(`no "Known-good output" block in ${join(modelsDir, 'README.md')}`);
  return block[1]!;
}
