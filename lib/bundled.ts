// Files the package ships besides its code (package.json "files"), as absolute paths that work from a checkout
// (lib/ under tsx) and from an installed package (dist/).
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The package's root folder. */
export const packageRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** The drafter this project trained for stories260K (models/stories260K-drafter; its README records the command). */
export const stories260KDrafterDir = join(packageRoot, 'models', 'stories260K-drafter');
