// Lists the C++ sources of the CPU-only addon for binding.gyp (the same globs as CMakeLists.txt).
import { readdirSync } from 'node:fs';

const dirs = ['native/core', 'native/cpu', 'native/addon'];
const files = dirs.flatMap((d) => {
  try {
    return readdirSync(d).filter((f) => f.endsWith('.cpp')).sort().map((f) => `${d}/${f}`);
  } catch {
    return [];
  }
});
process.stdout.write(files.join(' '));
