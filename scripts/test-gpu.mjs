// npm run test:gpu: a thin wrapper over scripts/test-gpu.sh (GPU machines may have no node; run the .sh there).
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const script = join(dirname(fileURLToPath(import.meta.url)), 'test-gpu.sh');
const result = spawnSync('bash', [script, ...process.argv.slice(2)], { stdio: 'inherit' });
if (result.error) {
  console.error(`test:gpu: cannot run ${script}: ${result.error.message}`);
  process.exit(1);
}
process.exit(result.status ?? 1);
