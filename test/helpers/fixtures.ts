// The real model fixtures (paths: bench/fixtures.ts, shared with the benchmarks) and what the tests know of them.
import { existsSync } from 'node:fs';
import { fixtures } from '../../bench/fixtures.js';

export { fixtures, modelsDir, repoRoot } from '../../bench/fixtures.js';

/** The known-good greedy token ids from BOS (../shared/models/README.md). */
export const knownGoodFirstTokens = [403, 407, 261, 378, 432, 383, 286, 261, 376, 298];

export function requireFixtures(): void {
  for (const [name, path] of Object.entries(fixtures)) {
    if (!existsSync(path)) throw new Error(`model fixture ${name} not found at ${path} (set REDRAFTER_MODELS)`);
  }
}
