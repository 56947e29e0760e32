// Where the real model fixtures are: $REDRAFTER_MODELS, else ../shared/models beside the repository.
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const modelsDir = process.env.REDRAFTER_MODELS ?? resolve(repoRoot, '..', 'shared', 'models');

export const fixtures = {
  stories260K: join(modelsDir, 'stories260K.bin'),
  stories260KQ80: join(modelsDir, 'stories260K_q80.bin'),
  tok512: join(modelsDir, 'tok512.bin'),
};

/** The known-good greedy token ids from BOS (../shared/models/README.md). */
export const knownGoodFirstTokens = [403, 407, 261, 378, 432, 383, 286, 261, 376, 298];

export function requireFixtures(): void {
  for (const [name, path] of Object.entries(fixtures)) {
    if (!existsSync(path)) throw new Error(`model fixture ${name} not found at ${path} (set REDRAFTER_MODELS)`);
  }
}
