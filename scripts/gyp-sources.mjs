// Lists the C++ sources of the CPU-only addon for binding.gyp (the same globs as CMakeLists.txt).
import { readdirSync } from 'node:fs';

function cppFiles(dir, recursive) {
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return [];
  }
  return entries
    .sort((a, b) => a.name.localeCompare(b.name))
    .flatMap((e) => {
      const p = `${dir}/${e.name}`;
      if (e.isDirectory()) return recursive ? cppFiles(p, true) : [];
      return e.name.endsWith('.cpp') ? [p] : [];
    });
}

// The rooms the package addon links (CMakeLists.txt: redrafter_core, _model, _tokenizer, _tools, _cpu) and the addon.
const files = [...cppFiles('native/core', true), ...cppFiles('native/model', true), ...cppFiles('native/tokenizer', true), ...cppFiles('native/tools', true), ...cppFiles('native/cpu', true), ...cppFiles('native/addon', false)];
process.stdout.write(files.join(' '));
