// The child process of fuzzInChild (file-fuzz.ts): argv[2] is its FuzzOptions as JSON; it reports on fd 3.
import { runChild, type FuzzOptions } from './file-fuzz.js';

await runChild(JSON.parse(process.argv[2]!) as FuzzOptions);
