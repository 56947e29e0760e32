// The drafter the generation tests use: the project's trained stories260K drafter (models/stories260K-drafter)
// when it is there; else one trained here with the project's own trainer for a few seconds (cached under the OS
// temp folder for later runs). The lossless and exact-sampling guarantees hold for any drafter; a trained one
// makes the tests exercise long accepted paths.
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { saveDrafter } from '../../lib/drafter/drafter.js';
import { startDrafterTraining } from '../../lib/drafter/training.js';
import { Model } from '../../lib/model.js';
import { fixtures, repoRoot } from './fixtures.js';

export const stories260KDrafterDir = join(repoRoot, 'models', 'stories260K-drafter');

// The quick drafter: its options are part of its cache key.
const quick = { tokens: 24000, steps: 250, batchSize: 128, seed: 11, numDraftLayers: 1, evalTexts: 2 };
const quickDir = join(tmpdir(), `redrafter-test-drafter-${Object.values(quick).join('-')}`);

let pending: Promise<string> | undefined;

export function stories260KDrafter(): Promise<string> {
  if (existsSync(join(stories260KDrafterDir, 'config.json'))) return Promise.resolve(stories260KDrafterDir);
  if (existsSync(join(quickDir, 'model.safetensors'))) return Promise.resolve(quickDir);
  pending ??= (async () => {
    const model = await Model.load(fixtures.stories260K, { threads: 2 });
    try {
      const run = startDrafterTraining(model, { tokenizer: fixtures.tok512, threads: 2, ...quick });
      const result = await run.result;
      if (!result.config || !result.tensors) throw new Error('drafter training produced no drafter');
      await saveDrafter(quickDir, result.config, result.tensors);
      return quickDir;
    } finally {
      model.dispose();
    }
  })();
  return pending;
}
