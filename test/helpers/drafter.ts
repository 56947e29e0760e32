// The drafter the generation tests use: the project's trained stories260K drafter (models/stories260K-drafter);
// where it is missing, a drafter with seeded random weights in Apple's layout (drafts mostly rejected; the
// lossless and exact-sampling guarantees hold for any drafter, the acceptance checks need the trained one).
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeSafetensors } from '../../lib/safetensors.js';
import { repoRoot } from './fixtures.js';

export const stories260KDrafterDir = join(repoRoot, 'models', 'stories260K-drafter');

let random: string | undefined;

export function trainedDrafterPresent(): boolean {
  return existsSync(join(stories260KDrafterDir, 'config.json'));
}

export async function stories260KDrafter(): Promise<string> {
  if (trainedDrafterPresent()) return stories260KDrafterDir;
  if (random) return random;
  const dir = mkdtempSync(join(tmpdir(), 'redrafter-drafter-'));
  const hidden = 64, vocab = 512, exit = 128;
  writeFileSync(join(dir, 'config.json'), JSON.stringify({
    model_type: 'recurrent_drafting_drafter', vocab_size: vocab, hidden_size: hidden, exit_dim: exit,
    num_draft_layers: 1, rnn: true,
  }));
  let state = 12345;
  const rand = (n: number, scale: number) => {
    const a = new Float32Array(n);
    for (let i = 0; i < n; ++i) {
      state = (state * 1103515245 + 12345) >>> 0;
      a[i] = ((state / 2 ** 32) * 2 - 1) * scale;
    }
    return a;
  };
  const t = (name: string, shape: number[], scale = 0.3) =>
    ({ name, dtype: 'F32' as const, shape, data: rand(shape.reduce((x, y) => x * y, 1), scale) });
  await writeSafetensors(join(dir, 'model.safetensors'), [
    t('lm_head.0.linear.weight', [exit, exit]),
    t('lm_head.0.linear.bias', [exit]),
    t('lm_head.1.weight', [vocab, exit]),
    t('rnn_u.weight', [hidden, hidden]),
    t('rnn_u.bias', [hidden]),
    t('rnn_w.weight', [hidden, hidden]),
  ]);
  random = dir;
  return dir;
}
