// Where the real model fixtures are: $REDRAFTER_MODELS, else ../shared/models beside the repository. Benchmarks and
// tests (test/helpers/fixtures.ts) both use these paths.
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const modelsDir = process.env.REDRAFTER_MODELS ?? resolve(repoRoot, '..', 'shared', 'models');

export const fixtures = {
  stories260K: join(modelsDir, 'stories260K.bin'),
  stories260KQ80: join(modelsDir, 'stories260K_q80.bin'),
  tok512: join(modelsDir, 'tok512.bin'),
};
